"""The executor's Numba kernels: one interpreter per mode for scalar programs, and sliding windows.

A scalar program is data (opcodes, operand rows, constants), so these few kernels serve every
elementwise function of every graph: a new graph never compiles anything new. The program runs
instruction by instruction over a matrix ``V`` with one row per slot and one column per element:
rows ``0 .. nargs-1`` hold the (broadcast) arguments, row ``nargs + i`` the result of
instruction ``i``. Unary instructions have ``ib[i] == -1``; ``CONST`` has ``ia[i] == -1``.

The hand-written derivative rules of the primitives sit together in ``partials``; this module
never looks at a symbolic derivative. ``exp`` and ``tanh`` are the executor's own (``vmath``), so the
loops over them vectorize; the other functions are libm's. ``logsumexp`` and ``logsumexp_vjp`` run
the ``LogSumExp`` rules.
"""

from __future__ import annotations

import math

import numpy as np

from ..jit import njit
from . import vmath

# numpy's error model: x / 0 -> inf and 0 ** -1 -> inf instead of a Python exception. ``njit`` caches
# on disk under symnn's cache directory, never inside the installed package.
_JIT = {"nogil": True, "error_model": "numpy"}
#: Numba's disk cache of this module's functions keys on this file alone, yet they compile ``vmath`` in:
#: bump this with every edit of vmath.py (and ``tape.KERNELS_REVISION`` with every edit here), or a warm
#: cache keeps running the old code.
VMATH_REVISION = 2

# -- opcodes (the numbering is part of the compiled cache: keep it here, beside the kernels) --------
CONST = 0  # c
ADD = 1  # x + y
SUB = 2  # x - y
MUL = 3  # x * y
DIV = 4  # x / y
NEG = 5  # -x
ADDC = 6  # x + c
MULC = 7  # x * c
POWC = 8  # x ** c (constant exponent)
POW = 9  # x ** y = exp(y log x)
EXP = 10
LOG = 11
TANH = 12
SINH = 13
COSH = 14
SIN = 15
COS = 16
TAN = 17
ATAN = 18
ERF = 19
ABS = 20
SGN = 21  # sign(x) with sgn(0) = 0
STEP = 22  # 1 if x > 0 else 0
RELU = 23  # max(x, 0)
MAXIMUM = 24  # x if x >= y else y (first argument on ties)
SIGMOID = 25
SOFTPLUS = 26

#: The name of each opcode; a primitive that computes a scalar function has the function's canonical
#: name (``symnn.functions.FUNCTIONS``), which is how the scalar compiler finds it.
NAMES = (
    "const add sub mul div neg addc mulc powc pow exp log tanh sinh cosh sin cos tan atan erf "
    "abs sgn step relu maximum sigmoid softplus"
).split()
BINARY = frozenset({ADD, SUB, MUL, DIV, POW, MAXIMUM})

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
# vmath's exp and tanh as functions of their own, for ``apply``: a call there keeps ``apply`` small enough
# for LLVM to inline it into each of the interpreters' loops
_exp = njit(**_JIT)(vmath.exp.py_func)
_tanh = njit(**_JIT)(vmath.tanh.py_func)
_NAN = math.nan


