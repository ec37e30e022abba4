"""One-hidden-layer sign networks, and the construction that represents any boolean function.

The notes write f_sign(x) = sign(W2 sign(W1 x + b1)) + b2. Read literally the output bias sits
outside the sign and the output is not in {-1,+1} unless b2 = 0; symnn reads it, as the notes'
claim "represents every boolean function g: {-1,+1}^d -> {-1,+1}" requires, as

    f(x) = sign(W2 . sign(W1 x + b1) + b2),   W1: (k, d), b1: (k,), W2: (k,), b2 scalar,

with sign(0) = 0 (symnn's convention). ``construct(..., literal=True)`` gives a network with b2 = 0,
which is also a network of the literal formula: the bias moves to one extra hidden unit that is
always +1 (a zero row of W1 with b1 = 1).

Construction (for #true <= #false; otherwise the same on the false points with the output negated):
one hidden unit per true point p, h_p(x) = sign(p . x - (d - 1)), which is +1 iff x = p, because
p . x = d at x = p and p . x <= d - 2 elsewhere; the output sign(sum_p h_p(x) + m - 1) over the m
units is +1 iff some h_p is +1. Every pre-activation is odd, so no sign() ever sees 0: the hidden
margins are at least 1, the output margin is exactly 1.

>>> from verify.boolean.table import boolean_function
>>> net = construct(boolean_function("parity:2"))
>>> net.k, net.W1.tolist(), net.b1.tolist(), net.W2.tolist(), net.b2
(2, [[1, -1], [-1, 1]], [-1, -1], [1, 1], 1)
>>> [net((a, b)) for b in (-1, 1) for a in (-1, 1)]
[-1, 1, 1, -1]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from symnn.functions import sgn
from symnn.ir import Builder, Graph, einsum

from .errors import NetworkError, TooLargeError, format_seconds
from .table import BooleanFunction, boolean_function

INT_LIMIT = 2**62  # |weight| bound: sums of a few stay far from int64 overflow
MAX_CONSTRUCT_WEIGHTS = 50_000_000  # k x d of a constructed network (400 MB of int64)


@dataclass(frozen=True, eq=False)
class SignNetwork:
    """f(x) = sign(W2 . sign(W1 x + b1) + b2) with sign(0) = 0; integer weights are evaluated exactly."""

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: int | float

    def __post_init__(self) -> None:
        W1, b1, W2 = (_weights(a, name) for a, name in ((self.W1, "W1"), (self.b1, "b1"), (self.W2, "W2")))
        b2 = _weights(np.asarray(self.b2), "b2")
        if W1.ndim != 2 or b1.shape != (W1.shape[0],) or W2.shape != (W1.shape[0],) or b2.ndim != 0:
            raise NetworkError(
                f"sign network shapes must be W1 (k, d), b1 (k,), W2 (k,), b2 scalar; got W1 {W1.shape}, "
                f"b1 {b1.shape}, W2 {W2.shape}, b2 {b2.shape}"
            )
        integral = all(a.dtype.kind == "i" for a in (W1, b1, W2, b2))
        if not integral:
            W1, b1, W2, b2 = (a.astype(np.float64) for a in (W1, b1, W2, b2))
        for a in (W1, b1, W2):
            a.setflags(write=False)
        object.__setattr__(self, "W1", W1)
        object.__setattr__(self, "b1", b1)
        object.__setattr__(self, "W2", W2)
        object.__setattr__(self, "b2", b2.item())

    @property
    def d(self) -> int:
        return int(self.W1.shape[1])

    @property
    def k(self) -> int:
        """Number of hidden units."""
        return int(self.W1.shape[0])

    @property
    def integral(self) -> bool:
        return self.W1.dtype.kind == "i"

    def __call__(self, x: Any) -> int:
        """f(x) at one point x in {-1,+1}^d, in exact arithmetic for integer weights."""
        xs = np.asarray(x)
        if xs.shape != (self.d,):
            raise NetworkError(f"the network takes points of {self.d} coordinates, got shape {xs.shape}")
        h = [_sign(sum(int(w) * int(v) for w, v in zip(row, xs.tolist(), strict=True)) + b) for row, b in self._rows()]
        return _sign(sum(w * s for w, s in zip(self._w2(), h, strict=True)) + self._b2())

    def _rows(self) -> list[tuple[list[Any], Any]]:
        conv = int if self.integral else float
        return [([conv(w) for w in row], conv(b)) for row, b in zip(self.W1.tolist(), self.b1.tolist(), strict=True)]

    def _w2(self) -> list[Any]:
        return [int(w) if self.integral else float(w) for w in self.W2.tolist()]

    def _b2(self) -> Any:
        return int(self.b2) if self.integral else float(self.b2)

    def params(self) -> dict[str, np.ndarray]:
        """Parameter values for ``graph()`` (float64, as symnn's evaluators take them)."""
        out = {"b2": np.asarray(float(self.b2))}
        if self.k:
            out |= {
                "W1": self.W1.astype(np.float64),
                "b1": self.b1.astype(np.float64),
                "W2": self.W2.astype(np.float64),
            }
        return out

    def graph(self, batch: int = 1) -> Graph:
        """The network as a symnn Graph: input "x" (batch, d), params W1, b1, W2, b2, output "out" (batch,).

        With k = 0 hidden units (a constant function) the graph is sign(b2) broadcast over the batch.
        """
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise NetworkError(f"batch must be a positive integer, got {batch!r}")
        b = Builder()
        x = b.input("x", (int(batch), self.d))
        b2 = b.param("b2", ())
        if self.k == 0:
            return b.build(b2.broadcast_to((int(batch),)).map(sgn), names=["out"])
        W1 = b.param("W1", (self.k, self.d))
        b1 = b.param("b1", (self.k,))
        W2 = b.param("W2", (self.k,))
        with b.scope("hidden"):
            h = (einsum("ni,ki->nk", x, W1) + b1).map(sgn)
        with b.scope("output"):
            out = (einsum("nk,k->n", h, W2) + b2).map(sgn)
        return b.build(out, names=["out"])

    def max_abs_preactivation(self) -> tuple[int | float, int | float]:
        """Bounds on |W1 x + b1| and |W2 h + b2| over all x (sums of absolute values)."""
        hid = np.abs(self.W1).sum(axis=1) + np.abs(self.b1) if self.k else np.zeros(0)
        h = max(hid.tolist(), default=0)
        o = sum(abs(w) for w in self._w2()) + abs(self._b2())
        return h, o

    def to_json(self) -> dict[str, Any]:
        conv = int if self.integral else float
        return {
            "d": self.d,
            "k": self.k,
            "W1": [[conv(w) for w in row] for row in self.W1.tolist()],
            "b1": [conv(v) for v in self.b1.tolist()],
            "W2": [conv(v) for v in self.W2.tolist()],
            "b2": conv(self.b2),
            "formula": "sign(W2 . sign(W1 x + b1) + b2), sign(0) = 0",
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any] | str) -> SignNetwork:
        """A network from ``to_json()`` output (a dict or its JSON text)."""
        if isinstance(doc, str):
            try:
                doc = json.loads(doc)
            except json.JSONDecodeError as e:
                raise NetworkError(f"the network file is not JSON: {e}") from None
        if not isinstance(doc, dict) or not {"W1", "b1", "W2", "b2"} <= set(doc):
            raise NetworkError(
                "a network needs the keys W1, b1, W2, b2 (as written by `symnn boolean construct --json`)"
            )
        W1 = doc["W1"]
        d = doc.get("d")
        if isinstance(W1, list) and not W1:
            if not isinstance(d, int):
                raise NetworkError("a network with no hidden units needs its input size as key d")
            W1 = np.zeros((0, d), dtype=np.int64)
        return cls(
            W1,
            doc["b1"] if doc["b1"] else np.zeros(0, np.int64),
            doc["W2"] if doc["W2"] else np.zeros(0, np.int64),
            doc["b2"],
        )


