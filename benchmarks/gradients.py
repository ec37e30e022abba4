"""Gradient benchmarks W1-W5 of BENCHMARKS.md: symnn's generated kernel and executor next to peers.

Run: ``python benchmarks/gradients.py [--quick] [--json] [--workloads W1 W3] [--no-symbolic]``
(or ``symnn bench``). One call = loss and the gradient of every parameter for one minibatch.

Implementations: ``symnn kernel`` (``compile(grad(g))``, preallocated outputs through ``out=``),
``symnn executor`` (``Executor(g).grad``, the numeric oracle), and the peers: hand-written NumPy
backprop (always; also the value reference: symnn's loss and gradients must agree with it to
1e-10 relative before anything is timed), PyTorch eager, JAX ``jit(value_and_grad)`` and
PyTensor, each only when installed. BLAS runs on one thread for the whole run (environment
variables set before NumPy loads, and threadpoolctl when installed). The kernel's compile time is
measured in fresh processes: cold (empty ``SYMNN_CACHE_DIR``) and cached (a second process with
that cache). W3 reports GFLOP/s (2 x multiply-adds / time) against a single-thread float64 GEMM
measured in the same run, counting the value-and-gradient graph's multiply-adds (``symnn.cost``).
``benchmarks/symbolic.py`` (S1, S3, S4) runs afterwards unless
``--no-symbolic``.
"""

from __future__ import annotations

import os
import sys

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS")
for _v in _THREAD_VARS:  # before numpy loads: BLAS reads these once
    os.environ[_v] = "1"
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from workloads import WORKLOADS  # noqa: E402

from symnn.codegen import compile  # noqa: E402
from symnn.cost import cost, gradient_ratio  # noqa: E402
from symnn.diff import grad  # noqa: E402
from symnn.executor import Executor  # noqa: E402

Params = dict[str, np.ndarray]
Step = Callable[[], object]


