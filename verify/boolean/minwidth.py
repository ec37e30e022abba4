"""The exact minimum number of hidden units of a one-hidden-layer sign network computing f (d <= 5).

Width 0 is a constant, width 1 a (non-constant) threshold function (``threshold``). For k >= 2
the search is exact and combinatorial, over the finite list of all threshold functions of d
variables (``counts.threshold_functions``: 14, 104, 1882, 94572 for d = 2..5, each with checked
integer weights, the list complete because its size equals the two independent counts):

* every hidden unit computes a threshold function h_i, and the output unit, negating hidden units
  where its weight is negative, is a *positive* threshold function g of the hidden code: f = g(h);
* a positive g is monotone, so every pair (x true, x' false) must be *covered* by some unit with
  h_i(x) = +1 and h_i(x') = -1 (directed separation). The search picks an uncovered pair, branches
  over the units that cover it (each tried unit is excluded from the later siblings, so every set
  is visited once), and prunes when even the best remaining units cannot cover what is left;
* a covering set is a solution iff its codes are separable by a positive threshold function:
  automatic for at most 3 units (every monotone function of <= 3 variables is threshold), an exact
  look-up in the list of positive threshold functions of 4 or 5 variables otherwise.

So "no solution with k units" is the exhausted search, and "width k" comes with a witness network:
the hidden weights from the list, output weights from the exact LP on the codes, the whole network
checked on every input by the exhaustive kernel.

>>> r = min_width("parity:3")
>>> r.width, r.network.k
(3, 3)
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symnn.jit import njit

from ..report import html_table
from .construct import SignNetwork, construct
from .counts import ThresholdList, positive_threshold_functions, threshold_functions, transform
from .errors import TooLargeError, WitnessError
from .exhaustive import verify
from .lp import separate
from .npn import canonical, canonical_classes, group
from .table import BooleanFunction, boolean_function, popcounts
from .threshold import threshold

MAX_D = 5  # the candidate list for d = 6 would hold 15,028,134 threshold functions
MAX_UNITS = 5  # code separability is looked up in the positive threshold functions of <= 5 variables


@dataclass(frozen=True)
class MinWidthResult:
    """The minimum width of f, a witness network, and how the lower bound was established.

    ``exact`` is False when the search stopped at ``max_width`` or a time limit: then ``width`` is only
    an upper bound (the witness, or the construction) and ``lower`` the proven lower bound.
    """

    f: BooleanFunction
    width: int
    lower: int
    network: SignNetwork
    exact: bool
    proof: list[str] = field(default_factory=list)
    nodes: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def _repr_html_(self) -> str:
        rows = [
            (["minimum width" if self.exact else "upper bound", str(self.width)], self.exact or None),
            (["proven lower bound", str(self.lower)], True),
            (["seconds", f"{self.seconds:.2f}"], None),
        ]
        rows += [(["proof", step], None) for step in self.proof]
        kind = "exact" if self.exact else "bounds only: the search stopped"
        return html_table(["", "value"], rows, caption=f"{self.f.name}, d = {self.f.d}: {kind}", ok=self.exact or None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "function": self.f.hex if self.f.d <= 6 else self.f.name,
            "d": self.f.d,
            "min_width": self.width if self.exact else None,
            "lower_bound": self.lower,
            "upper_bound": self.width,
            "exact": self.exact,
            "witness": self.network.to_json(),
            "proof": self.proof,
            "search_nodes": {str(k): v for k, v in self.nodes.items()},
            "seconds": round(self.seconds, 3),
        }


# -- compiled search -------------------------------------------------------------------------------------------
@njit()
def _popcount64(x):  # pragma: no cover - compiled
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit()
def _count(cover, c, unc):  # pragma: no cover - compiled
    s = 0
    for w in range(unc.shape[0]):
        s += _popcount64(cover[c, w] & unc[w])
    return s


@njit()
def _separable(tables, chosen, depth, true_pts, false_pts, pos_lists, pos_starts):  # pragma: no cover
    """Are the hidden codes of the care points separable by a positive threshold function?"""
    if depth <= 3:
        return True  # covered pairs make the codes monotone, and monotone = threshold for <= 3 units
    tm = np.uint64(0)
    fm = np.uint64(0)
    for x in true_pts:
        code = np.uint64(0)
        for i in range(depth):
            code |= ((tables[chosen[i]] >> np.uint64(x)) & np.uint64(1)) << np.uint64(i)
        tm |= np.uint64(1) << np.uint64(code)
    for x in false_pts:
        code = np.uint64(0)
        for i in range(depth):
            code |= ((tables[chosen[i]] >> np.uint64(x)) & np.uint64(1)) << np.uint64(i)
        fm |= np.uint64(1) << np.uint64(code)
    for t in range(pos_starts[depth], pos_starts[depth + 1]):
        g = pos_lists[t]
        if (tm & ~g) == 0 and (fm & g) == 0:
            return True
    return False


@njit()
def _search(
    cover, tables, order, unc, depth, k, chosen, forbidden, true_pts, false_pts, pos_lists, pos_starts, stats, relaxed
):  # pragma: no cover - compiled
    stats[0] += 1
    if stats[0] > stats[1]:
        return False  # node budget exhausted: the caller reports the search as incomplete
    W = unc.shape[0]
    left = 0
    for w in range(W):
        left += _popcount64(unc[w])
    C = cover.shape[0]
    if left == 0:
        if relaxed or _separable(tables, chosen, depth, true_pts, false_pts, pos_lists, pos_starts):
            stats[2] = depth
            return True
        if depth == k:
            return False
        # covered but not separable: any further unit may help
        tried = np.empty(0, dtype=np.int64)
        for c in range(C):
            if forbidden[c]:
                continue
            chosen[depth] = c
            if _search(
                cover,
                tables,
                order,
                unc,
                depth + 1,
                k,
                chosen,
                forbidden,
                true_pts,
                false_pts,
                pos_lists,
                pos_starts,
                stats,
                relaxed,
            ):
                for t in tried:
                    forbidden[t] = False
                return True
            forbidden[c] = True
            tried = np.append(tried, c)
        for t in tried:
            forbidden[t] = False
        return False
    if depth == k:
        return False
    # bound: the best (k - depth) remaining units together must be able to cover what is left
    r = k - depth
    best = np.zeros(r + 1, dtype=np.int64)
    cov = np.zeros(C, dtype=np.int64)
    for c in range(C):
        if forbidden[c]:
            continue
        v = _count(cover, c, unc)
        cov[c] = v
        j = r
        while j > 0 and best[j - 1] < v:
            best[j] = best[j - 1]
            j -= 1
        best[j] = v
    total = 0
    for j in range(r):
        total += best[j]
    if total < left:
        return False
    # branch on the uncovered pair that the fewest units cover (static order), best units first
    p = -1
    for q in order:
        if (unc[q >> 6] >> np.uint64(q & 63)) & np.uint64(1):
            p = q
            break
    cands = np.empty(C, dtype=np.int64)
    n = 0
    for c in range(C):
        if not forbidden[c] and (cover[c, p >> 6] >> np.uint64(p & 63)) & np.uint64(1):
            cands[n] = c
            n += 1
    cands = cands[:n]
    keys = -cov[cands]
    cands = cands[np.argsort(keys, kind="mergesort")]
    new = np.empty(W, dtype=np.uint64)
    found = False
    done = 0
    for c in cands:
        chosen[depth] = c
        for w in range(W):
            new[w] = unc[w] & ~cover[c, w]
        if _search(
            cover,
            tables,
            order,
            new,
            depth + 1,
            k,
            chosen,
            forbidden,
            true_pts,
            false_pts,
            pos_lists,
            pos_starts,
            stats,
            relaxed,
        ):
            found = True
            break
        forbidden[c] = True
        done += 1
    for i in range(done):
        forbidden[cands[i]] = False
    return found


def symmetric_network(f: BooleanFunction) -> SignNetwork | None:
    """For a symmetric f (a function of c = number of +1 inputs): one unit per change of f along c.

    h_i = sign(sum_j x_j - (2 i - d - 1)) is +1 iff c >= i (pre-activation 2 (c - i) + 1, odd), and
    f(c) = f(0) + sum over changes i <= c of (f(i) - f(i - 1)), so f = sign(sum_i s_i h_i + b2) with
    s_i = (f(i) - f(i - 1)) / 2 = +-1 and b2 = f(0) + sum_i s_i; the output pre-activation is f(c) = +-1.
    Parity of d variables gets d units; None if f is not symmetric.
    """
    d = f.d
    c = popcounts(d)
    by_count = []
    for n in range(d + 1):
        vals = np.unique(f.table[c == n])
        if vals.size != 1:
            return None
        by_count.append(int(vals[0]))
    switch = [i for i in range(1, d + 1) if by_count[i] != by_count[i - 1]]
    W1 = np.ones((len(switch), d), dtype=np.int64)
    b1 = np.array([-(2 * i - d - 1) for i in switch], dtype=np.int64)
    W2 = np.array([(by_count[i] - by_count[i - 1]) // 2 for i in switch], dtype=np.int64)
    return SignNetwork(W1.reshape(len(switch), d), b1, W2, by_count[0] + int(W2.sum()))


# -- Python side -------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _candidates(d: int) -> ThresholdList:
    """Non-constant threshold functions of d variables (constants add nothing a bias cannot)."""
    L = threshold_functions(d)
    full = (1 << (1 << d)) - 1
    keep = (L.tables != 0) & (L.tables != np.uint64(full))
    return ThresholdList(d, L.tables[keep], L.weights[keep], L.bias[keep])


@functools.lru_cache(maxsize=8)
def _positive_lists(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Positive threshold functions of j = 0..k variables, concatenated, with start offsets.

    Only j >= 4 is ever looked up (fewer units are decided without a list), so for k <= 3 the lists
    are left empty.
    """
    lists = [positive_threshold_functions(j).tables if j >= 4 else np.zeros(0, np.uint64) for j in range(k + 1)]
    starts = np.cumsum([0] + [x.size for x in lists]).astype(np.int64)
    return np.concatenate(lists).astype(np.uint64), starts


