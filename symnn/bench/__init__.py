"""The benchmarks of BENCHMARKS.md, shipped with symnn: ``symnn bench`` runs them from an installed package.

Modules, lowest first: ``workloads`` (W1-W5 as graphs), ``reference`` (hand-written NumPy backprop,
the value reference), ``peers`` (NumPy, Numba, PyTorch, JAX, PyTensor; the optional ones imported
only when they run), ``threads`` (BLAS thread pinning), ``gradients`` (one workload measured),
``training`` (T1), ``symbolic`` (S1, S3, S4), ``table`` and ``run`` (one run, as data and as text).
The layer: the core, codegen, the executor and train; only the command line imports it.
"""