def blas_threads() -> str:
    """How BLAS is pinned, as reported."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        return "1 (threadpoolctl and " + "/".join(_THREAD_VARS[:3]) + "=1)"
    except ImportError:
        return "1 (" + "/".join(_THREAD_VARS[:3]) + "=1 before numpy import)"


# -- data ---------------------------------------------------------------------------------------------
def make_point(name: str, graph, seed: int = 0) -> Params:
    """Parameters ~ N(0, 1/fan_in), inputs ~ N(0, 1), one-hot labels for cross-entropy."""
    rng = np.random.default_rng(seed)
    out = {}
    for p, s in graph.params.items():
        fan_in = math.prod(s[1:]) if len(s) > 1 else s[0]
        out[p] = rng.standard_normal(s) / math.sqrt(fan_in)
    for n, s in graph.inputs.items():
        if n == "y" and name in ("W2", "W3", "W4"):
            out[n] = np.eye(s[1])[rng.integers(0, s[1], s[0])]
        else:
            out[n] = rng.standard_normal(s)
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


# -- hand-written NumPy backprop (the value reference) -------------------------------------------------
def _softmax_ce(o: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    m = o.max(axis=1, keepdims=True)
    e = np.exp(o - m)
    s = e.sum(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(s[:, 0])
    n = o.shape[0]
    loss = float(np.sum(lse - np.einsum("ij,ij->i", y, o)) / n)
    return loss, (e / s - y) / n


def numpy_mlp(act: str, loss: str, layers: int) -> Callable[[Params], tuple[float, Params]]:
    """MLP with weights W (out, in): h = act(h W^T + b); MSE (mean) or softmax cross-entropy (mean over rows)."""

    def f(p: Params) -> tuple[float, Params]:
        hs = [p["x"]]
        h = p["x"]
        names = [(f"{2 * i}.W", f"{2 * i}.b") for i in range(layers)]
        for i, (w, b) in enumerate(names):
            z = h @ p[w].T + p[b]
            if i < layers - 1:
                h = 1 / (1 + np.exp(-z)) if act == "sigmoid" else np.tanh(z) if act == "tanh" else np.maximum(z, 0)
                hs.append(h)
            else:
                h = z
        if loss == "mse":
            d = h - p["y"]
            value = float(np.sum(d * d) / d.size)
            dz = 2 * d / d.size
        else:
            value, dz = _softmax_ce(h, p["y"])
        g = {}
        for i in range(layers - 1, -1, -1):
            w, b = names[i]
            g[w] = dz.T @ hs[i]
            g[b] = dz.sum(axis=0)
            if i:
                dh = dz @ p[w]
                a = hs[i]
                dz = dh * (a * (1 - a)) if act == "sigmoid" else dh * (1 - a * a) if act == "tanh" else dh * (a > 0)
        return value, g

    return f


def numpy_w4(p: Params) -> tuple[float, Params]:
    """Conv 8x1x3x3 valid + bias (im2col), ReLU, flatten (C order), Linear 288->10, cross-entropy."""
    x = p["x"]
    n = x.shape[0]
    cols = np.lib.stride_tricks.sliding_window_view(x[:, 0], (3, 3), axis=(1, 2)).reshape(n * 36, 9)
    z = (cols @ p["0.W"].reshape(8, 9).T).reshape(n, 36, 8).transpose(0, 2, 1) + p["0.b"][:, None]
    h = np.maximum(z, 0).reshape(n, 288)
    o = h @ p["3.W"].T + p["3.b"]
    value, do = _softmax_ce(o, p["y"])
    dz = (do @ p["3.W"]).reshape(n, 8, 36) * (z > 0)
    dzc = dz.transpose(0, 2, 1).reshape(n * 36, 8)
    return value, {
        "3.W": do.T @ h,
        "3.b": do.sum(axis=0),
        "0.W": (dzc.T @ cols).reshape(8, 1, 3, 3),
        "0.b": dz.sum(axis=(0, 2)),
    }


def numpy_w5(p: Params) -> tuple[float, Params]:
    """Self-attention (x Wq, x Wk, x Wv; softmax(Q K^T / sqrt(d)) V), mean over the sequence, Linear, MSE."""
    x = p["x"]
    bsz, seq, d = x.shape
    xf = x.reshape(bsz * seq, d)
    q = (xf @ p["0.Wq"]).reshape(bsz, seq, d)
    k = (xf @ p["0.Wk"]).reshape(bsz, seq, d)
    v = (xf @ p["0.Wv"]).reshape(bsz, seq, d)
    scale = 1 / math.sqrt(d)
    s = np.matmul(q, k.transpose(0, 2, 1)) * scale
    s -= s.max(axis=2, keepdims=True)
    a = np.exp(s)
    a /= a.sum(axis=2, keepdims=True)
    att = np.matmul(a, v)
    pooled = att.mean(axis=1)
    o = pooled @ p["2.W"].T + p["2.b"]
    r = o - p["y"]
    value = float(np.sum(r * r) / r.size)
    do = 2 * r / r.size
    datt = np.broadcast_to((do @ p["2.W"])[:, None, :] / seq, att.shape)
    da = np.matmul(datt, v.transpose(0, 2, 1))
    dv = np.matmul(a.transpose(0, 2, 1), datt)
    ds = a * (da - np.sum(da * a, axis=2, keepdims=True)) * scale
    dq = np.matmul(ds, k)
    dk = np.matmul(ds.transpose(0, 2, 1), q)
    return value, {
        "2.W": do.T @ pooled,
        "2.b": do.sum(axis=0),
        "0.Wq": xf.T @ dq.reshape(-1, d),
        "0.Wk": xf.T @ dk.reshape(-1, d),
        "0.Wv": xf.T @ dv.reshape(-1, d),
    }


NUMPY = {
    "W1": numpy_mlp("sigmoid", "mse", 2),
    "W2": numpy_mlp("tanh", "ce", 2),
    "W3": numpy_mlp("relu", "ce", 3),
    "W4": numpy_w4,
    "W5": numpy_w5,
}


# -- peers written once against an array namespace (torch / jax.numpy) -----------------------------------
def _loss_fn(name: str, xp, ops: dict) -> Callable:
    """The workload's loss as a function of (params dict, x, y) in the array library ``xp``."""
    lse, relu, sigmoid, matmul = ops["lse"], ops["relu"], ops["sigmoid"], ops["matmul"]

    def ce(o, y):
        return xp.sum(lse(o) - xp.sum(y * o, 1)) / o.shape[0]

    def mse(o, y):
        r = o - y
        return xp.sum(r * r) / (r.shape[0] * r.shape[1])

    def mlp(act, loss, layers):
        def f(p, x, y):
            h = x
            for i in range(layers):
                h = matmul(h, p[f"{2 * i}.W"].T) + p[f"{2 * i}.b"]
                if i < layers - 1:
                    h = act(h)
            return loss(h, y)

        return f

    def w4(p, x, y):
        n = x.shape[0]
        z = ops["conv"](x, p["0.W"]) + p["0.b"].reshape(1, 8, 1, 1)
        h = relu(z).reshape(n, 288)
        return ce(matmul(h, p["3.W"].T) + p["3.b"], y)

    def w5(p, x, y):
        q, k, v = matmul(x, p["0.Wq"]), matmul(x, p["0.Wk"]), matmul(x, p["0.Wv"])
        s = matmul(q, xp.swapaxes(k, 1, 2)) / math.sqrt(x.shape[2])
        a = ops["softmax"](s)
        pooled = xp.mean(matmul(a, v), 1)
        return mse(matmul(pooled, p["2.W"].T) + p["2.b"], y)

    table = {
        "W1": mlp(sigmoid, mse, 2),
        "W2": mlp(xp.tanh, ce, 2),
        "W3": mlp(relu, ce, 3),
        "W4": w4,
        "W5": w5,
    }
    return table[name]


