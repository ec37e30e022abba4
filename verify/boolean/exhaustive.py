"""Exhaustive evaluation of a sign network on all 2^d inputs: compiled, parallel, chunked, flat memory.

The 2^d inputs are never materialized: input i is split into its low ``lb`` bits and its high
bits, and the hidden pre-activations are h(x) = A[:, low] + B(high), with the table
A = b1 + W1[:, :lb] x_low built once (k x 2^lb). The high settings are split into at most 4096
chunks run in parallel (``prange``); for each high setting the inner loop accumulates
W2 . sign(h) over the 2^lb low inputs in vector lanes. Memory is O(k 2^lb + chunks), whatever d.

Arithmetic is exact for integer weights (and for float weights that are binary fractions of
modest range, rescaled exactly to integers): float32 while every partial sum stays below 2^24,
float64 below 2^53. Integer weights whose partial sums can reach 2^53 are refused with the bound
(float64 would round them and could report mismatches that do not exist) unless ``exact=False``
asks for float64 explicitly. Other float weights are evaluated in float64 as
(b1 + low part) + high part.

Targets checked inside the kernel: none, a truth table (2^d bytes), or a symmetric function given
by its value per number of +1 coordinates (parity, majority, AND, OR, ... at any d).

``evaluate_range`` runs the same pass on a range of input indices (whole blocks of 2^lb): the
chunks of a campaign (``verify.campaign``) merge to exactly what ``evaluate`` returns.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numba as nb
import numpy as np

from symnn.jit import njit

from ..report import html_table
from .construct import SignNetwork
from .errors import NetworkError, TooLargeError, format_seconds
from .table import BooleanFunction, boolean_function

MAX_CHUNKS_BITS = 12  # at most 4096 chunks: the per-chunk counters stay small at any d
LOW_BITS = 12  # 2^12 low inputs per vector pass: acc (16 KiB) fits L1, the k x 2^12 table fits L2
# Conservative throughput of the kernel on one core (inputs x hidden units per second, float32
# lanes), measured on the project's 2-core machines; used only to estimate times before refusing.
UNIT_STEPS_PER_SECOND = 2e9
EXACT_LIMIT = 2**53  # integers up to here are exact in float64 lanes
DEFAULT_MAX_SECONDS = 600.0

# target kinds
_NONE, _TABLE, _SYMMETRIC = 0, 1, 2
# per-chunk counters
_POS, _MISMATCH, _FIRST, _HZERO, _OZERO, _NSTATS = 0, 1, 2, 3, 4, 5


@dataclass(frozen=True)
class Evaluation:
    """What one exhaustive pass found: counts over all 2^d inputs and the smallest margins.

    ``hidden_zero`` counts (input, hidden unit) pairs whose pre-activation is exactly 0 and
    ``output_zero`` inputs whose output pre-activation is 0 (sign(0) = 0 was used there);
    ``mismatches`` counts inputs where the output differs from the target (an output of 0 differs
    from every target); ``first_mismatch`` is the smallest such input index (-1 if none).
    Margins are min |pre-activation|, in the network's own units (integers for integer weights,
    divided back when float weights were rescaled exactly).
    """

    d: int
    k: int
    inputs: int
    positives: int
    mismatches: int
    first_mismatch: int
    hidden_zero: int
    output_zero: int
    hidden_margin: float
    output_margin: float
    exact: bool
    target: str
    seconds: float

    @property
    def ok(self) -> bool:
        """No mismatch and no sign(0) anywhere: the network computes the target with margins."""
        return self.mismatches == 0 and self.hidden_zero == 0 and self.output_zero == 0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"ok": self.ok}

    def _repr_html_(self) -> str:
        rows = [
            (
                [
                    "mismatches",
                    f"{self.mismatches}" + (f" (first at input {self.first_mismatch})" if self.mismatches else ""),
                ],
                self.mismatches == 0,
            ),
            (["hidden pre-activations exactly 0", str(self.hidden_zero)], self.hidden_zero == 0),
            (["output pre-activations exactly 0", str(self.output_zero)], self.output_zero == 0),
            (["hidden margin", f"{self.hidden_margin:g}"], None),
            (["output margin", f"{self.output_margin:g}"], None),
            (["inputs (+1 outputs)", f"{self.inputs} ({self.positives})"], None),
            (["seconds", f"{self.seconds:.2f}"], None),
        ]
        caption = f"d = {self.d}, k = {self.k} against {self.target or 'no target'}: all 2^{self.d} inputs"
        return html_table(["", "value"], rows, caption=caption, ok=self.ok)


# -- kernels ------------------------------------------------------------------------------------------
# x = (low bits, high bits): h(x) = A[:, low] + B(high) with A = b1 + W1[:, :lb] x_low tabulated once.
# For one setting of the high bits the inner loop runs over the 2^lb low inputs in vector lanes and
# only accumulates the output sum; hidden margins and zeros are separable per unit (min over
# low of |A[u, low] + B_u| is a binary search in the sorted row), so they cost O(log 2^lb) per
# (high setting, unit) instead of a store per input. Integer weights run in float32 when every
# partial sum stays below 2^24 (exact), else float64 below 2^53 (exact), else int64.


@njit()
def _accumulate(A, u, Bu, w, acc):  # pragma: no cover - compiled
    """acc[l] += w * sign(A[u, l] + Bu) with sign(0) = 0 (a select, so it vectorizes).

    Rows are indexed, not sliced: a view would take a reference count, an atomic shared by threads.
    """
    nw = -w
    zero = w - w
    for l in range(A.shape[1]):
        hv = A[u, l] + Bu
        acc[l] += w if hv > zero else (nw if hv < zero else zero)


@njit()
def _popcount(v):  # pragma: no cover - compiled
    c = 0
    while v:
        v &= v - 1
        c += 1
    return c


@njit()
def _outputs(acc, base, hpop, kind, ttable, tsym, out):  # pragma: no cover - compiled
    """Output signs of one block of 2^lb inputs: (#positive, #zero, min |sum|, #mismatches, first)."""
    pos = 0
    zeros = 0
    omin = np.inf
    for l in range(acc.shape[0]):  # no branches: this loop vectorizes
        a = acc[l]
        pos += a > 0
        zeros += a == 0
        omin = min(omin, abs(a))
    bad = 0
    first = -1
    if kind != 0 or out.shape[0] > 0:
        for l in range(acc.shape[0]):
            a = acc[l]
            o = 1 if a > 0 else (-1 if a < 0 else 0)
            if out.shape[0] > 0:
                out[base | l] = o
            if kind != 0:
                want = ttable[base | l] if kind == 1 else tsym[hpop + _popcount(l)]
                if o != want:
                    bad += 1
                    if first < 0:
                        first = base | l
    return pos, zeros, float(omin), bad, first


@njit()
def _nearest(S, u, x):  # pragma: no cover - compiled
    """(number of entries == -x, min |entry + x|) in the sorted row S[u], by binary search."""
    n = S.shape[1]
    lo, hi = 0, n
    while lo < hi:  # first index with row[i] >= -x
        mid = (lo + hi) >> 1
        below = S[u, mid] < -x
        lo = mid + 1 if below else lo
        hi = hi if below else mid
    zeros = 0
    i = lo
    while i < n and S[u, i] == -x:
        zeros += 1
        i += 1
    best = np.inf
    if lo < n:
        best = abs(float(S[u, lo] + x))
    if lo > 0:
        best = min(best, abs(float(S[u, lo - 1] + x)))
    return zeros, best


@njit()
def _chunk(h0, h1, W1, A, S, W2, b2, lbits, kind, ttable, tsym, out):  # pragma: no cover - compiled
    """High settings h0 <= hi < h1: (#positive, #mismatch, first mismatch, #hidden zeros, #output zeros, margins)."""
    k, d = W1.shape
    L = 1 << lbits
    zero = b2 - b2
    acc = np.empty(L, dtype=A.dtype)
    pos = 0
    mism = 0
    first = -1
    hz = 0
    oz = 0
    hmin = np.inf
    omin = np.inf
    for hi in range(h0, h1):
        acc[:] = b2
        for u in range(k):
            Bu = zero
            for j in range(lbits, d):  # branch-free: the bits of hi are not predictable
                Bu += W1[u, j] * (2 * ((hi >> (j - lbits)) & 1) - 1)
            _accumulate(A, u, Bu, W2[u], acc)
            z, m = _nearest(S, u, Bu)  # hidden zeros and margin of unit u over this block
            hz += z
            hmin = min(hmin, m)
        p, z, m, bad, f = _outputs(acc, hi << lbits, _popcount(hi), kind, ttable, tsym, out)
        pos += p
        oz += z
        omin = min(omin, m)
        mism += bad
        if first < 0 and f >= 0:
            first = f
    return pos, mism, first, hz, oz, hmin, omin


# nogil: threads beside the pass keep running (a Dask worker's event loop, or its chunk took twice as long)
@njit(parallel=True, nogil=True)
def _kernel(
    W1s, As, Ss, W2s, b2s, W1d, Ad, Sd, W2d, b2d, single, lbits, kind, ttable, tsym, out, stats, margins, h0, h1
):  # pragma: no cover - compiled
    """High settings [h0, h1) in parallel chunks, in float32 lanes (``single``) or float64 lanes."""
    nchunks = stats.shape[0]
    count = h1 - h0
    for c in nb.prange(nchunks):
        lo = h0 + (c * count) // nchunks  # an even split; any count (a whole pass: equal powers of two)
        hi = h0 + ((c + 1) * count) // nchunks
        if single:
            r = _chunk(lo, hi, W1s, As, Ss, W2s, b2s, lbits, kind, ttable, tsym, out)
        else:
            r = _chunk(lo, hi, W1d, Ad, Sd, W2d, b2d, lbits, kind, ttable, tsym, out)
        stats[c, 0] = r[0]
        stats[c, 1] = r[1]
        stats[c, 2] = r[2]
        stats[c, 3] = r[3]
        stats[c, 4] = r[4]
        margins[c, 0] = r[5]
        margins[c, 1] = r[6]


def _run_kernel(W1, A, S, W2, b2, lbits, kind, ttable, tsym, out, stats, margins, h0, h1) -> None:  # type: ignore[no-untyped-def]
    """Call the kernel with the lane type of ``A``; the other lane's arrays are empty placeholders."""
    e32 = np.zeros((0, 0), dtype=np.float32)
    e64 = np.zeros((0, 0), dtype=np.float64)
    if A.dtype == np.float32:
        args = (W1, A, S, W2, np.float32(b2), e64, e64, e64, np.zeros(0), 0.0, True)
    else:
        args = (e32, e32, e32, np.zeros(0, np.float32), np.float32(0), W1, A, S, W2, float(b2), False)
    _kernel(*args, lbits, kind, ttable, tsym, out, stats, margins, h0, h1)


# -- Python side ----------------------------------------------------------------------------------------
def estimate_seconds(d: int, k: int, threads: int | None = None) -> float:
    """A rough time for one exhaustive pass over 2^d inputs with k hidden units (integer weights)."""
    t = threads or nb.get_num_threads()
    return (2.0**d) * (k + 4) / (UNIT_STEPS_PER_SECOND * t)


def _integer_weights(net: SignNetwork) -> tuple[list[Any], int, int, int] | None:
    """Integer weights with the same signs everywhere: exact as given, or float weights rescaled exactly.

    Returns ([W1, b1, W2, b2] as Python-int object arrays, s1, s2, bound) with the hidden layer scaled
    by s1 > 0 and the output layer by s2 > 0 and ``bound`` the largest |partial sum| any pass can
    meet; None when the exact rescaled values are too large for int64.
    """
    k, d = net.k, net.d
    if net.integral:
        # fast path: float64 sums of |w| are within a factor (1 + 2^-40) of exact here
        hid_f = float((np.abs(net.W1).astype(np.float64).sum(axis=1) + np.abs(net.b1)).max()) if k else 0.0
        out_f = float(np.abs(net.W2).astype(np.float64).sum() + abs(float(net.b2)))
        if max(hid_f, out_f) < 2.0**50:
            return [net.W1, net.b1, net.W2, int(net.b2)], 1, 1, int(max(hid_f, out_f)) + 1
        vals1 = [int(v) for v in np.concatenate([net.W1.ravel(), net.b1]).tolist()]
        vals2 = [int(v) for v in [*net.W2.tolist(), net.b2]]
        s1 = s2 = 1
    else:
        fr1 = [Fraction(v) for v in np.concatenate([net.W1.ravel(), net.b1]).tolist()]
        fr2 = [Fraction(v) for v in [*net.W2.tolist(), float(net.b2)]]
        s1 = math.lcm(*(f.denominator for f in fr1)) if fr1 else 1
        s2 = math.lcm(*(f.denominator for f in fr2))
        vals1 = [int(f * s1) for f in fr1]
        vals2 = [int(f * s2) for f in fr2]
    W1 = np.array(vals1[: k * d], dtype=object).reshape(k, d)
    b1 = np.array(vals1[k * d :], dtype=object)
    hid = max((sum(abs(v) for v in row) + abs(b) for row, b in zip(W1.tolist(), b1.tolist(), strict=True)), default=0)
    bound = max(hid, sum(abs(v) for v in vals2))
    if bound >= EXACT_LIMIT:
        return None
    return [W1, b1, np.array(vals2[:-1], dtype=object), vals2[-1]], s1, s2, bound


def _integer_bound(net: SignNetwork) -> int:
    """The largest |partial sum| of integer weights, in exact Python integers: max over the layers of sum |w|."""
    rows = [[int(v) for v in row] for row in net.W1.tolist()]
    hid = max((sum(map(abs, row)) + abs(int(b)) for row, b in zip(rows, net.b1.tolist(), strict=True)), default=0)
    return max(hid, sum(abs(int(v)) for v in net.W2.tolist()) + abs(int(net.b2)))


def _lane_dtype(bound: int) -> type:
    """The narrowest float type in which every partial sum up to ``bound`` is an exact integer."""
    return np.float32 if bound < 2**24 else np.float64


@njit()
def _low_table(W1, b1, lbits):  # pragma: no cover - compiled
    """A[u, l] = b1[u] + sum_{j < lbits} W1[u, j] x_j(l), summed in index order (k x 2^lbits)."""
    k = W1.shape[0]
    A = np.empty((k, 1 << lbits), dtype=W1.dtype)
    for u in range(k):
        for l in range(1 << lbits):
            s = b1[u]
            for j in range(lbits):
                s += W1[u, j] * (2 * ((l >> j) & 1) - 1)
            A[u, l] = s
    return A


_WARM: set[type] = set()  # lane types whose kernel this process has compiled or loaded


def _warm_up(dt: type) -> None:
    """Run the kernel once on a 1-input network so that ``seconds`` never includes compilation.

    Once per lane type and process: a parallel launch costs milliseconds, and a campaign calls
    ``evaluate_range`` once per chunk.
    """
    if dt in _WARM:
        return
    one: np.ndarray = np.ones((1, 1), dtype=dt)
    e = np.zeros(0, dtype=np.int8)
    A = _low_table(one, one[0], 1)
    _run_kernel(one, A, A, one[0], 1, 1, _NONE, e, e, e, np.zeros((1, _NSTATS), np.int64), np.zeros((1, 2)), 0, 1)
    _WARM.add(dt)


def _target(target: Any, d: int) -> tuple[int, np.ndarray, np.ndarray, str]:
    empty = np.zeros(0, dtype=np.int8)
    if target is None:
        return _NONE, empty, empty, "none"
    if isinstance(target, BooleanFunction):
        if target.d != d:
            raise NetworkError(f"the network has d = {d} inputs but the target function has d = {target.d}")
        return (
            _TABLE,
            np.array(target.table, dtype=np.int8),
            empty,
            target.name or target.hex,
        )  # writable: one kernel type
    if isinstance(target, Symmetric):
        if target.d != d:
            raise NetworkError(f"the network has d = {d} inputs but the target function has d = {target.d}")
        return _SYMMETRIC, empty, np.asarray(target.by_count, dtype=np.int8), target.name
    raise NetworkError(f"a target is a BooleanFunction or a Symmetric, got {type(target).__name__}")


@dataclass(frozen=True)
class Symmetric:
    """A symmetric target known at any d without a table: f(x) = by_count[number of +1 coordinates]."""

    d: int
    by_count: tuple[int, ...]
    name: str = ""

    @classmethod
    def named(cls, family: str, d: int) -> Symmetric:
        """parity, majority (strict), and, or."""
        c = range(d + 1)
        vals: dict[str, list[bool]] = {
            "parity": [n % 2 == 1 for n in c],
            "xor": [n % 2 == 1 for n in c],
            "majority": [2 * n > d for n in c],
            "and": [n == d for n in c],
            "or": [n > 0 for n in c],
        }
        if family not in vals:
            raise NetworkError(f"unknown symmetric family {family!r}; known: {sorted(vals)}")
        return cls(d, tuple(1 if v else -1 for v in vals[family]), f"{family}:{d}")


def evaluate(
    net: SignNetwork,
    target: BooleanFunction | Symmetric | None = None,
    outputs: bool = False,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    exact: bool | None = None,
) -> tuple[Evaluation, np.ndarray | None]:
    """Run ``net`` on all 2^d inputs (and compare with ``target``); optionally return all outputs (int8).

    ``exact=None`` takes the exact path whenever the weights allow it; ``exact=True`` insists on it
    (error otherwise); ``exact=False`` forces float64 arithmetic on the weights as given.
    """
    return _evaluate(net, target, outputs, max_seconds, exact, 0, None)


def block_size(d: int) -> int:
    """The inputs of one vector pass at d variables: ``evaluate_range`` bounds are multiples of it.

    >>> block_size(26), block_size(3)
    (4096, 8)
    """
    return 1 << min(d, LOW_BITS, (d + 3) // 2)  # the k x 2^lb table and its sort stay small next to k x 2^d


def evaluate_range(
    net: SignNetwork,
    target: BooleanFunction | Symmetric | None = None,
    start: int = 0,
    stop: int | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    exact: bool | None = None,
) -> Evaluation:
    """``evaluate`` on the inputs start <= i < stop only (multiples of ``block_size(d)``): a chunk of a pass.

    Counts add up and margins take the minimum over disjoint ranges, and ``first_mismatch`` is
    the smallest index in the range, so the chunks of a pass merge to exactly ``evaluate``'s answer
    (``verify.campaign`` does that); ``inputs`` is stop - start.
    """
    ev, _ = _evaluate(net, target, False, max_seconds, exact, start, stop)
    return ev


def _evaluate(
    net: SignNetwork,
    target: Any,
    outputs: bool,
    max_seconds: float,
    exact: bool | None,
    start: int,
    stop: int | None,
) -> tuple[Evaluation, np.ndarray | None]:
    if not isinstance(net, SignNetwork):
        raise NetworkError(f"evaluate needs a SignNetwork, got {type(net).__name__}")
    d, k = net.d, net.k
    if d > 62:
        raise TooLargeError(f"d = {d}: input indices need more than 63 bits; the exhaustive kernel stops at d = 62")
    stop = (1 << d) if stop is None else stop
    block = block_size(d)
    if not (0 <= start <= stop <= 1 << d) or start % block or stop % block:
        raise NetworkError(
            f"input range [{start}, {stop}) is not within [0, 2^{d}) on multiples of block_size({d}) = {block}; "
            "round the bounds to whole blocks"
        )
    est = estimate_seconds(d, k) * (stop - start) / (1 << d)
    if est > max_seconds:
        what = f"all 2^{d} inputs" if stop - start == 1 << d else f"inputs [{start}, {stop}) of 2^{d}"
        raise TooLargeError(
            f"evaluating {what} with k = {k} hidden units would take about {format_seconds(est)} "
            f"on this machine (limit {format_seconds(max_seconds)}; pass max_seconds to raise it)"
        )
    if outputs and d > 30:
        raise TooLargeError(f"returning all 2^{d} outputs needs 2^{d} bytes; ask for the counts only")
    kind, ttable, tsym, tname = _target(target, d)
    ints = _integer_weights(net) if exact is not False else None
    if exact is not False and ints is None and net.integral:
        raise TooLargeError(
            f"the integer weights' partial sums reach {_integer_bound(net):,} >= 2^53 = {EXACT_LIMIT:,}, beyond "
            "exact float64 arithmetic, so the result could be wrong; divide the weights by a common factor "
            "(in Python, evaluate(..., exact=False) accepts float64 rounding)"
        )
    if exact and ints is None:
        raise NetworkError("the weights do not rescale exactly to int64; round them or pass exact=False")
    W1: Any
    b1: Any
    W2: Any
    b2: Any
    if ints is not None:
        (W1, b1, W2, b2), s1, s2, bound = ints
        dt = _lane_dtype(bound)
    else:
        W1, b1, W2, b2 = net.W1, net.b1, net.W2, net.b2
        s1 = s2 = 1
        dt = np.float64
    lbits = block.bit_length() - 1
    h0, h1 = start >> lbits, stop >> lbits  # the high settings of the range
    nchunks = max(1, min(h1 - h0, 1 << MAX_CHUNKS_BITS))  # a whole pass: 2^min(d - lb, 12) as ever
    stats = np.zeros((nchunks, _NSTATS), dtype=np.int64)
    margins = np.zeros((nchunks, 2))
    out = np.zeros((1 << d) if outputs else 0, dtype=np.int8)
    # fresh writable copies: a read-only array would be another Numba type, another compilation
    W1a: np.ndarray = np.array(W1, dtype=dt).reshape(k, d)
    b1a: np.ndarray = np.array(b1, dtype=dt)
    if k == 0:  # the kernel wants at least one row; a unit with zero output weight changes nothing
        W1a, b1a, W2 = np.zeros((1, d), dtype=dt), np.zeros(1, dtype=dt), [0]
    _warm_up(dt)  # compile (or load) outside the timed region
    t0 = time.perf_counter()
    A = _low_table(W1a, b1a, lbits)
    S = np.sort(A, axis=1)
    _run_kernel(W1a, A, S, np.array(W2, dtype=dt), b2, lbits, kind, ttable, tsym, out, stats, margins, h0, h1)
    seconds = time.perf_counter() - t0
    firsts = stats[:, _FIRST]
    firsts = firsts[firsts >= 0]
    ev = Evaluation(
        d=d,
        k=k,
        inputs=stop - start,
        positives=int(stats[:, _POS].sum()),
        mismatches=int(stats[:, _MISMATCH].sum()),
        first_mismatch=int(firsts.min()) if firsts.size else -1,
        hidden_zero=int(stats[:, _HZERO].sum()) if k else 0,
        output_zero=int(stats[:, _OZERO].sum()),
        hidden_margin=float(margins[:, 0].min()) / s1 if k else math.inf,
        output_margin=float(margins[:, 1].min()) / s2,
        exact=ints is not None,
        target=tname,
        seconds=seconds,
    )
    return ev, (out if outputs else None)


def verify(net: SignNetwork, target: Any, max_seconds: float = DEFAULT_MAX_SECONDS) -> Evaluation:
    """Check ``net`` against ``target`` on every input (exactly, for integer weights); see ``Evaluation.ok``."""
    if not isinstance(target, (BooleanFunction, Symmetric)):
        target = boolean_function(target, net.d)
    ev, _ = evaluate(net, target, max_seconds=max_seconds)
    return ev


def outputs(net: SignNetwork, exact: bool | None = None) -> np.ndarray:
    """All 2^d outputs in {-1, 0, +1} in index order (int8)."""
    _, out = evaluate(net, outputs=True, exact=exact)
    assert out is not None  # internal: outputs=True always returns the array
    return out


def random_network(d: int, k: int, seed: int = 0, scale: int = 7) -> SignNetwork:
    """A network with integer weights uniform in [-scale, scale], odd biases (a benchmark workload)."""
    rng = np.random.default_rng(seed)
    W1 = rng.integers(-scale, scale + 1, size=(k, d))
    b1 = 2 * rng.integers(-scale, scale + 1, size=k) + 1
    W2 = rng.integers(-scale, scale + 1, size=k)
    return SignNetwork(W1, b1, W2, 2 * int(rng.integers(-scale, scale + 1)) + 1)


__all__ = [
    "Evaluation",
    "Symmetric",
    "block_size",
    "estimate_seconds",
    "evaluate",
    "evaluate_range",
    "outputs",
    "random_network",
    "verify",
]