@njit(**_JIT)  # type: ignore[call-overload]
def _sigmoid(x):
    """1 / (1 + exp(-x)) in two branches, so exp never overflows."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # also the NaN branch: exp(nan) = nan
    return e / (1.0 + e)


@njit(**_JIT)  # type: ignore[call-overload]
def apply(op, x, y, c):
    """The value of one primitive; NaN in, NaN out (kinks included)."""
    if op == ADD:
        return x + y
    if op == SUB:
        return x - y
    if op == MUL:
        return x * y
    if op == DIV:
        return x / y
    if op == NEG:
        return -x
    if op == ADDC:
        return x + c
    if op == MULC:
        return x * c
    if op == POWC:
        if c == 2.0:  # the common square, exact and without a call to pow
            return x * x
        return x**c
    if op == POW:
        return x**y
    if op == EXP:  # the executor's own exp and tanh (vmath): branch-free, so the loops over them vectorize
        return _exp(x)
    if op == LOG:
        return math.log(x)
    if op == TANH:
        return _tanh(x)
    if op == SINH:
        return math.sinh(x)
    if op == COSH:
        return math.cosh(x)
    if op == SIN:
        return math.sin(x)
    if op == COS:
        return math.cos(x)
    if op == TAN:
        return math.tan(x)
    if op == ATAN:
        return math.atan(x)
    if op == ERF:
        return math.erf(x)
    if op == ABS:
        return math.fabs(x)
    if op == SGN:  # sgn(0) = 0
        if x > 0.0:
            return 1.0
        if x < 0.0:
            return -1.0
        return 0.0 if x == 0.0 else x
    if op == STEP:  # step(0) = 0
        if x > 0.0:
            return 1.0
        return 0.0 if x <= 0.0 else x
    if op == RELU:  # relu(0) = 0
        if x > 0.0:
            return x
        return 0.0 if x <= 0.0 else x
    if op == MAXIMUM:
        if x >= y:
            return x
        if y > x:
            return y
        return _NAN
    if op == SIGMOID:
        return _sigmoid(x)
    if op == SOFTPLUS:
        # log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
        return max(x, 0.0) + math.log1p(math.exp(-math.fabs(x)))
    return c  # CONST


@njit(**_JIT)  # type: ignore[call-overload]
def partials(op, x, y, c, v):
    """(d v/d x, d v/d y) of ``v = op(x, y)``: the executor's whole table of derivative rules."""
    if op == ADD:  # d(x + y) = dx + dy
        return 1.0, 1.0
    if op == SUB:  # d(x - y) = dx - dy
        return 1.0, -1.0
    if op == MUL:  # d(x y) = y dx + x dy
        return y, x
    if op == DIV:  # d(x / y) = dx / y - (x / y) dy / y
        return 1.0 / y, -v / y
    if op == NEG:  # d(-x) = -dx
        return -1.0, 0.0
    if op == ADDC:  # d(x + c) = dx
        return 1.0, 0.0
    if op == MULC:  # d(c x) = c dx
        return c, 0.0
    if op == POWC:  # d x^c = c x^(c-1) dx
        if c == 0.0:
            return 0.0, 0.0
        return c * x ** (c - 1.0), 0.0
    if op == POW:  # d x^y = y x^(y-1) dx + x^y log(x) dy
        return y * x ** (y - 1.0), v * math.log(x)
    if op == EXP:  # d e^x = e^x dx
        return v, 0.0
    if op == LOG:  # d log x = dx / x
        return 1.0 / x, 0.0
    if op == TANH:  # d tanh x = (1 - tanh^2 x) dx
        return 1.0 - v * v, 0.0
    if op == SINH:  # d sinh x = cosh x dx
        return math.cosh(x), 0.0
    if op == COSH:  # d cosh x = sinh x dx
        return math.sinh(x), 0.0
    if op == SIN:  # d sin x = cos x dx
        return math.cos(x), 0.0
    if op == COS:  # d cos x = -sin x dx
        return -math.sin(x), 0.0
    if op == TAN:  # d tan x = (1 + tan^2 x) dx
        return 1.0 + v * v, 0.0
    if op == ATAN:  # d atan x = dx / (1 + x^2)
        return 1.0 / (1.0 + x * x), 0.0
    if op == ERF:  # d erf x = 2/sqrt(pi) e^(-x^2) dx
        return _TWO_OVER_SQRT_PI * math.exp(-x * x), 0.0
    if op == ABS:  # d |x| = sign(x) dx, with |x|'(0) = 0
        return apply(SGN, x, x, c), 0.0
    if op == SGN or op == STEP:  # d sgn(x) = d step(x) = 0
        return 0.0, 0.0
    if op == RELU:  # d relu(x) = step(x) dx, relu'(0) = 0
        return apply(STEP, x, x, c), 0.0
    if op == MAXIMUM:  # d max(x, y) = [x >= y] dx + [y > x] dy
        if x >= y:
            return 1.0, 0.0
        if y > x:
            return 0.0, 1.0
        return _NAN, _NAN
    if op == SIGMOID:  # d s(x) = s(x) s(-x) dx: s(x) (1 - s(x)) rounds to 0 past x = 37, s(-x) keeps ~exp(-x)
        return v * _sigmoid(-x), 0.0
    if op == SOFTPLUS:  # d softplus(x) = sigmoid(x) dx
        return _sigmoid(x), 0.0
    return 0.0, 0.0  # CONST


