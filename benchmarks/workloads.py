"""The workloads W1-W5 and S3's tanh chain: they ship in the package, as ``symnn.bench.workloads``."""

from symnn.bench.workloads import WORKLOADS, tanh_chain, w1, w2, w3, w4, w5

__all__ = ["WORKLOADS", "tanh_chain", "w1", "w2", "w3", "w4", "w5"]
