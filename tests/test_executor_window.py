"""The executor's sliding windows and their adjoint (``rules.window``, ``rules.fold``) against slicing.

The reference pads with ``np.pad`` and slices one kernel offset at a time; ``fold`` must be the
transpose of ``window`` (``<window(x), w> == <x, fold(w)>``). Geometries cover 1, 2 and 3 spatial
axes, strides, padding, batch 1 and 7, both dtypes. Planted faults, most of which fire only for some
geometries, must be caught.
"""

from __future__ import annotations

import inspect
import itertools
import textwrap

import numba
import numpy as np
import pytest

from symnn.executor import kernels as K
from symnn.executor import rules
from symnn.ops import Window

GEOMETRIES = [  # (spatial, kernel, stride, padding)
    ((9,), (3,), (2,), (1,)),
    ((8, 8), (3, 3), (1, 1), (0, 0)),
    ((7, 6), (3, 2), (2, 1), (1, 0)),
    ((5, 4, 6), (2, 3, 3), (1, 1, 2), (0, 1, 1)),
]


def _reference(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """Windows by padding and slicing: out[n, c, *k, *o] = x_padded[n, c, *(o * stride + k)]."""
    d = len(kernel)
    xp = np.pad(x, [(0, 0), (0, 0), *[(p, p) for p in padding]])
    outs = [(s + 2 * p - k) // st + 1 for s, k, st, p in zip(x.shape[2:], kernel, stride, padding, strict=True)]
    out = np.empty((*x.shape[:2], *kernel, *outs), dtype=x.dtype)
    for k in itertools.product(*(range(n) for n in kernel)):
        index = tuple(slice(k[i], k[i] + stride[i] * (outs[i] - 1) + 1, stride[i]) for i in range(d))
        out[(slice(None), slice(None), *k)] = xp[(slice(None), slice(None), *index)]
    return out


def _agrees(batch: int, geometry, dtype, seed: int = 0) -> bool:
    spatial, kernel, stride, padding = geometry
    op = Window(kernel, stride, padding)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 2, *spatial)).astype(dtype)
    got = rules.window(op, x)
    want = _reference(x, kernel, stride, padding)
    if got.shape != want.shape or got.dtype != dtype or not np.array_equal(got, want):
        return False
    w = rng.standard_normal(want.shape).astype(dtype)
    folded = rules.fold(op, w, spatial)
    if folded.shape != x.shape or folded.dtype != dtype:
        return False
    lhs, rhs = np.vdot(want.astype(np.float64), w), np.vdot(x.astype(np.float64), folded)
    return abs(lhs - rhs) <= 1e-4 * (np.abs(want).sum() * np.abs(w).max() + 1.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: f"{len(g[0])}d-{g[0]}")
def test_window_and_fold_against_slicing(geometry, batch, dtype):
    assert _agrees(batch, geometry, dtype)


def _all_agree() -> bool:
    return all(_agrees(b, g, t) for g, b, t in itertools.product(GEOMETRIES, (1, 7), (np.float64, np.float32)))


FAULTS = {
    "geometry padded at the end, shapes at the front (fewer than 3 axes, uneven stride or padding)": (
        "_geometry",
        lambda op: np.array(
            tuple(op.stride) + (1,) * (3 - len(op.stride)) + tuple(op.padding) + (0,) * (3 - len(op.padding)),
            dtype=np.int64,
        ),
    ),
    "padding ignored": ("_geometry", lambda op: np.array(rules._as3(op.stride, 1) + (0, 0, 0), dtype=np.int64)),
    "stride ignored": ("_geometry", lambda op: np.array((1, 1, 1) + rules._as3(op.padding, 0), dtype=np.int64)),
}


KERNEL_FAULTS = {
    "fold overwrites instead of adding (overlapping windows only)": (K.fold, "] += w[", "] = w["),
    "window ignores the last axis' padding (padding there only)": (
        K.window,
        "i3 = o3 * s3 + k3 - p3",
        "i3 = o3 * s3 + k3",
    ),
    "fold skips the first kernel offset of the middle axis (kernel > 1 there only)": (
        K.fold,
        "for k2 in range(K2):",
        "for k2 in range(1, K2):",
    ),
}


def _mutated(fn, old: str, new: str):
    source = textwrap.dedent(inspect.getsource(fn.py_func))
    source = "\n".join(line for line in source.splitlines() if not line.startswith("@"))
    assert old in source, old
    ns: dict = {}
    exec(source.replace(old, new), ns)  # the test's own edit of the kernel's source
    return numba.njit(error_model="numpy")(ns[fn.__name__])


@pytest.mark.parametrize("fault", sorted(KERNEL_FAULTS))
def test_planted_faults_in_the_kernels_are_caught(fault, monkeypatch):
    fn, old, new = KERNEL_FAULTS[fault]
    monkeypatch.setattr(K, fn.__name__, _mutated(fn, old, new))
    assert not _all_agree(), f"the fault {fault!r} went unnoticed"


def test_the_fault_harness_passes_the_unmodified_rules():
    assert _all_agree()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_planted_faults_are_caught(fault, monkeypatch):
    name, planted = FAULTS[fault]
    monkeypatch.setattr(rules, name, planted)
    assert not _all_agree(), f"the fault {fault!r} went unnoticed"
