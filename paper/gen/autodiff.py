"""Forward against reverse mode for one output and n inputs (notes, section 2.2.2): cost of the full gradient.

The scalar function is the MSE loss of an MLP d-h-1 (tanh hidden) on a fixed batch, as a function
of its n = (d + 2) h + 1 parameters; the width h sweeps n. For each width the full gradient is
computed twice from symnn's symbolic derivative graphs, compiled by ``symnn.compile``:

- reverse mode: one call of the ``symnn.grad`` kernel (value and all n partial derivatives);
- forward mode: n calls of the ``symnn.jvp`` kernel (compiled once), one per basis tangent e_j,
  each giving the directional derivative dL . e_j = dL/dtheta_j;

and the forward pass alone is the baseline. Costs are multiply-adds counted exactly from shapes
(``symnn.cost``) and wall-clock medians of the compiled ``Kernel.compute`` on preallocated buffers.
The two gradients must agree to rounding; the generator raises ``GradientMismatch`` if they do not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import symnn
from symnn import MLP, trace
from symnn.cost import cost
from symnn.train import init_params

from .common import fmt, write_dat, write_macros, write_table

#: input dimension and batch of the MLP d-h-1 whose loss is differentiated
D_IN = 16
BATCH = 64
#: relative tolerance of the agreement of the two gradients (both float64, different summation orders)
RTOL = 1e-9


class GradientMismatch(ArithmeticError):
    """The forward-mode and reverse-mode gradients differ beyond rounding."""


@dataclass(frozen=True)
class Setting:
    """The widths swept and the timing repeats."""

    widths: tuple[int, ...]
    repeats: int


QUICK = Setting((2, 8), 5)
FULL = Setting((2, 4, 8, 16, 32, 64, 128), 11)


def n_params(width: int) -> int:
    """Parameters of the MLP D_IN-width-1: weights and biases of both layers.

    >>> n_params(2)
    37
    """
    return D_IN * width + width + width + 1


def median_seconds(fns: Sequence[Callable[[], None]], repeats: int) -> list[float]:
    """Median wall-clock seconds of each ``fn()``, sampled in turn so that all see the same machine load.

    Each sample repeats its function enough times to last >= 2 ms (timer resolution, call overhead).
    """
    inner = []
    for fn in fns:
        start = time.perf_counter()
        fn()  # warm-up; also sizes the inner loop
        inner.append(max(1, int(2e-3 / max(time.perf_counter() - start, 1e-7))))
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, k, out in zip(fns, inner, samples, strict=True):
            start = time.perf_counter()
            for _ in range(k):
                fn()
            out.append((time.perf_counter() - start) / k)
    return [float(np.median(x)) for x in samples]


def measure(width: int, repeats: int, seed: int = 0) -> dict[str, float]:
    """Op counts, wall-clock medians and the gradient discrepancy for one width."""
    graph = trace(MLP((D_IN, width, 1), "tanh"), "mse", {"x": (BATCH, D_IN), "y": (BATCH, 1)})
    grad_graph, jvp_graph = symnn.grad(graph), symnn.jvp(graph)
    n = sum(int(np.prod(s)) for s in graph.params.values())
    if n != n_params(width):
        raise ValueError(f"MLP({D_IN}, {width}, 1) has {n} parameters, expected {n_params(width)}")
    macs_fwd, macs_rev, macs_jvp = cost(graph).macs, cost(grad_graph).macs, cost(jvp_graph).macs
    k_fwd, k_rev, k_jvp = symnn.compile(graph), symnn.compile(grad_graph), symnn.compile(jvp_graph)

    rng = np.random.default_rng(seed)
    arrays = {
        **init_params(graph.params, seed),
        "x": rng.standard_normal((BATCH, D_IN)),
        "y": rng.standard_normal((BATCH, 1)),
    }
    # biases start at zero: perturb them, so that no partial derivative is trivially shared
    arrays = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in arrays.items()}
    names = list(graph.params)  # the gradient's coordinate order: parameters in graph order, C order within
    tangents = {f"tangent:{k}": np.zeros(graph.params[k]) for k in names}

    def args(kernel: symnn.Kernel, table: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        return tuple(table[name] for name in kernel.inputs)

    def outs(kernel: symnn.Kernel) -> tuple[np.ndarray, ...]:
        return tuple(np.empty(s) for s in kernel.outputs.values())

    a_fwd, o_fwd = args(k_fwd, arrays), outs(k_fwd)
    a_rev, o_rev = args(k_rev, arrays), outs(k_rev)
    a_jvp, o_jvp = args(k_jvp, {**arrays, **tangents}), outs(k_jvp)
    flats = [tangents[f"tangent:{k}"].reshape(-1) for k in names]  # views: writing them sets the kernel's inputs
    jvp_out = list(k_jvp.outputs).index("tangent:loss")
    forward_grad = np.empty(n)

    def forward_pass() -> None:
        k_fwd.compute(*a_fwd, *o_fwd)

    def reverse_mode() -> None:
        k_rev.compute(*a_rev, *o_rev)

    def forward_mode() -> None:
        j = 0
        for flat in flats:
            for i in range(flat.size):
                flat[i] = 1.0  # the basis tangent e_j
                k_jvp.compute(*a_jvp, *o_jvp)
                flat[i] = 0.0
                forward_grad[j] = o_jvp[jvp_out]
                j += 1

    t_fwd, t_rev, t_jvp = median_seconds([forward_pass, reverse_mode, forward_mode], repeats)

    rev = k_rev.run(arrays)
    reverse_grad = np.concatenate([rev[f"grad:{k}"].reshape(-1) for k in names])
    forward_mode()
    loss_fwd = float(k_fwd.run(arrays)["loss"])
    scale = float(np.max(np.abs(reverse_grad)))
    err = float(np.max(np.abs(forward_grad - reverse_grad)))
    if not (np.isfinite(err) and err <= RTOL * scale) or abs(float(rev["loss"]) - loss_fwd) > RTOL * abs(loss_fwd):
        raise GradientMismatch(
            f"MLP({D_IN}, {width}, 1): forward-mode and reverse-mode gradients differ by {err:.3g} "
            f"(largest partial {scale:.3g}, tolerance {RTOL} relative); a JVP or VJP rule is wrong"
        )
    return {
        "width": width,
        "n": n,
        "macs_fwd": macs_fwd,
        "macs_rev": macs_rev,
        "macs_jvp": macs_jvp,
        "macs_fm": n * macs_jvp,
        "t_fwd": t_fwd,
        "t_rev": t_rev,
        "t_fm": t_jvp,
        "err": err / scale,
    }


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log y against log x.

    >>> round(slope(np.array([1.0, 10.0]), np.array([3.0, 30.0])), 6)
    1.0
    """
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def value_range(values: np.ndarray) -> str:
    """``$a$ to $b$`` for min and max as LaTeX, or ``$a$`` alone when both print the same.

    >>> value_range(np.array([2.0588, 2.0589])), value_range(np.array([1.0, 1.5]))
    ('$2.06$', '$1.00$ to $1.50$')
    """
    lo, hi = fmt(float(values.min())), fmt(float(values.max()))
    return f"${lo}$" if lo == hi else f"${lo}$ to ${hi}$"


