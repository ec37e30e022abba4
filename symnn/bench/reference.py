"""Hand-written NumPy backprop of W1-W5: the value reference every implementation is checked against.

``make_point`` draws the parameters and inputs of a workload; ``NUMPY[name](point)`` returns the
loss and the gradient of every parameter, written out by hand (no autodiff), so that symnn's kernel,
its executor and every peer can be compared with it to 1e-10 relative before anything is timed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..ir import Graph

Params = dict[str, np.ndarray]


def make_point(name: str, graph: Graph, seed: int = 0) -> Params:
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


def _relerr(got: float | np.ndarray, want: float | np.ndarray) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.linalg.norm(got - want) / max(float(np.linalg.norm(want)), 1e-300))


def agreement(got: tuple[float, Params], want: tuple[float, Params]) -> float:
    """Worst relative error (2-norm per array) of a (loss, gradients) pair against the reference."""
    if set(got[1]) != set(want[1]):
        return float("inf")
    return max([_relerr(got[0], want[0]), *(_relerr(got[1][k], want[1][k]) for k in want[1])])
