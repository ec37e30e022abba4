"""The verifier's own power, measured: faults injected into derivative rules, each of which must be caught.

Every ``Mutant`` patches one rule (of ``symnn.diff`` or of the executor, through
``symnn.registry.override``) for the duration of a ``with`` block: a wrong sign, a dropped
term, a missing transpose, a window off by one, a wrong kink convention, a wrong broadcast
reduction. The *conditional* mutants (``CONDITIONAL``) fire only on some shapes -- a softmax
VJP off by 1e-7 only when its axis is longer than 3, a window transpose wrong only for kernels
larger than 2 with stride > 1, ... -- as real shape-dependent code does; each also names
``silent`` cases where it must not fire, and their score is reported apart.
``run_mutants`` first checks that each
mutant's graphs pass ``gradcheck`` unmutated, then runs ``gradcheck`` under the mutant; the
mutant is *caught* when some (path, oracle) pair fails. ``python -m verify.mutation`` runs the
full set (more graphs per mutant, generated kernels included) and exits 1 on any survivor.

>>> result = run_mutants([MUTANTS[0]])
>>> result.catch_rate, result.survivors
(1.0, [])
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sympy.core.cache import clear_cache

import symnn.diff as diff
import symnn.executor  # noqa: F401  (registers the executor's "exec.*" parts, which a mutant patches)
from symnn import registry, zoo
from symnn.functions import relu, step
from symnn.ir import Graph
from symnn.layers import MLP
from symnn.ops import Einsum, Elementwise, LogSumExp, Op, Window
from symnn.trace import trace

from .gradients import gradcheck
from .spec import OP_SPECS

Patch = Callable[[], contextlib.AbstractContextManager[None]]


@dataclass(frozen=True)
class Case:
    """A graph that exercises a mutated rule, and optionally the point to check it at."""

    name: str
    graph: Callable[[], Graph]
    point: Callable[[Graph], dict[str, np.ndarray]] | None = None


@dataclass(frozen=True)
class Mutant:
    """A fault in a derivative rule: ``patch()`` applies it inside a ``with`` block."""

    name: str
    fault: str
    patch: Patch
    cases: tuple[Case, ...]
    full_cases: tuple[Case, ...] = ()
    #: cases where a conditional mutant must NOT fire (its condition is false there); empty: unconditional
    silent: tuple[Case, ...] = ()

    @property
    def conditional(self) -> bool:
        return bool(self.silent)


# -- patching helpers -------------------------------------------------------------------------------
@contextlib.contextmanager
def _override(op: type[Op], part: str, make: Callable[[Any], Any]) -> Iterator[None]:
    """``part`` of ``op`` replaced by ``make(original)`` in the registry, derivative caches cleared around it."""
    with registry.override(op, part, make):
        _clear_caches()
        try:
            yield
        finally:
            _clear_caches()


@contextlib.contextmanager
def _swap_attr(owner: Any, name: str, make: Callable[[Any], Any]) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, make(original))
    _clear_caches()
    try:
        yield
    finally:
        setattr(owner, name, original)
        _clear_caches()


def _clear_caches() -> None:
    """Derivative caches that would otherwise outlive a patch (sympy's, and symnn.diff's derivative bodies)."""
    clear_cache()
    diff.clear_caches()


def _map_results(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A rule wrapper applying ``f`` to each non-None contribution of a VJP (or transpose) rule."""

    def wrap(rule: Any) -> Any:
        def mutated(*args: Any) -> Any:
            return [None if r is None else f(r) for r in rule(*args)]

        return mutated

    return wrap


# -- the faults -----------------------------------------------------------------------------------------
def _wrong_sign() -> contextlib.AbstractContextManager[None]:
    return _override(Elementwise, "vjp", _map_results(lambda t: -t))


def _dropped_vjp_term() -> contextlib.AbstractContextManager[None]:
    def wrap(rule: Any) -> Any:
        def mutated(*args: Any) -> Any:
            res = rule(*args)
            return res[:1] + [None] * (len(res) - 1)  # only the first argument gets its term

        return mutated

    return _override(Elementwise, "vjp", wrap)


def _dropped_jvp_term() -> contextlib.AbstractContextManager[None]:
    def wrap(rule: Any) -> Any:
        def mutated(op: Any, primals: Any, out: Any, tangents: Any) -> Any:
            live = [k for k, t in enumerate(tangents) if t is not None]
            kept = [t if k == live[0] else None for k, t in enumerate(tangents)]
            return rule(op, primals, out, kept)  # d(AB) = dA B, the A dB term dropped

        return mutated

    return _override(Einsum, "jvp", wrap)


