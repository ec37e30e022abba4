"""The peers symnn is measured against: hand-written NumPy and Numba, PyTorch eager, JAX jit, PyTensor.

Each ``Peer`` names the package it needs, how to install it, the workloads it is written for and
a ``build(name, point)`` that returns a ``Built``: ``step()`` (one timed call: loss and every
parameter's gradient) and ``result()`` (the same as ``(loss, {param: gradient})`` NumPy values,
compared with the hand-written NumPy reference). The optional packages are imported inside the
builders, so that this module loads without them; ``Peer.installed`` says which are there.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from .reference import NUMPY, Params
from .workloads import WORKLOADS

Step = Callable[[], object]


@dataclass(frozen=True)
class Built:
    """A peer ready to run one workload: the timed call, its result as NumPy values, and a note (backend)."""

    step: Step
    result: Callable[[], tuple[float, Params]]
    note: str = ""


@dataclass(frozen=True)
class Peer:
    """One implementation symnn is compared with; ``module`` None: always installed with symnn."""

    name: str
    module: str | None
    install: str
    build: Callable[[str, Params], Built]
    workloads: tuple[str, ...] = tuple(WORKLOADS)
    why_not: str = ""  # said for a workload it is not written for

    def installed(self) -> bool:
        """Whether its package can be imported (without importing it)."""
        return self.module is None or importlib.util.find_spec(self.module) is not None

    def version(self) -> str:
        """The installed version of its package ('' when always installed or unknown)."""
        if self.module is None:
            return ""
        try:
            return importlib.metadata.version(self.module)
        except importlib.metadata.PackageNotFoundError:
            return ""


def numpy_build(name: str, point: Params) -> Built:
    """The hand-written NumPy backprop (the value reference)."""
    f = NUMPY[name]
    return Built(lambda: f(point), lambda: f(point))


def _static_dim(t: Any, axis: int) -> int:
    """Length of ``axis`` as a number: PyTensor's ``shape`` is symbolic, its ``type.shape`` static."""
    static = getattr(getattr(t, "type", None), "shape", None)  # torch's ``type`` is a method: no shape
    return int(static[axis] if isinstance(static, tuple) and static[axis] is not None else t.shape[axis])


# -- peers written once against an array namespace (torch / jax.numpy / pytensor.tensor) ----------------------
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
        z = ops["conv"](x, p["0.W"]) + p["0.b"].reshape((1, 8, 1, 1))
        h = relu(z).reshape((n, 288))
        return ce(matmul(h, p["3.W"].T) + p["3.b"], y)

    def w5(p, x, y):
        q, k, v = matmul(x, p["0.Wq"]), matmul(x, p["0.Wk"]), matmul(x, p["0.Wv"])
        s = matmul(q, xp.swapaxes(k, 1, 2)) / math.sqrt(_static_dim(x, 2))
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


def torch_build(name: str, point: Params) -> Built:
    """PyTorch eager: the loss, then ``torch.autograd.grad`` of it, on one thread."""
    import torch

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
    keys, vals = list(p), list(p.values())

    def step():
        loss = f(p, x, y)
        return loss, torch.autograd.grad(loss, vals)

    def result():
        loss, g = step()
        return float(loss.detach()), {k: gi.numpy() for k, gi in zip(keys, g, strict=True)}

    return Built(step, result)