def generate(out: Path, quick: bool) -> None:
    """Measure every width; write macros, the data file and the table."""
    s = QUICK if quick else FULL
    start = time.perf_counter()
    rows = [measure(w, s.repeats) for w in s.widths]
    seconds = time.perf_counter() - start
    col = {k: np.array([r[k] for r in rows], dtype=float) for k in rows[0]}
    rev_ratio, fm_ratio = col["macs_rev"] / col["macs_fwd"], col["macs_fm"] / col["macs_fwd"]
    rev_time, fm_time = col["t_rev"] / col["t_fwd"], col["t_fm"] / col["t_fwd"]
    write_dat(
        out,
        "autodiff",
        {
            "n": col["n"],
            "macs_fwd": col["macs_fwd"],
            "macs_rev": col["macs_rev"],
            "macs_fm": col["macs_fm"],
            "us_fwd": 1e6 * col["t_fwd"],
            "us_rev": 1e6 * col["t_rev"],
            "us_fm": 1e6 * col["t_fm"],
            "rev_ratio": rev_ratio,
            "fm_ratio": fm_ratio,
            "rev_time_ratio": rev_time,
            "fm_time_ratio": fm_time,
        },
    )
    write_macros(
        out,
        "autodiff",
        {
            "adDin": D_IN,
            "adBatch": BATCH,
            "adWidthMin": s.widths[0],
            "adWidthMax": s.widths[-1],
            "adMinN": int(col["n"][0]),
            "adMaxN": int(col["n"][-1]),
            "adSizes": len(s.widths),
            "adRepeats": s.repeats,
            "adRevRatioMin": float(rev_ratio.min()),
            "adRevRatioMax": float(rev_ratio.max()),
            "adRevRatioRange": value_range(rev_ratio),
            "adRevTimeRatioRange": value_range(rev_time),
            "adRatioAtMaxN": float(fm_ratio[-1]),
            "adRatioPerParam": float((fm_ratio / col["n"]).mean()),
            "adFmSlope": slope(col["n"], fm_ratio),
            "adRevTimeRatioMin": float(rev_time.min()),
            "adRevTimeRatioMax": float(rev_time.max()),
            "adRevTimeRatioAtMaxN": float(rev_time[-1]),
            "adFmTimeRatioAtMaxN": float(fm_time[-1]),
            "adFmTimeSlope": slope(col["n"], fm_time),
            "adSpeedupAtMaxN": float(col["t_fm"][-1] / col["t_rev"][-1]),
            "adRevMicroseconds": 1e6 * float(col["t_rev"][-1]),
            "adFmMilliseconds": 1e3 * float(col["t_fm"][-1]),
            "adMaxRelErr": float(col["err"].max()),
            "adRtol": RTOL,
            "adAgree": "agree",  # reached only if every width passed the check in measure()
            "adSeconds": seconds,
        },
    )
    table = [
        [int(r["width"]), int(r["n"]), int(r["macs_fwd"]), rr, fr, rt, ft]
        for r, rr, fr, rt, ft in zip(rows, rev_ratio, fm_ratio, rev_time, fm_time, strict=True)
    ]
    write_table(
        out,
        "autodiff_table",
        ["h", "n", "fwd. MACs", "rev. MACs", "f.m. MACs", "rev. time", "f.m. time"],
        table,
    )
