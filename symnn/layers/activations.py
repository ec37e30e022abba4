"""Elementwise activations, the user's own activation, and normalization."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from ..errors import GraphError, UnsupportedFunctionError
from ..functions import canonicalize, piecewise_to_step, relu, sgn, sigmoid, softplus, sympify_data
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
    ``sigmoid``, ...); functions without a code generator raise ``UnsupportedFunctionError``. A
    ``Piecewise`` becomes steps (``symnn.functions.piecewise_to_step``): at a boundary the value and
    the derivative are the branch the conditions select there.

    >>> x = sp.Symbol("x")
    >>> Activation(x * sp.tanh(x), x).fn
    Lambda(_a0, _a0*tanh(_a0))
    >>> Activation(sp.Piecewise((x, x > 0), (x / 10, True)), x).fn
    Lambda(_a0, 9*_a0*step(_a0)/10 + _a0/10)
    """

    expr: sp.Expr
    var: sp.Symbol
    fn: sp.Lambda = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.var, sp.Symbol):
            raise GraphError(f"Activation: var must be a sympy Symbol, got {self.var!r}")
        try:
            expr = sympify_data(self.expr, "Activation", GraphError)
        except (sp.SympifyError, TypeError) as e:
            raise GraphError(f"Activation: {self.expr!r} is not a sympy expression") from e
        if not isinstance(expr, sp.Expr):
            raise GraphError(f"Activation: expected a sympy expression, got the {type(expr).__name__} {self.expr!r}")
        free = expr.free_symbols
        if free != {self.var}:
            names = sorted(map(str, free))
            raise GraphError(
                f"Activation({expr}, {self.var}): the expression must depend on exactly the variable "
                f"{self.var}, but its free symbols are {names}; substitute numbers for the others"
            )
        a0 = arg_symbols(1)[0]
        try:
            body = canonicalize(piecewise_to_step(expr.xreplace({self.var: a0})))
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


def exact_number(owner: str, name: str, value: Any, positive: bool = False) -> sp.Expr:
    """``value`` as an exact sympy number (floats through their shortest decimal, so 0.01 is 1/100)."""
    try:
        v = (
            sp.nsimplify(repr(value))
            if isinstance(value, float)
            else sympify_data(value, f"{owner}: {name}", GraphError)
        )
    except (sp.SympifyError, TypeError) as e:
        raise GraphError(f"{owner}: {name} must be a number, got {value!r}") from e
    if (
        not isinstance(v, sp.Expr)
        or not (v.is_number and v.is_real and v.is_finite)
        or (positive and not v.is_positive)
    ):
        need = "a positive" if positive else "a real, finite"
        raise GraphError(f"{owner}: {name} must be {need} number, got {value!r}")
    return v


def gelu(x: sp.Expr, approximate: str = "none") -> sp.Expr:
    """GELU(x) = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2; ``"tanh"``: x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2."""
    if approximate == "tanh":
        return x * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (x + sp.Rational(44715, 10**6) * x**3))) / 2
    return x * (1 + sp.erf(x / sp.sqrt(2))) / 2


def leaky_relu(x: sp.Expr, slope: sp.Expr) -> sp.Expr:
    """LeakyReLU(x) = x if x > 0 else slope x, written slope x + (1 - slope) relu(x): LeakyReLU'(0) = slope."""
    return slope * x + (1 - slope) * relu(x)


def elu(x: sp.Expr, alpha: sp.Expr) -> sp.Expr:
    """ELU(x) = x if x > 0 else alpha (e^x - 1), written relu(x) + alpha (e^(x - relu(x)) - 1): ELU'(0) = alpha."""
    return relu(x) + alpha * (sp.exp(x - relu(x)) - 1)


@dataclass(frozen=True)
class GELU:
    """f(x)_i = x_i Phi(x_i) with Phi the standard normal CDF (erf form), or torch's ``approximate="tanh"`` form.

    >>> GELU()
    GELU(approximate='none')
    """

    approximate: str = "none"

    def __post_init__(self) -> None:
        if self.approximate not in ("none", "tanh"):
            raise GraphError(f"GELU: approximate must be 'none' or 'tanh', got {self.approximate!r}")

    def __str__(self) -> str:
        return "GELU()" if self.approximate == "none" else f"GELU(approximate={self.approximate!r})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        return x.map(lambda a: gelu(a, self.approximate))