# -- one loop per opcode ------------------------------------------------------------------------------
# The opcode is fixed inside each loop below, so after inlining LLVM folds ``apply``'s and ``partials``'
# dispatch out of the element loop (and vectorizes the cheap ops): on 18,432 elements an add takes
# ~6 us instead of ~70, a relu ~4 instead of ~190. The scalar rules stay the ones above.
@njit(inline="always", **_JIT)  # type: ignore[call-overload]
def _forward_loop(op, x, y, c, out):
    for e in range(out.shape[0]):
        out[e] = apply(op, x[e], y[e], c)


# exp and tanh loop over vmath's functions inlined, so the loops vectorize (~4 ns an element instead of
# ~16 through ``apply``, which holds them as calls: inlined there too, they made ``apply`` so large that
# the cold compile of the interpreters doubled). One copy of each loop, the same functions either way.
@njit(inline="always", **_JIT)  # type: ignore[call-overload]
def _tanh_loop(x, out):
    for e in range(out.shape[0]):
        out[e] = vmath.tanh(x[e])


@njit(inline="always", **_JIT)  # type: ignore[call-overload]
def _exp_loop(x, out):
    for e in range(out.shape[0]):
        out[e] = vmath.exp(x[e])


@njit(inline="always", **_JIT)  # type: ignore[call-overload]
def _jvp_loop(op, x, y, c, v, ta, tb, live_a, live_b, out):
    for e in range(out.shape[0]):
        da, db = partials(op, x[e], y[e], c, v[e])
        t = 0.0
        if live_a:
            t += da * ta[e]
        if live_b:
            t += db * tb[e]
        out[e] = t


@njit(inline="always", **_JIT)  # type: ignore[call-overload]
def _vjp_loop(op, x, y, c, v, g, ga, gb, live_a, live_b):
    for e in range(g.shape[0]):
        da, db = partials(op, x[e], y[e], c, v[e])
        if live_a:
            ga[e] += da * g[e]
        if live_b:
            gb[e] += db * g[e]