def _cover_matrix(tables: np.ndarray, true_pts: np.ndarray, false_pts: np.ndarray) -> np.ndarray:
    """cover[c] = bitset of pairs (t, f) with h_c(t) = +1 and h_c(f) = -1; pair index = i |F| + j."""
    one = np.uint64(1)
    ht = ((tables[:, None] >> true_pts[None, :].astype(np.uint64)) & one).astype(bool)  # (C, |T|)
    hf = ((tables[:, None] >> false_pts[None, :].astype(np.uint64)) & one).astype(bool)  # (C, |F|)
    pairs = (ht[:, :, None] & ~hf[:, None, :]).reshape(tables.size, -1)  # (C, P)
    P = pairs.shape[1]
    W = (P + 63) // 64
    padded = np.zeros((tables.size, W * 64), dtype=bool)
    padded[:, :P] = pairs
    packed = np.packbits(padded.reshape(tables.size, W, 64), axis=2, bitorder="little")
    return np.ascontiguousarray(packed.view("<u8").reshape(tables.size, W))


@njit()
def _undominated(cover, order):  # pragma: no cover - compiled
    """Candidates (visited by decreasing coverage) whose cover is not strictly inside a kept one's.

    Equal covers are all kept, so the result is invariant under the symmetries of f.
    """
    keep = np.empty(order.shape[0], dtype=np.int64)
    n = 0
    W = cover.shape[1]
    for c in order:
        dominated = False
        for i in range(n):
            kc = keep[i]
            inside = True
            equal = True
            for w in range(W):
                if cover[c, w] & ~cover[kc, w]:
                    inside = False
                    break
                if cover[c, w] != cover[kc, w]:
                    equal = False
            if inside and not equal:
                dominated = True
                break
        if not dominated:
            keep[n] = c
            n += 1
    return keep[:n]