@dataclass(frozen=True)
class LeakyReLU:
    """f(x)_i = x_i if x_i > 0 else slope x_i; the kink follows PyTorch: f'(0) = slope.

    >>> from symnn.trace import trace
    >>> trace(LeakyReLU(0.1), shapes={"x": (2,)}).nodes[-1].op.fn
    Lambda(_a0, _a0/10 + 9*relu(_a0)/10)
    """

    negative_slope: Any = 0.01  # exactly 1/100 after __post_init__, as every float here

    def __post_init__(self) -> None:
        object.__setattr__(self, "negative_slope", exact_number("LeakyReLU", "negative_slope", self.negative_slope))

    def __str__(self) -> str:
        return f"LeakyReLU({self.negative_slope})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        return x.map(lambda a: leaky_relu(a, self.negative_slope))


@dataclass(frozen=True)
class ELU:
    """f(x)_i = x_i if x_i > 0 else alpha (exp(x_i) - 1); the kink follows PyTorch: f'(0) = alpha."""

    alpha: Any = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", exact_number("ELU", "alpha", self.alpha))

    def __str__(self) -> str:
        return f"ELU({self.alpha})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        return x.map(lambda a: elu(a, self.alpha))


@dataclass(frozen=True)
class Softplus:
    """f(x)_i = log(1 + exp(beta x_i)) / beta, evaluated stably.

    PyTorch's ``threshold`` (x itself where beta x > 20) is not copied: the two differ there by
    less than exp(-20) / beta.
    """

    beta: Any = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", exact_number("Softplus", "beta", self.beta, positive=True))

    def __str__(self) -> str:
        return "Softplus()" if self.beta == 1 else f"Softplus(beta={self.beta})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        return x.map(lambda a: softplus(self.beta * a) / self.beta)


#: The default eps of ``Normalize``: exactly 1/100000.
EPS = sp.Rational(1, 10**5)

ACTIVATIONS: dict[str, Layer] = {
    "sigmoid": Sigmoid(),
    "relu": ReLU(),
    "tanh": Tanh(),
    "sign": Sign(),
    "gelu": GELU(),
    "leaky_relu": LeakyReLU(),
    "elu": ELU(),
    "softplus": Softplus(),
}


def activation(spec: Any) -> Layer:
    """A layer from a name in ``ACTIVATIONS``, a sympy expression in one symbol, or a layer."""
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
    minibatch stands in for the notes' "whole dataset"); ``kind="instance"`` takes them over the
    spatial axes 2, 3, ... of (N, C, ...) (one statistic per example and channel, PyTorch's
    InstanceNorm without affine parameters). The variance is the biased one (divide by n), as in
    PyTorch.

    >>> from symnn.trace import trace
    >>> trace(Normalize(), shapes={"x": (2, 3)}).params
    {}
    """

    kind: str = "layer"
    eps: Any = EPS

    def __post_init__(self) -> None:
        if self.kind not in ("layer", "batch", "instance"):
            raise GraphError(f"Normalize: kind must be 'layer', 'batch' or 'instance', got {self.kind!r}")
        try:
            eps = (
                sp.nsimplify(self.eps)
                if isinstance(self.eps, float)
                else sympify_data(self.eps, "Normalize: eps", GraphError)
            )
        except (sp.SympifyError, TypeError) as e:
            raise GraphError(f"Normalize: eps must be a positive number, got {self.eps!r}") from e
        if not isinstance(eps, sp.Expr) or not (eps.is_number and eps.is_positive):
            raise GraphError(f"Normalize: eps must be a positive number, got {self.eps!r}")
        object.__setattr__(self, "eps", eps)

    def __str__(self) -> str:
        return f"Normalize({self.kind!r})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        if self.kind == "instance":
            check_rank(self, x, 3, "(N, C, ...) with at least one spatial axis", at_least=True)
            axis: int | tuple[int, ...] = tuple(range(2, x.ndim))
            n = math.prod(x.shape[2:])
            what, fix = "the spatial axes", "at least 2 positions"
        else:
            check_rank(self, x, 1, "(N, ...)", at_least=True)
            axis = -1 if self.kind == "layer" else 0
            n = x.shape[axis]
            what, fix = ("last axis", "at least 2 features") if self.kind == "layer" else ("batch axis 0", "batch >= 2")
        if n < 2:
            raise shape_error(self, x, f"{what} has size {n}; normalizing a single value gives 0, use {fix}")
        eps = self.eps
        with x.builder.scope(str(self)):
            centered = x - x.mean(axis, keepdims=True)
            var = (centered * centered).mean(axis, keepdims=True)
            return x.builder.elementwise(lambda c, v: c / sp.sqrt(v + eps), centered, var)
