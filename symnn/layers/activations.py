"""Elementwise activations, the user's own activation, and normalization."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from ..errors import GraphError, UnsupportedFunctionError
from ..functions import canonicalize, relu, sgn, sigmoid
from ..ir import Tensor, arg_symbols
from .base import Layer, Params, check_rank, check_tensor, shape_error


@dataclass(frozen=True)
class Sigmoid:
    """f(x)_i = 1 / (1 + exp(-x_i)), evaluated stably."""

    def __str__(self) -> str:
        return "Sigmoid()"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        return x.map(sigmoid)


@dataclass(frozen=True)
class ReLU:
    """f(x)_i = max(0, x_i), with ReLU'(0) = 0."""

    def __str__(self) -> str:
        return "ReLU()"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        return x.map(relu)


@dataclass(frozen=True)
class Tanh:
    """f(x)_i = tanh(x_i)."""

    def __str__(self) -> str:
        return "Tanh()"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        return x.map(sp.tanh)


@dataclass(frozen=True)
class Sign:
    """f(x)_i = sign(x_i) with sign(0) = 0; its derivative is 0 everywhere (a.e. correct)."""

    def __str__(self) -> str:
        return "Sign()"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        return x.map(sgn)


@dataclass(frozen=True)
class Activation:
    """A user's own activation: the sympy expression ``expr`` in the one variable ``var``, elementwise.

    ``expr`` is canonicalized (``Max(0, x)`` becomes ``relu``, ``1/(1+exp(-x))`` becomes
    ``sigmoid``, ...); functions without a code generator raise ``UnsupportedFunctionError``.

    >>> x = sp.Symbol("x")
    >>> Activation(x * sp.tanh(x), x).fn
    Lambda(_a0, _a0*tanh(_a0))
    """

    expr: sp.Expr
    var: sp.Symbol
    fn: sp.Lambda = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.var, sp.Symbol):
            raise GraphError(f"Activation: var must be a sympy Symbol, got {self.var!r}")
        if isinstance(self.expr, str):  # sympify would evaluate the string as Python
            raise GraphError(
                f"Activation: got the string {self.expr!r}; "
                "expressions are SymPy objects; build it with sympy.Symbol(...)"
            )
        try:
            expr = sp.sympify(self.expr)
        except (sp.SympifyError, TypeError) as e:
            raise GraphError(f"Activation: {self.expr!r} is not a sympy expression") from e
        free = expr.free_symbols
        if free != {self.var}:
            names = sorted(map(str, free))
            raise GraphError(
                f"Activation({expr}, {self.var}): the expression must depend on exactly the variable "
                f"{self.var}, but its free symbols are {names}; substitute numbers for the others"
            )
        a0 = arg_symbols(1)[0]
        try:
            body = canonicalize(expr.xreplace({self.var: a0}))
        except UnsupportedFunctionError as e:
            raise UnsupportedFunctionError(f"Activation({expr}, {self.var}): {e}") from None
        object.__setattr__(self, "expr", expr)
        object.__setattr__(self, "fn", sp.Lambda((a0,), body))

    def __str__(self) -> str:
        return f"Activation({self.expr}, {self.var})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        with x.builder.scope(str(self)):
            return x.map(self.fn)


#: The default eps of ``Normalize``: exactly 1/100000.
EPS = sp.Rational(1, 10**5)

ACTIVATIONS: dict[str, Layer] = {"sigmoid": Sigmoid(), "relu": ReLU(), "tanh": Tanh(), "sign": Sign()}


def activation(spec: Any) -> Layer:
    """A layer from ``"relu" | "sigmoid" | "tanh" | "sign"``, a sympy expression in one symbol, or a layer."""
    if isinstance(spec, str):
        if spec.lower() not in ACTIVATIONS:
            raise GraphError(
                f"unknown activation {spec!r}; use one of {sorted(ACTIVATIONS)}, a sympy expression in one symbol, "
                "or a layer"
            )
        return ACTIVATIONS[spec.lower()]
    if isinstance(spec, sp.Basic):
        free = sorted(spec.free_symbols, key=str)
        if len(free) != 1:
            raise GraphError(
                f"an activation expression needs exactly one free symbol, {spec} has {[str(s) for s in free]}"
            )
        return Activation(spec, free[0])
    if callable(spec):
        return spec  # type: ignore[no-any-return]
    raise GraphError(f"cannot make an activation from {spec!r}")


@dataclass(frozen=True)
class Normalize:
    """The notes' normalization (x - mu) / sigma, with sigma = sqrt(var + eps) and no affine parameters.

    ``kind="layer"`` takes mu and var over the last axis (one statistic per example and
    position); ``kind="batch"`` takes them over the batch axis 0 (training statistics: the
    minibatch stands in for the notes' "whole dataset"). The variance is the biased one
    (divide by n), as in PyTorch.

    >>> from symnn.trace import trace
    >>> trace(Normalize(), shapes={"x": (2, 3)}).params
    {}
    """

    kind: str = "layer"
    eps: Any = EPS

    def __post_init__(self) -> None:
        if self.kind not in ("layer", "batch"):
            raise GraphError(f"Normalize: kind must be 'layer' or 'batch', got {self.kind!r}")
        if isinstance(self.eps, str):  # sympify would evaluate the string as Python
            raise GraphError(f"Normalize: eps must be a positive number, not the string {self.eps!r}")
        try:
            eps = sp.nsimplify(self.eps) if isinstance(self.eps, float) else sp.sympify(self.eps)
        except (sp.SympifyError, TypeError) as e:
            raise GraphError(f"Normalize: eps must be a positive number, got {self.eps!r}") from e
        if not (eps.is_number and eps.is_positive):
            raise GraphError(f"Normalize: eps must be a positive number, got {self.eps!r}")
        object.__setattr__(self, "eps", eps)

    def __str__(self) -> str:
        return f"Normalize({self.kind!r})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        axis = -1 if self.kind == "layer" else 0
        check_rank(self, x, 1, "(N, ...)", at_least=True)
        n = x.shape[axis]
        if n < 2:
            what, fix = ("last axis", "at least 2 features") if self.kind == "layer" else ("batch axis 0", "batch >= 2")
            raise shape_error(self, x, f"{what} has size {n}; normalizing a single value gives 0, use {fix}")
        eps = self.eps
        with x.builder.scope(str(self)):
            centered = x - x.mean(axis, keepdims=True)
            var = (centered * centered).mean(axis, keepdims=True)
            return x.builder.elementwise(lambda c, v: c / sp.sqrt(v + eps), centered, var)