def jax_build(name: str, point: Params) -> Built:
    """JAX ``jit(value_and_grad(loss))`` in float64 on the CPU."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

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
    vg = jax.jit(jax.value_and_grad(_loss_fn(name, jnp, ops)))
    p = {k: jnp.asarray(v) for k, v in point.items() if k not in ("x", "y")}
    x, y = jnp.asarray(point["x"]), jnp.asarray(point["y"])

    def step():
        return jax.block_until_ready(vg(p, x, y))

    def result():
        loss, g = step()
        return float(loss), {k: np.asarray(v) for k, v in g.items()}

    return Built(step, result, f"{jax.default_backend()} backend")


def pytensor_name(key: str) -> str:
    """A PyTensor variable name for a parameter key: a letter first (its Numba backend rejects '0_W').

    >>> pytensor_name("0.W"), pytensor_name("x")
    ('v_0_W', 'v_x')
    """
    return "v_" + re.sub(r"\W", "_", key)


def _pytensor_conv2d(x, w):
    """Valid cross-correlation (N, C=1, H, W) x (F, 1, k, k) -> (N, F, H-k+1, W-k+1) with PyTensor's conv op.

    ``pytensor.tensor.conv.conv2d`` where it exists (older PyTensor); else ``pytensor.tensor.signal.convolve2d``
    (a true convolution, so the filters are flipped), broadcast over batch and filters.
    """
    try:
        from pytensor.tensor.conv import conv2d
    except ImportError:
        from pytensor.tensor.signal import convolve2d

        return convolve2d(x[:, None, 0], w[None, :, 0, ::-1, ::-1], mode="valid")
    return conv2d(x, w, input_shape=x.type.shape, filter_shape=w.type.shape, filter_flip=False)


def _pytensor_slices_conv2d(x, w):
    """The same cross-correlation as ``k * k`` shifted slices and one tensordot (ops Numba compiles)."""
    import pytensor.tensor as pt

    f, _, k, _ = w.type.shape
    oh, ow = x.type.shape[2] - k + 1, x.type.shape[3] - k + 1
    cols = pt.stack([x[:, 0, i : i + oh, j : j + ow] for i in range(k) for j in range(k)], axis=1)  # (N, k*k, oh, ow)
    z = pt.tensordot(w.reshape((f, k * k)), cols, axes=[[1], [1]])  # (F, N, oh, ow)
    return z.dimshuffle(1, 0, 2, 3)


def _pytensor_function(
    name: str, point: Params, mode: str, conv: Callable = _pytensor_conv2d
) -> tuple[Any, list[str], str]:
    """``pytensor.grad`` of the workload's loss compiled in ``mode``; notes any op Numba runs in object mode."""
    import pytensor
    import pytensor.tensor as pt

    def lse(o):
        m = pt.max(o, axis=1, keepdims=True)
        return m[:, 0] + pt.log(pt.sum(pt.exp(o - m), axis=1))

    def softmax(s):
        e = pt.exp(s - pt.max(s, axis=-1, keepdims=True))
        return e / pt.sum(e, axis=-1, keepdims=True)

    class _Namespace:
        tanh = staticmethod(pt.tanh)
        sum = staticmethod(pt.sum)
        mean = staticmethod(pt.mean)
        swapaxes = staticmethod(pt.swapaxes)

    ops = {
        "lse": lse,
        "relu": lambda z: pt.maximum(z, 0),
        "sigmoid": pt.sigmoid,
        "matmul": pt.matmul,
        "conv": conv,
        "softmax": softmax,
    }
    sym = {k: pt.tensor(pytensor_name(k), shape=v.shape, dtype="float64") for k, v in point.items()}
    params = {k: s for k, s in sym.items() if k not in ("x", "y")}
    loss = _loss_fn(name, _Namespace, ops)(params, sym["x"], sym["y"])
    grads = pytensor.grad(loss, list(params.values()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn = pytensor.function(list(sym.values()), [loss, *grads], mode=mode)
        fn(*point.values())
    slow = sorted({m.group(1) for w in caught if (m := re.search(r"object mode to run (\w+)", str(w.message)))})
    return fn, list(params), ", ".join(f"{op} in object mode" for op in slow)


def pytensor_build(name: str, point: Params, conv: Callable = _pytensor_conv2d) -> Built:
    """PyTensor: ``pytensor.grad`` + ``pytensor.function``, in its Numba backend, else its C backend (said)."""
    try:
        fn, keys, slow = _pytensor_function(name, point, "NUMBA", conv)
        note = "Numba backend" + (f" ({slow})" if slow else "")
    except Exception as e:  # the Numba backend's own failure: fall back to the default (C) backend and say why
        fn, keys, _ = _pytensor_function(name, point, "FAST_RUN", conv)
        note = f"C backend (Numba backend failed: {one_line(e)})"
    if name == "W4":
        note += "; conv: " + ("shifted slices + tensordot" if conv is _pytensor_slices_conv2d else "its conv op")
    args = list(point.values())

    def step():
        return fn(*args)

    def result():
        out = step()
        return float(out[0]), dict(zip(keys, (np.asarray(o) for o in out[1:]), strict=True))

    return Built(step, result, note)


def pytensor_slices_build(name: str, point: Params) -> Built:
    """PyTensor on W4 with the convolution written as slices and a tensordot instead of its conv op."""
    return pytensor_build(name, point, _pytensor_slices_conv2d)


def numba_build(name: str, point: Params) -> Built:
    """W1 hand-written in Numba with preallocated outputs: the reference of the W1 target."""
    args = [point[k] for k in ("x", "0.W", "0.b", "2.W", "2.b", "y")]
    keys = ("0.W", "0.b", "2.W", "2.b")
    outs = [np.empty_like(point[k]) for k in keys]

    def step():
        return _numba_w1(*args, *outs)

    def result():
        value = step()
        return float(value), {k: o.copy() for k, o in zip(keys, outs, strict=True)}

    return Built(step, result)


# not cache=True: Numba would write its cache next to this file, inside the installed package
@njit
def _numba_w1(x, w0, b0, w1, b1, y, g0, gb0, g1, gb1):
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


def one_line(error: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:160] if text else ''}".rstrip(": ")


#: Every peer, in the order of the table's rows.
PEERS: tuple[Peer, ...] = (
    Peer("NumPy (hand-written)", None, "", numpy_build),
    Peer(
        "Numba (hand-written)",
        None,
        "",
        numba_build,
        workloads=("W1",),
        why_not="written for W1 only (the W1 target's reference)",
    ),
    Peer("PyTorch eager", "torch", 'pip install "symnn[bench-torch]" (torch==2.13.0, CPU)', torch_build),
    Peer("JAX jit", "jax", 'pip install "symnn[bench-jax]"', jax_build),
    Peer("PyTensor", "pytensor", 'pip install "symnn[bench-pytensor]"', pytensor_build),
    Peer(
        "PyTensor, conv as slices",
        "pytensor",
        'pip install "symnn[bench-pytensor]"',
        pytensor_slices_build,
        workloads=("W4",),
        why_not="W4 only: its conv written without PyTensor's conv op",
    ),
)