def search_width(f: BooleanFunction, k: int, max_nodes: int = 10**8) -> tuple[list[int] | None, int, bool]:
    """Indices (into ``_candidates(d)``) of k or fewer hidden units that work, or None; nodes; complete.

    First the covering relaxation: which units cover every (true, false) pair, separability aside.
    There a unit whose covered pairs lie inside another unit's can be swapped for the larger one, so
    only undominated units are searched. No cover: no network (proof done). A cover with k <= 3 units
    is a network (monotone = threshold on <= 3 variables). Otherwise the full search over all units.
    """
    cands = _candidates(f.d)
    true_pts = np.flatnonzero(f.table > 0).astype(np.int64)
    false_pts = np.flatnonzero(f.table < 0).astype(np.int64)
    cover = _cover_matrix(cands.tables, true_pts, false_pts)
    sizes = np.unpackbits(cover.view(np.uint8), axis=1).sum(axis=1)
    top = np.sort(_undominated(cover, np.argsort(-sizes, kind="stable").astype(np.int64)))
    units, nodes, complete = _run(f, cands, cover, top, k, max_nodes, true_pts, false_pts, relaxed=True)
    if units is None or k <= 3:
        return units, nodes, complete
    full = np.arange(cands.tables.size)
    units, more, complete = _run(f, cands, cover, full, k, max_nodes, true_pts, false_pts, relaxed=False)
    return units, nodes + more, complete