def torch_peer(name: str, point: Params) -> tuple[Step, Callable[[], tuple[float, Params]]] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    ops = {
        "lse": lambda o: torch.logsumexp(o, 1),
        "relu": torch.relu,
        "sigmoid": torch.sigmoid,
        "matmul": torch.matmul,
        "conv": torch.nn.functional.conv2d,
        "softmax": lambda s: torch.softmax(s, -1),
    }
    f = _loss_fn(name, torch, ops)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in point.items() if k not in ("x", "y")}
    x, y = torch.tensor(point["x"]), torch.tensor(point["y"])
    keys = list(p)
    vals = list(p.values())

    def step():
        loss = f(p, x, y)
        return loss, torch.autograd.grad(loss, vals)

    def result():
        loss, g = step()
        return float(loss.detach()), {k: gi.numpy() for k, gi in zip(keys, g, strict=True)}

    return step, result


def jax_peer(name: str, point: Params) -> tuple[Step, Callable[[], tuple[float, Params]]] | None:
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def conv(x, w):
        return jax.lax.conv_general_dilated(x, w, (1, 1), "VALID")

    ops = {
        "lse": lambda o: jax.nn.logsumexp(o, axis=1),
        "relu": jax.nn.relu,
        "sigmoid": jax.nn.sigmoid,
        "matmul": jnp.matmul,
        "conv": conv,
        "softmax": lambda s: jax.nn.softmax(s, axis=-1),
    }
    f = _loss_fn(name, jnp, ops)
    vg = jax.jit(jax.value_and_grad(f))
    p = {k: jnp.asarray(v) for k, v in point.items() if k not in ("x", "y")}
    x, y = jnp.asarray(point["x"]), jnp.asarray(point["y"])

    def step():
        return jax.block_until_ready(vg(p, x, y))

    def result():
        loss, g = step()
        return float(loss), {k: np.asarray(v) for k, v in g.items()}

    return step, result