@njit(**_JIT)  # type: ignore[call-overload]
def forward_row(op, x, y, c, out):
    """``out[e] = apply(op, x[e], y[e], c)`` for every element."""
    if op == ADD:
        _forward_loop(ADD, x, y, c, out)
    elif op == SUB:
        _forward_loop(SUB, x, y, c, out)
    elif op == MUL:
        _forward_loop(MUL, x, y, c, out)
    elif op == DIV:
        _forward_loop(DIV, x, y, c, out)
    elif op == NEG:
        _forward_loop(NEG, x, y, c, out)
    elif op == ADDC:
        _forward_loop(ADDC, x, y, c, out)
    elif op == MULC:
        _forward_loop(MULC, x, y, c, out)
    elif op == POWC:
        _forward_loop(POWC, x, y, c, out)
    elif op == POW:
        _forward_loop(POW, x, y, c, out)
    elif op == EXP:
        _exp_loop(x, out)
    elif op == LOG:
        _forward_loop(LOG, x, y, c, out)
    elif op == TANH:
        _tanh_loop(x, out)
    elif op == SINH:
        _forward_loop(SINH, x, y, c, out)
    elif op == COSH:
        _forward_loop(COSH, x, y, c, out)
    elif op == SIN:
        _forward_loop(SIN, x, y, c, out)
    elif op == COS:
        _forward_loop(COS, x, y, c, out)
    elif op == TAN:
        _forward_loop(TAN, x, y, c, out)
    elif op == ATAN:
        _forward_loop(ATAN, x, y, c, out)
    elif op == ERF:
        _forward_loop(ERF, x, y, c, out)
    elif op == ABS:
        _forward_loop(ABS, x, y, c, out)
    elif op == SGN:
        _forward_loop(SGN, x, y, c, out)
    elif op == STEP:
        _forward_loop(STEP, x, y, c, out)
    elif op == RELU:
        _forward_loop(RELU, x, y, c, out)
    elif op == MAXIMUM:
        _forward_loop(MAXIMUM, x, y, c, out)
    elif op == SIGMOID:
        _forward_loop(SIGMOID, x, y, c, out)
    elif op == SOFTPLUS:
        _forward_loop(SOFTPLUS, x, y, c, out)