def _sign(v: Any) -> int:
    return (v > 0) - (v < 0)


def _weights(a: Any, name: str) -> np.ndarray:
    try:
        arr = np.array(a)
    except Exception as e:
        raise NetworkError(f"{name} is not an array of numbers: {e}") from None
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        if arr.size == 0:
            return arr.astype(np.int64)
        raise NetworkError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise NetworkError(f"{name} holds non-finite values")
        return arr.astype(np.float64)
    if arr.size and max(abs(int(v)) for v in arr.ravel().tolist()) >= INT_LIMIT:
        raise NetworkError(f"{name} has an integer weight of magnitude >= 2^62; rescale the network")
    return arr.astype(np.int64)


def construct(f: Any, d: int | None = None, literal: bool = False) -> SignNetwork:
    """A sign network with integer weights and min(#true, #false) hidden units that computes f exactly.

    ``f`` is anything ``boolean_function`` reads. With ``literal=True`` the output bias is carried by
    one extra always-on hidden unit and b2 = 0, so the network also fits the notes' formula as written.
    """
    fn = f if isinstance(f, BooleanFunction) else boolean_function(f, d)
    m = min(fn.n_true, fn.n_false)
    if m * max(fn.d, 1) > MAX_CONSTRUCT_WEIGHTS:
        raise TooLargeError(
            f"the construction for this function of d = {fn.d} variables has {m:,} hidden units "
            f"({m * fn.d * 8 / 2**30:.1f} GiB of weights; the limit is {MAX_CONSTRUCT_WEIGHTS:,} weights), "
            f"and checking it on all inputs would take about {format_seconds(2.0**fn.d * (m + 4) / 4e9)}"
        )
    true = np.flatnonzero(fn.table > 0)
    false = np.flatnonzero(fn.table < 0)
    pos = true.size <= false.size
    pts = true if pos else false
    m = int(pts.size)
    W1 = (2 * ((pts[:, None] >> np.arange(fn.d)) & 1) - 1).astype(np.int64).reshape(m, fn.d)
    b1 = np.full(m, -(fn.d - 1), dtype=np.int64)
    sgn_out = 1 if pos else -1
    W2 = np.full(m, sgn_out, dtype=np.int64)
    b2 = sgn_out * (m - 1)
    if m == 0:  # constant function: the output bias alone
        b2 = 1 if true.size else -1
    if literal:
        W1 = np.vstack([W1, np.zeros((1, fn.d), dtype=np.int64)])
        b1 = np.append(b1, 1)
        W2 = np.append(W2, b2)
        b2 = 0
    return SignNetwork(W1, b1, W2, b2)


__all__ = ["SignNetwork", "construct"]
