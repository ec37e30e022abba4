"""Benchmark T1 (../shared/BENCHMARKS.md): SGD steps per second, MLP 64-128-10 (tanh, softmax
cross-entropy) on the 8x8 digits, batch 64, float64: symnn's Trainer against PyTorch eager.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m symnn.train.bench

Both runs draw the same minibatches (a seeded permutation per epoch) and apply plain SGD with the
same learning rate; PyTorch is optional (skipped when it is not installed). Reports the median of
several timed blocks; benchmarks report, tests never assert a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import numpy as np

from ..layers import MLP
from ..trace import trace
from .data import load_digits, one_hot
from .sgd import SGDConfig, Trainer


def _blocks(step, steps: int, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        out.append(steps / (time.perf_counter() - t))
    return out


def symnn_rate(x: np.ndarray, y: np.ndarray, batch: int, steps: int, repeats: int) -> dict:
    graph = trace(MLP((64, 128, 10), "tanh"), "softmax_cross_entropy", {"x": (batch, 64), "y": (batch, 10)})
    t = time.perf_counter()
    trainer = Trainer(graph, {"x": x, "y": y}, SGDConfig(lr=0.1, steps=10**9, batch=batch))
    setup = time.perf_counter() - t
    for _ in range(50):  # warm up
        trainer.sgd_step()
    rates = _blocks(trainer.sgd_step, steps, repeats)
    args, out = trainer._args, trainer._out
    kernel = _blocks(lambda: trainer.kernel.run(args, out), steps, repeats)
    return {"steps_per_s": statistics.median(rates), "kernel_calls_per_s": statistics.median(kernel), "setup_s": setup}


def torch_rate(x: np.ndarray, labels: np.ndarray, batch: int, steps: int, repeats: int) -> dict | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Tanh(), torch.nn.Linear(128, 10)).double()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    tx, ty = torch.from_numpy(x), torch.from_numpy(labels)
    rng = np.random.default_rng(0)
    order, pos = [np.empty(0, dtype=np.int64)], [0]

    def step() -> None:
        if pos[0] + batch > order[0].size:
            order[0], pos[0] = rng.permutation(len(x)), 0
        idx = torch.from_numpy(order[0][pos[0] : pos[0] + batch])
        pos[0] += batch
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(tx[idx]), ty[idx])
        loss.backward()
        opt.step()

    for _ in range(50):
        step()
    return {"steps_per_s": statistics.median(_blocks(step, steps, repeats)), "version": torch.__version__}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m symnn.train.bench", description="benchmark T1")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args(argv)
    x, labels = load_digits(scale=True)
    y = one_hot(labels, 10)
    result: dict[str, Any] = {
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "symnn": symnn_rate(x, y, args.batch, args.steps, args.repeats),
        "torch_eager": torch_rate(x, labels, args.batch, args.steps, args.repeats),
    }
    if result["torch_eager"]:
        result["ratio"] = result["symnn"]["steps_per_s"] / result["torch_eager"]["steps_per_s"]
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