def _run(f, cands, cover_all, index, k, max_nodes, true_pts, false_pts, relaxed):  # type: ignore[no-untyped-def]
    cover = np.ascontiguousarray(cover_all[index])
    P = true_pts.size * false_pts.size
    per_pair = np.unpackbits(cover.view(np.uint8), axis=1, bitorder="little")[:, :P].sum(axis=0)
    order = np.argsort(per_pair, kind="stable").astype(np.int64)
    unc = np.zeros(cover.shape[1], dtype=np.uint64)
    for p in range(P):
        unc[p >> 6] |= np.uint64(1) << np.uint64(p & 63)
    pos_lists, pos_starts = _positive_lists(min(k, MAX_UNITS))
    chosen = np.zeros(k + 1, dtype=np.int64)
    forbidden = np.zeros(index.size, dtype=np.bool_)
    stats = np.array([0, max_nodes, -1], dtype=np.int64)  # nodes, budget, depth of the solution
    tables = np.ascontiguousarray(cands.tables[index])
    orbits = _orbits(f, tables)
    covering_root = int(np.count_nonzero((cover[:, order[0] >> 6] >> np.uint64(order[0] & 63)) & np.uint64(1)))
    if orbits is None or len(orbits) >= covering_root:
        found = _search(
            cover,
            tables,
            order,
            unc,
            0,
            k,
            chosen,
            forbidden,
            true_pts,
            false_pts,
            pos_lists,
            pos_starts,
            stats,
            relaxed,
        )
    else:
        # symmetry: some unit of a solution lies in the first orbit it meets; an automorphism of f moves
        # it to that orbit's representative. So the first unit ranges over representatives, and each
        # finished orbit is excluded from the later ones.
        found = False
        new = np.empty_like(unc)
        for members in orbits:
            rep = int(members[0])
            chosen[0] = rep
            np.bitwise_and(unc, ~cover[rep], out=new)
            stats[0] += 1
            if _search(
                cover,
                tables,
                order,
                new,
                1,
                k,
                chosen,
                forbidden,
                true_pts,
                false_pts,
                pos_lists,
                pos_starts,
                stats,
                relaxed,
            ):
                found = True
                break
            forbidden[members] = True
            if stats[0] > max_nodes:
                break
    nodes = int(stats[0])
    complete = found or nodes <= max_nodes
    if not found:
        return None, nodes, complete
    return index[chosen[: int(stats[2])]].tolist(), nodes, True


def _orbits(f: BooleanFunction, tables: np.ndarray) -> list[np.ndarray] | None:
    """Orbits of the candidate units under the automorphisms of f (input permutations and negations
    with f(e x) = f(x)), largest coverage first; None when f has no symmetry but the identity."""
    if f.d > 5:
        return None
    auts = [e.source() for e in group(f.d, negate_output=False) if np.array_equal(f.table[e.source()], f.table)]
    if len(auts) <= 1:
        return None
    images = np.stack([transform(tables, src) for src in auts])
    canon = images.min(axis=0)
    position = {int(v): i for i, v in enumerate(tables.tolist())}
    if any(int(v) not in position for v in np.unique(images)):
        raise WitnessError("an automorphism of f maps a candidate unit outside the candidate list")
    _, first, inverse = np.unique(canon, return_index=True, return_inverse=True)
    groups = [np.flatnonzero(inverse == g) for g in np.argsort(first)]
    return groups