@njit(**_JIT)  # type: ignore[call-overload]
def jvp_row(op, x, y, c, v, ta, tb, live_a, live_b, out):
    """``out[e] = da ta[e] + db tb[e]`` with ``(da, db) = partials(op, x[e], y[e], c, v[e])`` (live terms only)."""
    if op == ADD:
        _jvp_loop(ADD, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == SUB:
        _jvp_loop(SUB, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == MUL:
        _jvp_loop(MUL, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == DIV:
        _jvp_loop(DIV, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == NEG:
        _jvp_loop(NEG, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == ADDC:
        _jvp_loop(ADDC, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == MULC:
        _jvp_loop(MULC, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == POWC:
        _jvp_loop(POWC, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == POW:
        _jvp_loop(POW, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == EXP:
        _jvp_loop(EXP, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == LOG:
        _jvp_loop(LOG, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == TANH:
        _jvp_loop(TANH, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == SINH:
        _jvp_loop(SINH, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == COSH:
        _jvp_loop(COSH, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == SIN:
        _jvp_loop(SIN, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == COS:
        _jvp_loop(COS, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == TAN:
        _jvp_loop(TAN, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == ATAN:
        _jvp_loop(ATAN, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == ERF:
        _jvp_loop(ERF, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == ABS:
        _jvp_loop(ABS, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == SGN:
        _jvp_loop(SGN, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == STEP:
        _jvp_loop(STEP, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == RELU:
        _jvp_loop(RELU, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == MAXIMUM:
        _jvp_loop(MAXIMUM, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == SIGMOID:
        _jvp_loop(SIGMOID, x, y, c, v, ta, tb, live_a, live_b, out)
    elif op == SOFTPLUS:
        _jvp_loop(SOFTPLUS, x, y, c, v, ta, tb, live_a, live_b, out)


@njit(**_JIT)  # type: ignore[call-overload]
def vjp_row(op, x, y, c, v, g, ga, gb, live_a, live_b):
    """``ga[e] += da g[e]`` and ``gb[e] += db g[e]`` with ``(da, db) = partials(op, x[e], y[e], c, v[e])``."""
    if op == ADD:
        _vjp_loop(ADD, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == SUB:
        _vjp_loop(SUB, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == MUL:
        _vjp_loop(MUL, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == DIV:
        _vjp_loop(DIV, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == NEG:
        _vjp_loop(NEG, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == ADDC:
        _vjp_loop(ADDC, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == MULC:
        _vjp_loop(MULC, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == POWC:
        _vjp_loop(POWC, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == POW:
        _vjp_loop(POW, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == EXP:
        _vjp_loop(EXP, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == LOG:
        _vjp_loop(LOG, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == TANH:
        _vjp_loop(TANH, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == SINH:
        _vjp_loop(SINH, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == COSH:
        _vjp_loop(COSH, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == SIN:
        _vjp_loop(SIN, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == COS:
        _vjp_loop(COS, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == TAN:
        _vjp_loop(TAN, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == ATAN:
        _vjp_loop(ATAN, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == ERF:
        _vjp_loop(ERF, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == ABS:
        _vjp_loop(ABS, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == SGN:
        _vjp_loop(SGN, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == STEP:
        _vjp_loop(STEP, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == RELU:
        _vjp_loop(RELU, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == MAXIMUM:
        _vjp_loop(MAXIMUM, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == SIGMOID:
        _vjp_loop(SIGMOID, x, y, c, v, g, ga, gb, live_a, live_b)
    elif op == SOFTPLUS:
        _vjp_loop(SOFTPLUS, x, y, c, v, g, ga, gb, live_a, live_b)


@njit(**_JIT)  # type: ignore[call-overload]
def program_forward(code, ia, ib, consts, nargs, V):
    """Fill rows ``nargs..`` of ``V`` with the values of the program's instructions."""
    for i in range(code.shape[0]):
        op, a, b, c = code[i], ia[i], ib[i], consts[i]
        r = nargs + i
        if op == CONST:
            V[r, :] = c
            continue
        forward_row(op, V[a], V[b if b >= 0 else a], c, V[r])


@njit(**_JIT)  # type: ignore[call-overload]
def program_jvp(code, ia, ib, consts, nargs, V, T, active):
    """Forward sweep of tangents: ``T[r] = sum_k (d v_r / d v_k) T[k]`` over the live operands.

    ``active[:nargs]`` marks the arguments with a tangent; the rest is filled here, and rows
    without a tangent are zero (a zero tangent never multiplies an infinite partial).
    """
    for i in range(code.shape[0]):
        op, a, b, c = code[i], ia[i], ib[i], consts[i]
        r = nargs + i
        live_a = op != CONST and active[a]
        live_b = b >= 0 and active[b]
        active[r] = live_a or live_b
        if not active[r]:
            T[r, :] = 0.0
            continue
        bb = b if b >= 0 else a
        jvp_row(op, V[a], V[bb], c, V[r], T[a], T[bb], live_a, live_b, T[r])


@njit(**_JIT)  # type: ignore[call-overload]
def program_vjp(code, ia, ib, consts, nargs, V, G, active):
    """Reverse sweep of cotangents: ``G[k] += (d v_r / d v_k) G[r]``, last instruction first.

    ``active[:nargs]`` marks the arguments whose cotangent is wanted; only rows that depend on
    one of them take part. ``G`` starts zero except the output row.
    """
    for i in range(code.shape[0]):
        a, b = ia[i], ib[i]
        active[nargs + i] = code[i] != CONST and (active[a] or (b >= 0 and active[b]))
    for i in range(code.shape[0] - 1, -1, -1):
        op, a, b, c = code[i], ia[i], ib[i], consts[i]
        r = nargs + i
        if not active[r]:
            continue
        live_a = active[a]
        live_b = b >= 0 and active[b]
        bb = b if b >= 0 else a
        vjp_row(op, V[a], V[bb], c, V[r], G[r], G[a], G[bb], live_a, live_b)


@njit(**_JIT)  # type: ignore[call-overload]
def window(x, geom, out):
    """Sliding windows of ``x`` (M, S1, S2, S3) into ``out`` (M, K1, K2, K3, O1, O2, O3).

    ``out[m, k, o] = x[m, o * stride + k - padding]``, zero outside ``x``;
    ``geom = (stride1, stride2, stride3, pad1, pad2, pad3)``.
    """
    M, S1, S2, S3 = x.shape
    _, K1, K2, K3, O1, O2, O3 = out.shape
    s1, s2, s3, p1, p2, p3 = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5]
    for m in range(M):
        for k1 in range(K1):
            for k2 in range(K2):
                for k3 in range(K3):
                    for o1 in range(O1):
                        i1 = o1 * s1 + k1 - p1
                        for o2 in range(O2):
                            i2 = o2 * s2 + k2 - p2
                            for o3 in range(O3):
                                i3 = o3 * s3 + k3 - p3
                                if 0 <= i1 < S1 and 0 <= i2 < S2 and 0 <= i3 < S3:
                                    out[m, k1, k2, k3, o1, o2, o3] = x[m, i1, i2, i3]
                                else:
                                    out[m, k1, k2, k3, o1, o2, o3] = 0.0


@njit(**_JIT)  # type: ignore[call-overload]
def fold(w, geom, out):
    """Scatter-add of windows ``w`` (M, K1, K2, K3, O1, O2, O3) into ``out`` (M, S1, S2, S3): ``window``'s adjoint."""
    M, S1, S2, S3 = out.shape
    _, K1, K2, K3, O1, O2, O3 = w.shape
    s1, s2, s3, p1, p2, p3 = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5]
    out[...] = 0.0
    for m in range(M):
        for k1 in range(K1):
            for k2 in range(K2):
                for k3 in range(K3):
                    for o1 in range(O1):
                        i1 = o1 * s1 + k1 - p1
                        if i1 < 0 or i1 >= S1:
                            continue
                        for o2 in range(O2):
                            i2 = o2 * s2 + k2 - p2
                            if i2 < 0 or i2 >= S2:
                                continue
                            for o3 in range(O3):
                                i3 = o3 * s3 + k3 - p3
                                if 0 <= i3 < S3:
                                    out[m, i1, i2, i3] += w[m, k1, k2, k3, o1, o2, o3]


@njit(inline="always", **_JIT)  # type: ignore[call-overload]
def _exp_all(e):
    """``e[...] = exp(e)`` in one flat loop: a long loop vectorizes where a short row's (10 or 16 terms) barely does."""
    flat = e.reshape(e.size)
    for i in range(flat.shape[0]):
        flat[i] = vmath.exp(flat[i])


@njit(**_JIT)  # type: ignore[call-overload]
def logsumexp(x, out):
    """``out[p] = m + log(sum_r exp(x[p, r] - m))``, ``m = max_r x[p, r]`` (0 where it is not finite).

    A NaN anywhere makes ``m`` NaN (as ``np.max``); the sums run in index order.
    """
    P, N = x.shape
    e = np.empty((P, N), dtype=x.dtype)
    shift = np.empty(P, dtype=x.dtype)
    for p in range(P):
        m = x[p, 0]
        for r in range(1, N):
            v = x[p, r]
            if v > m or v != v:
                m = v
        if not math.isfinite(m):
            m = 0.0
        shift[p] = m
        for r in range(N):
            e[p, r] = x[p, r] - m
    _exp_all(e)
    for p in range(P):
        t = 0.0
        for r in range(N):
            t += e[p, r]
        out[p] = math.log(t) + shift[p]


@njit(**_JIT)  # type: ignore[call-overload]
def logsumexp_vjp(x, y, g, out):
    """``out[p, r] = (e / sum_r e) g[p]`` with ``e = exp(x[p, r] - y[p])``: softmax times the cotangent.

    The division by the sum cancels ``y``'s rounding (a common factor of every ``e``).
    """
    P, N = x.shape
    for p in range(P):
        yv = y[p]
        for r in range(N):
            out[p, r] = x[p, r] - yv
    _exp_all(out)
    for p in range(P):
        t = 0.0
        for r in range(N):
            t += out[p, r]
        gv = g[p]
        for r in range(N):
            out[p, r] = out[p, r] / t * gv


#: The compiled entry points (their ``signatures`` show whether a graph triggered a compilation).
KERNELS = (program_forward, program_jvp, program_vjp, window, fold, logsumexp, logsumexp_vjp)