def _missing_transpose() -> contextlib.AbstractContextManager[None]:
    def transpose_square(t: Any) -> Any:
        return t.T if t.ndim == 2 and t.shape[0] == t.shape[1] else t

    return _override(Einsum, "vjp", _map_results(transpose_square))


def _window_off_by_one() -> contextlib.AbstractContextManager[None]:
    def shift(t: Any) -> Any:
        # the scattered windows land one position further along the last spatial axis
        n = t.ndim
        stop = tuple(t.shape[:-1]) + (t.shape[-1] - 1,)
        return t.slice((0,) * n, stop).pad((0,) * (n - 1) + (1,), (0,) * n)

    # Window's transpose is the Fold its VJP is built from; Window's JVP (Window itself) stays right
    return _override(Window, "transpose", _map_results(shift))


def _kink_convention() -> contextlib.AbstractContextManager[None]:
    def make(original: Any) -> Any:
        def fdiff(self: Any, argindex: int = 1) -> Any:
            return 1 - step(-self.args[0])  # relu'(0) = 1 instead of 0

        return fdiff

    return _swap_attr(relu, "fdiff", make)


def _broadcast_reduction() -> contextlib.AbstractContextManager[None]:
    def make(original: Any) -> Any:
        def mean_instead_of_sum(t: Any, shape: tuple[int, ...]) -> Any:
            out = original(t, shape)
            return out if t.shape == tuple(shape) else out * (math.prod(shape) / math.prod(t.shape))

        return mean_instead_of_sum

    return _swap_attr(diff, "unbroadcast", make)


def _executor_sign() -> contextlib.AbstractContextManager[None]:
    def wrap(rule: Any) -> Any:
        def mutated(*args: Any) -> Any:
            return [None if r is None else -r for r in rule(*args)]

        return mutated

    return _override(Elementwise, "exec.vjp", wrap)