def _witness(f: BooleanFunction, cands: ThresholdList, units: list[int]) -> SignNetwork:
    """Hidden weights from the list, output weights from the exact LP on the hidden codes."""
    codes = [tuple(1 if (int(cands.tables[u]) >> x) & 1 else -1 for u in units) for x in range(f.table.size)]
    sep = separate(codes, f.table.tolist())
    if not sep.separable or sep.weights is None or sep.bias is None:
        raise WitnessError("the hidden codes of a found solution are not separable")
    return SignNetwork(cands.weights[units], cands.bias[units], np.array(sep.weights, dtype=np.int64), sep.bias)


def _check(net: SignNetwork, f: BooleanFunction) -> None:
    ev = verify(net, f)
    if not ev.ok:
        raise WitnessError(f"witness network fails on input {ev.first_mismatch} ({ev})")


def min_width(f: Any, d: int | None = None, max_width: int = MAX_UNITS, max_nodes: int = 10**8) -> MinWidthResult:
    """The minimum number of hidden units for f (d <= 5), with a witness network checked on every input."""
    fn = f if isinstance(f, BooleanFunction) else boolean_function(f, d)
    if fn.d > MAX_D:
        raise TooLargeError(
            f"minimum width is searched for d <= {MAX_D}: for d = {fn.d} the candidate hidden units are the "
            f"threshold functions of {fn.d} variables (15,028,134 for d = 6), too many for an exact search"
        )
    t0 = time.perf_counter()
    upper = construct(fn)
    sym = symmetric_network(fn)
    if sym is not None and sym.k < upper.k:
        upper = sym
    proof: list[str] = []
    nodes: dict[int, int] = {}
    if fn.n_true in (0, fn.table.size):
        _check(upper, fn)
        return MinWidthResult(
            fn, 0, 0, upper, True, ["constant: the output bias alone"], nodes, time.perf_counter() - t0
        )
    proof.append("width >= 1: f is not constant")
    r = threshold(fn)
    if r.is_threshold:
        net = r.network()
        _check(net, fn)
        return MinWidthResult(
            fn, 1, 1, net, True, [*proof, "width 1: f is a threshold function"], nodes, time.perf_counter() - t0
        )
    proof.append("width >= 2: f is not a threshold function (exact Radon certificate)")
    cands = _candidates(fn.d)
    limit = min(max_width, MAX_UNITS)
    for k in range(2, upper.k):  # every width below the known network's
        if k > limit:
            proof.append(f"widths {k} .. {upper.k - 1} not searched (limit {limit} units)")
            _check(upper, fn)
            return MinWidthResult(fn, upper.k, k, upper, False, proof, nodes, time.perf_counter() - t0)
        units, n, complete = search_width(fn, k, max_nodes)
        nodes[k] = n
        if units is not None:
            net = _witness(fn, cands, units)
            _check(net, fn)
            proof.append(f"width {len(units)}: witness network found and checked on all {fn.table.size} inputs")
            return MinWidthResult(fn, len(units), len(units), net, True, proof, nodes, time.perf_counter() - t0)
        if not complete:
            proof.append(f"search for {k} units stopped after {n:,} nodes (budget): width >= {k} not decided")
            _check(upper, fn)
            return MinWidthResult(fn, upper.k, k, upper, False, proof, nodes, time.perf_counter() - t0)
        proof.append(f"width >= {k + 1}: no {k} threshold units work (exhaustive search, {n:,} nodes)")
    _check(upper, fn)
    how = "the symmetric-function construction" if upper is sym else "the construction"
    proof.append(f"width {upper.k}: {how}, checked on all {fn.table.size} inputs")
    return MinWidthResult(fn, upper.k, upper.k, upper, True, proof, nodes, time.perf_counter() - t0)