def pytensor_peer(name: str, point: Params) -> tuple[Step, Callable[[], tuple[float, Params]]] | None:
    try:
        import pytensor
        import pytensor.tensor as pt
    except ImportError:
        return None
    if name == "W4":  # conv2d in pytensor needs its own graph; not written here
        return None

    def lse(o):
        m = pt.max(o, axis=1, keepdims=True)
        return m[:, 0] + pt.log(pt.sum(pt.exp(o - m), axis=1))

    def softmax(s):
        e = pt.exp(s - pt.max(s, axis=-1, keepdims=True))
        return e / pt.sum(e, axis=-1, keepdims=True)

    class _NS:
        tanh = staticmethod(pt.tanh)
        sum = staticmethod(pt.sum)
        mean = staticmethod(pt.mean)
        swapaxes = staticmethod(lambda a, i, j: pt.swapaxes(a, i, j))

    ops = {
        "lse": lse,
        "relu": lambda z: pt.maximum(z, 0),
        "sigmoid": pt.sigmoid,
        "matmul": pt.matmul,
        "conv": None,
        "softmax": softmax,
    }
    f = _loss_fn(name, _NS, ops)
    sym = {k: pt.tensor(k.replace(".", "_"), shape=v.shape, dtype="float64") for k, v in point.items()}
    p = {k: s for k, s in sym.items() if k not in ("x", "y")}
    loss = f(p, sym["x"], sym["y"])
    gs = pytensor.grad(loss, list(p.values()))
    fn = pytensor.function(list(sym.values()), [loss, *gs], mode="NUMBA")
    args = list(point.values())
    keys = list(p)

    def step():
        return fn(*args)

    def result():
        out = step()
        return float(out[0]), dict(zip(keys, (np.asarray(o) for o in out[1:]), strict=True))

    return step, result


def numba_w1_peer(name: str, point: Params) -> tuple[Step, Callable[[], tuple[float, Params]]] | None:
    """W1 hand-written in Numba with preallocated outputs: the reference of the W1 target."""
    if name != "W1":
        return None
    from numba import njit

    @njit(cache=True)
    def vg(x, w0, b0, w1, b1, y, g0, gb0, g1, gb1):
        n, d = x.shape
        h = np.empty(w0.shape[0])
        total = 0.0
        g0[:] = 0.0
        gb0[:] = 0.0
        g1[:] = 0.0
        gb1[:] = 0.0
        for i in range(n):
            for j in range(w0.shape[0]):
                z = b0[j]
                for k in range(d):
                    z += x[i, k] * w0[j, k]
                h[j] = 1.0 / (1.0 + np.exp(-z)) if z >= 0 else np.exp(z) / (1.0 + np.exp(z))
            for o in range(w1.shape[0]):
                z = b1[o]
                for j in range(w0.shape[0]):
                    z += h[j] * w1[o, j]
                r = z - y[i, o]
                total += r * r
                dz = 2.0 * r / (n * w1.shape[0])
                gb1[o] += dz
                for j in range(w0.shape[0]):
                    g1[o, j] += dz * h[j]
                    dh = dz * w1[o, j] * h[j] * (1.0 - h[j])
                    gb0[j] += dh
                    for k in range(d):
                        g0[j, k] += dh * x[i, k]
        return total / (n * w1.shape[0])

    args = [point[k] for k in ("x", "0.W", "0.b", "2.W", "2.b", "y")]
    outs = [np.empty_like(point[k]) for k in ("0.W", "0.b", "2.W", "2.b")]

    def step():
        return vg(*args, *outs)

    def result():
        value = step()
        return float(value), {k: o.copy() for k, o in zip(("0.W", "0.b", "2.W", "2.b"), outs, strict=True)}

    return step, result


PEERS = {
    "PyTorch eager": torch_peer,
    "JAX jit": jax_peer,
    "PyTensor": pytensor_peer,
    "Numba (hand-written)": numba_w1_peer,
}


# -- timing -------------------------------------------------------------------------------------------
def median_us(step: Step, repeats: int, budget: float) -> float:
    """Median over ``repeats`` batches of the time per call in microseconds; a batch lasts about ``budget`` s."""
    step()
    t = time.perf_counter()
    step()
    one = max(time.perf_counter() - t, 1e-7)
    n = max(1, min(100_000, int(budget / one)))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            step()
        times.append((time.perf_counter() - t) / n)
    return statistics.median(times) * 1e6


def gemm_gflops(n: int, repeats: int) -> float:
    """Single-thread float64 GEMM rate: 2 n^3 / median time of ``a @ b``."""
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    c = np.empty((n, n))
    np.dot(a, b, out=c)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        np.dot(a, b, out=c)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