# -- conditional faults: each fires only on some shapes ------------------------------------------------------
def _when(condition: Callable[..., bool], change: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A rule wrapper applying ``change`` to each non-None result only when ``condition(op, primals)`` holds."""

    def wrap(rule: Any) -> Any:
        def mutated(op: Any, primals: Any, *rest: Any) -> Any:
            res = rule(op, primals, *rest)
            if not condition(op, primals):
                return res
            return [None if r is None else change(r) for r in res] if isinstance(res, list) else change(res)

        return mutated

    return wrap


def _long_axis(op: Any, primals: Any) -> bool:
    return bool(primals[0].shape[op.axis] > 3)


def _softmax_vjp_above_3() -> contextlib.AbstractContextManager[None]:
    return _override(LogSumExp, "vjp", _when(_long_axis, lambda t: t + 1e-7))


def _logsumexp_jvp_above_3() -> contextlib.AbstractContextManager[None]:
    return _override(LogSumExp, "jvp", _when(_long_axis, lambda t: t * (1 + 1e-7)))


def _strided_window(op: Any, primals: Any) -> bool:
    return max(op.kernel) > 2 and max(op.stride) > 1


def _shifted(t: Any) -> Any:
    n = t.ndim
    stop = tuple(t.shape[:-1]) + (t.shape[-1] - 1,)
    return t.slice((0,) * n, stop).pad((0,) * (n - 1) + (1,), (0,) * n)


def _window_strided_transpose() -> contextlib.AbstractContextManager[None]:
    return _override(Window, "transpose", _when(_strided_window, _shifted))


def _wide_operand(op: Any, primals: Any) -> bool:
    return any(max(p.shape, default=0) > 4 for p in primals)


def _einsum_vjp_wide() -> contextlib.AbstractContextManager[None]:
    return _override(Einsum, "vjp", _when(_wide_operand, lambda t: t * (1 + 1e-7)))


def _unbroadcast_odd() -> contextlib.AbstractContextManager[None]:
    def make(original: Any) -> Any:
        def pairwise(t: Any, shape: tuple[int, ...]) -> Any:
            # an unrolled-by-two reduction that drops the odd one out of an odd summed axis longer than 2
            lead = t.ndim - len(shape)
            axes = list(range(lead)) + [lead + k for k, n in enumerate(shape) if n == 1 and t.shape[lead + k] != 1]
            odd = [a for a in axes if t.shape[a] % 2 and t.shape[a] > 2]
            if odd:
                t = t.take(odd[0], 0, t.shape[odd[0]] - 1)
            return original(t, shape)

        return pairwise

    return _swap_attr(diff, "unbroadcast", make)


# -- the graphs ------------------------------------------------------------------------------------------
def _zoo(spec: str) -> Case:
    def graph() -> Graph:
        return zoo.resolve(spec).graph()

    return Case(spec, graph)


def _spec_row(name: str) -> Case:
    def graph() -> Graph:
        return OP_SPECS[name].graph()

    return Case(f"spec row {name}", graph)


def _relu_mlp() -> Graph:
    return trace(MLP((3, 4, 1), "relu"), "mse", {"x": (2, 3)})


def _on_the_kinks(graph: Graph) -> dict[str, np.ndarray]:
    """First-layer weights and biases zero: every hidden relu sits exactly on its kink."""
    rng = np.random.default_rng(0)
    point = {n.op.name: rng.uniform(-1, 1, n.shape) for n in graph.leaves()}  # type: ignore[attr-defined]
    point["0.W"] = np.zeros_like(point["0.W"])
    point["0.b"] = np.zeros_like(point["0.b"])
    return point


MUTANTS: list[Mutant] = [
    Mutant(
        "wrong-sign", "symbolic VJP of Elementwise negated", _wrong_sign, (_zoo("mlp:3-4-1"),), (_zoo("transformer"),)
    ),
    Mutant(
        "dropped-vjp-term",
        "symbolic VJP of Elementwise keeps only its first argument's term",
        _dropped_vjp_term,
        (_zoo("mlp:3-4-1"),),
        (_zoo("resnet"),),
    ),
    Mutant(
        "dropped-jvp-term",
        "symbolic JVP of Einsum drops the product rule's second term",
        _dropped_jvp_term,
        (_zoo("attention"),),
        (_zoo("mha"),),
    ),
    Mutant(
        "missing-transpose",
        "symbolic VJP of Einsum transposes square cotangents",
        _missing_transpose,
        (_zoo("mlp:3-3-1"),),
        (_zoo("attention"),),
    ),
    Mutant(
        "window-off-by-one",
        "symbolic transpose of Window (the Fold of its VJP) shifted by one position",
        _window_off_by_one,
        (_spec_row("Window"),),
        (_spec_row("Window:3d"), _zoo("resnet")),
    ),
    Mutant(
        "kink-convention",
        "symbolic relu'(0) = 1 instead of 0",
        _kink_convention,
        (Case("relu MLP on its kinks", _relu_mlp, _on_the_kinks),),
    ),
    Mutant(
        "broadcast-reduction",
        "symbolic unbroadcast takes the mean instead of the sum",
        _broadcast_reduction,
        (_zoo("mlp:3-4-1"),),
        (_zoo("conv"),),
    ),
    Mutant("executor-sign", "executor VJP of Elementwise negated", _executor_sign, (_zoo("mlp:3-4-1"),)),
]

#: Faults that fire only on some shapes; ``silent`` are cases where they must not fire.
CONDITIONAL: list[Mutant] = [
    Mutant(
        "softmax-vjp-above-3",
        "symbolic VJP of LogSumExp (softmax) off by 1e-7 when its axis is longer than 3",
        _softmax_vjp_above_3,
        (_zoo("classifier"),),
        silent=(_zoo("conv"),),
    ),
    Mutant(
        "lse-jvp-above-3",
        "symbolic JVP of LogSumExp off by a relative 1e-7 when its axis is longer than 3",
        _logsumexp_jvp_above_3,
        (_zoo("classifier"),),
        silent=(_zoo("conv"),),
    ),
    Mutant(
        "window-strided-transpose",
        "symbolic transpose of Window shifted by one only for kernels > 2 with stride > 1",
        _window_strided_transpose,
        (_zoo("convstack"),),
        silent=(_spec_row("Window"), _zoo("convstack:6-2-2")),
    ),
    Mutant(
        "einsum-vjp-wide",
        "symbolic VJP of Einsum off by a relative 1e-7 when an operand has an axis longer than 4",
        _einsum_vjp_wide,
        (_zoo("classifier"),),
        silent=(_zoo("mlp:3-4-1"),),
    ),
    Mutant(
        "unbroadcast-odd",
        "symbolic unbroadcast drops the last entry of an odd summed axis longer than 2",
        _unbroadcast_odd,
        (_zoo("convstack"),),
        silent=(_zoo("mlp:3-4-1"),),
    ),
]


# -- running ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """One mutant on one case: caught or not, and by which (path, oracle) pairs."""

    mutant: str
    case: str
    caught: bool
    caught_by: tuple[str, ...]
    seconds: float


@dataclass
class MutationResult:
    """All outcomes, with the catch rate and the survivors."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def catch_rate(self) -> float:
        return sum(o.caught for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    @property
    def survivors(self) -> list[str]:
        return [f"{o.mutant} on {o.case}" for o in self.outcomes if not o.caught]

    def score(self, names: Sequence[str]) -> tuple[int, int]:
        """(caught, runs) over the outcomes of the mutants ``names``."""
        runs = [o for o in self.outcomes if o.mutant in names]
        return sum(o.caught for o in runs), len(runs)

    def table(self) -> str:
        lines = [f"{'mutant':24}  {'case':28}  {'verdict':8}  caught by"]
        for o in self.outcomes:
            verdict = "caught" if o.caught else "SURVIVED"
            lines.append(f"{o.mutant:24}  {o.case[:28]:28}  {verdict:8}  {', '.join(o.caught_by)}")
        lines.append(
            f"\ncatch rate {self.catch_rate:.0%} ({len(self.outcomes)} runs); survivors: {self.survivors or 'none'}"
        )
        caught, runs = self.score([m.name for m in CONDITIONAL])
        if runs:
            lines.append(f"conditional mutants (shape-dependent faults): {caught} of {runs} runs caught")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        caught, runs = self.score([m.name for m in CONDITIONAL])
        return {
            "catch_rate": self.catch_rate,
            "conditional": {"caught": caught, "runs": runs},
            "survivors": self.survivors,
            "outcomes": [o.__dict__ for o in self.outcomes],
        }


class BaselineError(RuntimeError):
    """A case fails gradcheck without any mutant: catching a mutant there would prove nothing."""


def _check(case: Case, graph: Graph, paths: Sequence[str]) -> Any:
    point = case.point(graph) if case.point else None
    return gradcheck(graph, point, paths=paths, locate=False, name=case.name)


def run_mutants(
    mutants: Sequence[Mutant] = MUTANTS, full: bool = False, paths: Sequence[str] | None = None
) -> MutationResult:
    """Run each mutant on its cases (``full``: also the larger cases, and the generated kernel)."""
    paths = tuple(paths) if paths else (("symbolic", "kernel", "executor") if full else ("symbolic", "executor"))
    result = MutationResult()
    for m in mutants:
        for case in m.cases + (m.full_cases if full else ()):
            graph = case.graph()
            base = _check(case, graph, paths)
            if not base.ok:
                raise BaselineError(f"{case.name} fails gradcheck without a mutant:\n{base.table()}")
            t = time.perf_counter()
            with m.patch():
                try:
                    report = _check(case, graph, paths)
                    by = tuple(f"{r.path}/{r.oracle}" for r in report.rows if r.verdict in ("FAIL", "error"))
                    caught = not report.ok
                except Exception as e:  # a mutant that crashes the check is caught, loudly
                    by, caught = (f"crash: {type(e).__name__}",), True
            result.outcomes.append(Outcome(m.name, case.name, caught, by, round(time.perf_counter() - t, 3)))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m verify.mutation [NAME ...] [--quick] [--json]``: exit 1 if any mutant survives."""
    p = argparse.ArgumentParser(prog="python -m verify.mutation", description=__doc__.splitlines()[0])
    every = MUTANTS + CONDITIONAL
    p.add_argument("names", nargs="*", help=f"mutants to run (default: all): {', '.join(m.name for m in every)}")
    p.add_argument("--quick", action="store_true", help="the CI subset: one small case per mutant, no kernels")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    known = {m.name: m for m in every}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        p.error(f"unknown mutants {unknown}; known: {', '.join(known)}")
    chosen = [known[n] for n in args.names] if args.names else every
    result = run_mutants(chosen, full=not args.quick)
    print(json.dumps(result.to_json(), indent=2) if args.json else result.table())
    return 0 if not result.survivors else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