@dataclass(frozen=True)
class Distribution:
    """Minimum widths of all 2^(2^d) functions of d variables, computed once per NPN class.

    ``classes`` lists (representative table value, class size, width, exact); ``counts`` maps width to
    the number of functions; ``checked`` is how many functions had their own witness (the class
    witness moved by the group element) evaluated on every input.
    """

    d: int
    classes: list[tuple[int, int, int, bool]]
    counts: dict[int, int]
    checked: int
    seconds: float

    @property
    def exact(self) -> bool:
        return all(c[3] for c in self.classes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "d": self.d,
            "functions": sum(self.counts.values()),
            "npn_classes": len(self.classes),
            "min_width_counts": {str(k): v for k, v in sorted(self.counts.items())},
            "all_exact": self.exact,
            "functions_checked_with_their_own_witness": self.checked,
            "classes": [
                {"representative": f"0x{v:0{max(1, (1 << self.d) // 4)}x}", "size": n, "min_width": w, "exact": x}
                for v, n, w, x in self.classes
            ],
            "seconds": round(self.seconds, 2),
        }


@functools.lru_cache(maxsize=4)
def width_distribution(d: int, max_nodes: int = 10**8) -> Distribution:
    """Minimum widths over all functions of d <= 4 variables, via NPN classes, every function certified."""
    if d > 4:
        raise TooLargeError("the distribution covers all 2^(2^d) functions; d <= 4 (d = 5 has 616,126 NPN classes)")
    t0 = time.perf_counter()
    rows, counts, checked = _class_rows(d, canonical_classes(d), max_nodes)
    return Distribution(d, rows, counts, checked, time.perf_counter() - t0)


def width_rows(
    d: int, start: int, stop: int, max_nodes: int = 10**8, step: int = 1
) -> tuple[list[tuple[int, int, int, bool]], dict[int, int], int]:
    """``width_distribution`` on the NPN classes ``range(start, stop, step)`` only: (rows, counts by width,
    functions checked).

    Over a partition of the classes the rows (put back in class order) are the distribution's, and
    counts and checks add up.
    """
    classes = npn_classes(d)
    return _class_rows(d, [classes[c] for c in range(max(start, 0), min(stop, len(classes)), step)], max_nodes)


@functools.lru_cache(maxsize=4)
def npn_classes(d: int) -> tuple[np.ndarray, ...]:
    """``npn.canonical_classes(d)``, computed once per process (2 s for d = 4; chunks of a survey share it)."""
    if d > 4:
        raise TooLargeError("the distribution covers all 2^(2^d) functions; d <= 4 (d = 5 has 616,126 NPN classes)")
    return tuple(canonical_classes(d))


def _class_rows(
    d: int, classes: list[np.ndarray], max_nodes: int
) -> tuple[list[tuple[int, int, int, bool]], dict[int, int], int]:
    X = np.array([[1 if (i >> j) & 1 else -1 for j in range(d)] for i in range(1 << d)], dtype=np.int64)
    rows: list[tuple[int, int, int, bool]] = []
    counts: dict[int, int] = {}
    checked = 0
    for members in classes:
        rep = int(members.min())
        f = BooleanFunction(d, np.array([1 if (rep >> i) & 1 else -1 for i in range(1 << d)], dtype=np.int8))
        r = min_width(f, max_nodes=max_nodes)
        rows.append((rep, int(members.size), r.width, r.exact))
        counts[r.width] = counts.get(r.width, 0) + int(members.size)
        # every member m = e^-1 rep gets the moved witness, checked on all inputs
        _, arg, G = canonical(members, d)
        net = r.network
        bits = (members[:, None] >> np.arange(1 << d, dtype=np.uint64)[None, :]) & np.uint64(1)
        want = np.where(bits == 1, 1, -1)  # (M, 2^d)
        for m, g, row in zip(members.tolist(), arg.tolist(), want, strict=True):
            e = G[g]
            # inverse of (p, s, o): p^-1, s'_i = s_{p^-1(i)}; W1'[:, p'(j)] = s'_j W1[:, j] (npn.transform_network)
            inv_p = np.argsort(e.p)
            inv_s = np.asarray(e.s)[inv_p]
            W1 = np.zeros_like(net.W1)
            W1[:, inv_p] = net.W1 * inv_s
            h = np.sign(X @ W1.T + net.b1)
            out = np.sign(h @ (e.o * net.W2) + e.o * net.b2)
            if not np.array_equal(out, row):
                raise WitnessError(f"the moved witness for 0x{m:x} (class of 0x{rep:x}) fails")
            checked += 1
    return rows, counts, checked


__all__ = [
    "Distribution",
    "MinWidthResult",
    "min_width",
    "npn_classes",
    "search_width",
    "width_distribution",
    "width_rows",
]