_COMPILE_CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from workloads import WORKLOADS
from symnn.codegen import compile
from symnn.diff import grad
g = grad(WORKLOADS[sys.argv[2]]())
t = time.perf_counter()
k = compile(g)
print(time.perf_counter() - t, int(k.cache_hit))
"""


def compile_seconds(name: str) -> tuple[float, float]:
    """Seconds in ``compile(grad(g))`` in a fresh process with an empty cache, then in a second one with that cache."""
    with tempfile.TemporaryDirectory(prefix="symnn-bench-cache-") as cache:
        env = {**os.environ, "SYMNN_CACHE_DIR": cache}
        times = []
        for _ in range(2):
            proc = subprocess.run(
                [sys.executable, "-c", _COMPILE_CHILD, str(HERE), name],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            times.append(float(proc.stdout.split()[0]))
    return times[0], times[1]


def _relerr(got: float | np.ndarray, want: float | np.ndarray) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.linalg.norm(got - want) / max(float(np.linalg.norm(want)), 1e-300))


def agreement(got: tuple[float, Params], want: tuple[float, Params]) -> float:
    """Worst relative error (2-norm per array) of a (loss, gradients) pair against the reference."""
    errs = [_relerr(got[0], want[0])]
    errs += [_relerr(got[1][k], want[1][k]) for k in want[1]]
    if set(got[1]) != set(want[1]):
        return float("inf")
    return max(errs)


# -- one workload -----------------------------------------------------------------------------------
def run_workload(name: str, repeats: int, budget: float, with_compile: bool, log: Callable[[str], None]) -> dict:
    g = WORKLOADS[name]()
    gg = grad(g)
    point = make_point(name, g)
    params = list(g.params)
    ref = NUMPY[name](point)
    res: dict = {"workload": name, "ratio_ops": gradient_ratio(g, gg), "rows": {}}
    res["macs"], res["forward_macs"] = cost(gg).macs, cost(g).macs  # value+grad multiply-adds, forward

    kernel = compile(gg)
    loss_name = gg.output_names[0]
    out = {n: np.empty(s) for n, s in kernel.outputs.items()}
    kout = kernel.run(point, out)
    k_val = (float(kout[loss_name]), {p: kout[f"grad:{p}"].copy() for p in params})
    executor = Executor(g)
    e_val = executor.grad(point)

    impls: dict[str, tuple[Step, float]] = {}
    impls["symnn kernel"] = (lambda: kernel.run(point, out), agreement(k_val, ref))
    # the Numba function alone (no dict handling or checks): what the call wrapper costs on tiny workloads
    cargs = [point[n] for n in kernel.inputs] + [out[n] for n in kernel.outputs]
    for buf in out.values():
        buf.fill(np.nan)
    kernel.compute(*cargs)
    c_val = (float(out[loss_name]), {p: out[f"grad:{p}"].copy() for p in params})
    impls["symnn kernel.compute"] = (lambda: kernel.compute(*cargs), agreement(c_val, ref))
    impls["symnn executor"] = (lambda: executor.grad(point), agreement(e_val, ref))
    impls["NumPy (hand-written)"] = (lambda: NUMPY[name](point), 0.0)
    for peer, make in PEERS.items():
        try:
            made = make(name, point)
        except Exception as e:  # a peer's own failure is reported, never fatal
            log(f"  {name}: {peer} failed to build: {type(e).__name__}: {e}")
            continue
        if made is not None:
            step, result = made
            impls[peer] = (step, agreement(result(), ref))
    for impl, (_, err) in impls.items():
        if impl.startswith("symnn") and not err <= 1e-10:
            raise SystemExit(f"{name}: {impl} disagrees with hand-written NumPy backprop: relative error {err:.2e}")
    for impl, (step, err) in impls.items():
        us = median_us(step, repeats, budget)
        res["rows"][impl] = {"us": us, "relerr": err}
        log(f"  {name} {impl:<22} {us:12.1f} us   (rel. err. vs NumPy {err:.1e})")
    peers = [r["us"] for i, r in res["rows"].items() if not i.startswith("symnn")]
    best = min(peers)
    for r in res["rows"].values():
        r["ratio"] = r["us"] / best
    res["best_peer"] = min((r["us"], i) for i, r in res["rows"].items() if not i.startswith("symnn"))[1]
    if with_compile:
        res["compile_cold_s"], res["compile_cached_s"] = compile_seconds(name)
    return res


# -- report -------------------------------------------------------------------------------------------
def print_table(results: list[dict], meta: dict) -> None:
    print(f"symnn gradient benchmarks ({'quick' if meta['quick'] else 'full'}), float64")
    print(f"BLAS threads: {meta['blas_threads']}; load average at start: {meta['load']}")
    print(f"GEMM peak (single thread, {meta['gemm_n']}^2 float64 np.dot): {meta['gemm_gflops']:.1f} GFLOP/s")
    print()
    hdr = f"{'workload':<9}{'implementation':<24}{'median us/call':>15}{'x best peer':>12}{'rel.err':>9}  notes"
    print(hdr)
    print("-" * len(hdr))
    for res in results:
        first = True
        for impl, r in res["rows"].items():
            notes = []
            if impl == "symnn kernel":
                if "compile_cold_s" in res:
                    notes.append(f"compile cold {res['compile_cold_s']:.2f} s, cached {res['compile_cached_s']:.3f} s")
                if res["workload"] == "W3":
                    gf = 2 * res["macs"] / (r["us"] * 1e-6) / 1e9
                    notes.append(f"{gf:.1f} GFLOP/s = {100 * gf / meta['gemm_gflops']:.0f}% of GEMM peak")
            if impl == "NumPy (hand-written)" and res["workload"] == "W3":
                gf = 2 * res["macs"] / (r["us"] * 1e-6) / 1e9
                notes.append(f"{gf:.1f} GFLOP/s = {100 * gf / meta['gemm_gflops']:.0f}% of GEMM peak")
            if impl == "symnn executor":
                notes.append(f"{r['us'] / res['rows']['symnn kernel']['us']:.1f}x the kernel")
            if first:
                notes.append(f"grad/forward ops {res['ratio_ops']:.2f}; best peer: {res['best_peer']}")
            label = res["workload"] if first else ""
            first = False
            print(f"{label:<9}{impl:<24}{r['us']:>15.1f}{r['ratio']:>12.2f}{r['relerr']:>9.0e}  {'; '.join(notes)}")
    print()
    print("x best peer: median time / the fastest peer's (not symnn) median time in this run.")
    print("rel.err: loss and gradients vs hand-written NumPy backprop (2-norm per array, worst).")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="few repeats, small GEMM, no compile timing")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    ap.add_argument("--no-symbolic", action="store_true", help="skip benchmarks/symbolic.py (S1, S3, S4)")
    ap.add_argument("--no-compile", action="store_true", help="skip the cold/cached compile timing")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    meta = {"quick": args.quick, "blas_threads": blas_threads(), "load": " ".join(map(str, os.getloadavg()))}
    repeats, budget = (3, 0.02) if args.quick else (15, 0.2)
    meta["gemm_n"] = 512 if args.quick else 2048
    meta["gemm_gflops"] = gemm_gflops(meta["gemm_n"], 3 if args.quick else 7)
    results = []
    for name in args.workloads:
        log(f"{name} ...")
        results.append(run_workload(name, repeats, budget, not (args.quick or args.no_compile), log))
    meta["load_end"] = " ".join(map(str, os.getloadavg()))
    symbolic = None
    if not args.no_symbolic:
        cmd = [sys.executable, str(HERE / "symbolic.py"), *(["--quick"] if args.quick else [])]
        if args.json:
            symbolic = json.loads(subprocess.run([*cmd, "--json"], capture_output=True, text=True, check=True).stdout)
        else:
            symbolic = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if args.json:
        print(json.dumps({"meta": meta, "workloads": results, "symbolic": symbolic}, indent=2))
        return 0
    print_table(results, meta)
    if symbolic:
        print()
        print(symbolic.rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
