"""Array helpers of the generated modules. Every array inside ``compute`` is flat (1-d, C
order), so each helper has one explicit Numba signature: it is compiled once per module,
however many ops call it, and never specialised on the sizes it is given.

Helpers see canonical views: a contraction as nb products (M, K) x (K, N), a reduction or a
copy as (P, n, Q) with the middle axis the one that changes. Sizes and offsets are unsigned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .scalar import HELPERS as SCALAR_HELPERS
from .scalar import literal

_JIT = '@njit({sig}, cache=True, error_model="numpy")'
_MM_SIG = "types.void(_A, _A, _A, _I, _I, _I, _I, _I, _I)"


def _element(name: str, transposed: bool, rows: str, cols: str, i: str, j: str, base: str) -> str:
    """Element (i, j) of a (rows, cols) matrix stored at ``base``, or of the transpose of a stored (cols, rows) one."""
    return f"{name}[{base} + {j} * {rows} + {i}]" if transposed else f"{name}[{base} + {i} * {cols} + {j}]"


def _mm(tag: str, a_t: bool, b_t: bool) -> str:
    a = _element("a", a_t, "m", "k", "i", "p", "ta")
    if b_t:  # rows of the stored B are contiguous along k: dot products
        loops = f"""        for i in range(m):
            for j in range(n):
                acc = {{zero}}
                for p in range(k):
                    acc += {a} * b[tb + j * k + p]
                out[to + i * n + j] = acc"""
    else:  # rank-one updates along the contiguous rows of B
        loops = f"""        for i in range(m):
            for j in range(n):
                out[to + i * n + j] = {{zero}}
            for p in range(k):
                aip = {a}
                for j in range(n):
                    out[to + i * n + j] += aip * b[tb + p * n + j]"""
    return f'''{_JIT.format(sig=_MM_SIG)}
def _mm_{tag}(a, b, out, nb, m, n, k, sa, sb):
    """out[t] = A[t] @ B[t], t < nb: A[t] (m, k) at a[t * sa:] is {"stored transposed" if a_t else "stored as is"},
    B[t] (k, n) at b[t * sb:] {"stored transposed" if b_t else "stored as is"}; loops."""
    for t in range(nb):
        ta, tb, to = t * sa, t * sb, t * m * n
{loops}
'''


def _gemm(tag: str, a_t: bool, b_t: bool) -> str:
    """``_gemm_<tag>``: the products of ``_mm_<tag>`` on SciPy's BLAS, or its loops where SciPy is missing."""
    # out (m, n) row-major is out^T (n, m) column-major = B^T A^T; a row-major (r, c) block read
    # column-major is its (c, r) transpose, so an operand stored as is takes flag 'n'
    flag_b, ld_b = ("116", "k") if b_t else ("110", "n")  # ord("t"), ord("n")
    flag_a, ld_a = ("116", "m") if a_t else ("110", "k")
    # a single row or column goes to ?gemv or ?dot, with np.dot's arguments: the same results, bit for bit
    gemv_a = "110, m, k, a, ta, m" if a_t else "116, k, m, a, ta, k"  # out = A b, n == 1
    gemv_b = "116, k, n, b, tb, k" if b_t else "110, n, k, b, tb, n"  # out = B^T a, m == 1
    loops = _mm(tag, a_t, b_t)
    alone = loops.replace(f"def _mm_{tag}", f"def _gemm_{tag}")
    indented = "".join(f"    {line}\n" if line else "\n" for line in alone.splitlines())
    return f'''if HAVE_BLAS:

    {_JIT.format(sig=_MM_SIG)}
    def _gemm_{tag}(a, b, out, nb, m, n, k, sa, sb):
        """out[t] = A[t] @ B[t], stored like _mm_{tag}'s operands, on BLAS: out[t]^T = B[t]^T A[t]^T column-major."""
        if m > _INT_MAX or n > _INT_MAX or k > _INT_MAX:  # as np.dot: no loops compiled for a case this rare
            raise OverflowError("a matrix size over 2**31 - 1: BLAS takes 32-bit ints")
        for t in range(nb):
            ta, tb, to = t * sa, t * sb, t * m * n
            if m == 1 and n == 1:
                out[to] = _xdot(k, a, ta, b, tb)
            elif n == 1:
                _xgemv({gemv_a}, b, tb, out, to)
            elif m == 1:
                _xgemv({gemv_b}, a, ta, out, to)
            else:
                _xgemm({flag_b}, {flag_a}, n, m, k, b, tb, {ld_b}, a, ta, {ld_a}, out, to, n)

else:

{indented}'''


_BLAS_PROBE = '''try:  # SciPy exports its BLAS to C: called by address, with no Python in between
    from llvmlite import binding as _llvm
    from llvmlite import ir as _ir
    from numba.core import cgutils as _cgutils
    from numba.core.extending import get_cython_function_address, intrinsic

    # the compiled code names BLAS by symbol, resolved when it is loaded: Numba caches that (not a ctypes pointer)
    for _f in ("{x}gemm", "{x}gemv", "{x}dot"):
        _llvm.add_symbol(f"symnn_{_f}", get_cython_function_address("scipy.linalg.cython_blas", _f))
    HAVE_BLAS = True
except ImportError:
    HAVE_BLAS = False

_INT_MAX = 2**31 - 1

if HAVE_BLAS:

    def _call(name, returns, spec):
        """The code of a call of Fortran BLAS ``name``, every argument by pointer, one ``spec`` letter each:
        c a flag, i an int, I the int 1, 1 and 0 scalars, a an array with the offset of its first element."""

        def codegen(context, builder, sig, args):
            t, i8, i32 = context.get_value_type(_T), _ir.IntType(8), _ir.IntType(32)
            p = i8.as_pointer()

            def slot(ty, value):  # a stack slot in the entry block: a loop of calls reuses it
                ptr = _cgutils.alloca_once(builder, ty)
                builder.store(value, ptr)
                return builder.bitcast(ptr, p)

            values, i = [], 0
            for c in spec:
                if c in "ci":
                    ty = i8 if c == "c" else i32
                    values.append(slot(ty, builder.trunc(args[i], ty)))
                elif c == "I":
                    values.append(slot(i32, _ir.Constant(i32, 1)))
                elif c in "01":
                    values.append(slot(t, _ir.Constant(t, float(c))))
                else:
                    data = context.make_array(sig.args[i])(context, builder, args[i]).data
                    values.append(builder.bitcast(builder.gep(data, [args[i + 1]]), p))
                    i += 1
                i += c not in "I01"
            fnty = _ir.FunctionType(t if returns else _ir.VoidType(), [p] * len(values))
            result = builder.call(_cgutils.get_or_insert_function(builder.module, fnty, name), values)
            return result if returns else context.get_dummy_value()

        return codegen

    @intrinsic
    def _xgemm(typingctx, ta, tb, m, n, k, a, ia, lda, b, ib, ldb, c, ic, ldc):
        """?gemm(ta, tb, m, n, k, 1, a[ia:], lda, b[ib:], ldb, 0, c[ic:], ldc): c = op(a) op(b), column-major."""
        sig = types.void(ta, tb, m, n, k, a, ia, lda, b, ib, ldb, c, ic, ldc)
        return sig, _call("symnn_{x}gemm", False, "cciii1aiai0ai")

    @intrinsic
    def _xgemv(typingctx, tr, m, n, a, ia, lda, x, ix, y, iy):
        """?gemv(tr, m, n, 1, a[ia:], lda, x[ix:], 1, 0, y[iy:], 1): y = op(a) x, a (m, n) column-major."""
        return types.void(tr, m, n, a, ia, lda, x, ix, y, iy), _call("symnn_{x}gemv", False, "cii1aiaI0aI")

    @intrinsic
    def _xdot(typingctx, n, x, ix, y, iy):
        """?dot(n, x[ix:], 1, y[iy:], 1) = sum_i x[ix + i] y[iy + i]."""
        return _T(n, x, ix, y, iy), _call("symnn_{x}dot", True, "iaIaI")
'''


HELPERS: dict[str, str] = {
    **{f"_mm_{t}": _mm(t, t[0] == "t", t[1] == "t") for t in ("nn", "nt", "tn", "tt")},
    **{f"_gemm_{t}": _gemm(t, t[0] == "t", t[1] == "t") for t in ("nn", "nt", "tn", "tt")},
    "_sum_mid": f'''{_JIT.format(sig="types.void(_A, _A, _I, _I, _I)")}
def _sum_mid(x, out, np_, n, nq):
    """out[p, q] = sum_i x[p, i, q] for x viewed as (np_, n, nq)."""
    for p in range(np_):
        for q in range(nq):
            out[p * nq + q] = {{zero}}
        for i in range(n):
            for q in range(nq):
                out[p * nq + q] += x[(p * n + i) * nq + q]
''',
    "_sum_all": f'''{_JIT.format(sig="_T(_A)")}
def _sum_all(x):
    """The sum of all elements."""
    acc = {{zero}}
    for i in range(x.size):
        acc += x[i]
    return acc
''',
    "_copy_mid": f'''{_JIT.format(sig="types.void(_A, _A, _I, _I, _I, _I, _I, _I, _I)")}
def _copy_mid(dst, src, np_, nq, dn, sn, d0, s0, n):
    """dst[p, d0 + i, q] = src[p, s0 + i, q], i < n, for dst viewed as (np_, dn, nq), src as (np_, sn, nq)."""
    for p in range(np_):
        for i in range(n):
            for q in range(nq):
                dst[(p * dn + d0 + i) * nq + q] = src[(p * sn + s0 + i) * nq + q]
''',
    "_logsumexp": f'''{_JIT.format(sig="types.void(_A, _A, _I, _I, _I)")}
def _logsumexp(x, out, np_, n, nq):
    """out[p, q] = log(sum_i exp(x[p, i, q])) = m + log(sum_i exp(x[p, i, q] - m)), m = max_i x[p, i, q].
    A NaN gives NaN, all -inf gives -inf, a +inf gives +inf."""
    for p in range(np_):
        for q in range(nq):
            m = x[p * n * nq + q]
            for i in range(n):
                u = x[(p * n + i) * nq + q]
                if u > m or u != u:
                    m = u
            if m - m != 0:  # +-inf or NaN: so is the result
                out[p * nq + q] = m
            else:
                acc = {{zero}}
                for i in range(n):
                    acc += math.exp(x[(p * n + i) * nq + q] - m)
                out[p * nq + q] = m + math.log(acc)
''',
    "_permute": f'''{_JIT.format(sig="types.void(_A, _A, _I, _I, _I, _I, _I, _I, _I, _I)")}
def _permute(src, dst, n0, n1, n2, n3, s0, s1, s2, s3):
    """dst, C order of shape (n0, n1, n2, n3), from src read with strides (s0, s1, s2, s3)."""
    for i0 in range(n0):
        for i1 in range(n1):
            for i2 in range(n2):
                base = i0 * s0 + i1 * s1 + i2 * s2
                row = ((i0 * n1 + i1) * n2 + i2) * n3
                for i3 in range(n3):
                    dst[row + i3] = src[base + i3 * s3]
''',
    "_copy": f'''{_JIT.format(sig="types.void(_A, _A)")}
def _copy(dst, src):
    """dst[:] = src."""
    for i in range(dst.size):
        dst[i] = src[i]
''',
    "_fill": f'''{_JIT.format(sig="types.void(_A, _T)")}
def _fill(dst, value):
    """dst[:] = value."""
    for i in range(dst.size):
        dst[i] = value
''',
}


def helper_source(name: str, dtype: str) -> str:
    """The definition of one helper (array or scalar) for ``dtype``."""
    if name in SCALAR_HELPERS:
        helper = SCALAR_HELPERS[name]
        return helper(dtype) if callable(helper) else helper.format(one=literal(1, dtype), zero=literal(0, dtype))
    return HELPERS[name].replace("{zero}", literal(0, dtype))


def preamble(names: Iterable[str], dtype: str) -> str:
    """Type aliases of the helpers' signatures, and the BLAS probe if a product may use it."""
    # sizes and offsets are unsigned: indexing with them needs no negative-index wraparound,
    # which lets LLVM vectorize the inner loops (several times faster for the products)
    lines = [f"_T = types.{dtype}", "_A = types.Array(_T, 1, 'C')", "_I = types.uint64"]
    if any(h.startswith("_gemm_") for h in names):
        lines.append("\n" + _BLAS_PROBE.replace("{x}", "d" if dtype == "float64" else "s"))
    return "\n".join(lines)


BEGIN = "# -- helpers: defined here so that this module stands alone; symnn's cache shares them --"
END = "# -- end of helpers --"
_IMPORT = re.compile(r"from (k_[0-9a-f]{32}) import (_\w+)")


def helper_block(names: Iterable[str], dtype: str) -> str:
    """The helper section of a standalone module, between the BEGIN and END markers."""
    names = sorted(names)
    if not names:
        return f"{BEGIN}\n{END}"
    body = "\n\n\n".join([preamble(names, dtype)] + [helper_source(n, dtype).rstrip("\n") for n in names])
    return f"{BEGIN}\n\n{body}\n\n\n{END}"


def helper_module(name: str, dtype: str, version: int) -> str:
    """A module holding one helper, which every cached kernel of this dtype imports."""
    return (
        f'"""symnn helper {name} ({dtype}, codegen version {version}), shared by the cached kernels."""\n\n'
        "import math\n\nimport numpy as np\nfrom numba import njit, types\n\n"
        f"{preamble([name], dtype)}\n\n\n{helper_source(name, dtype)}"
    )


def link(source: str, modules: dict[str, str]) -> str:
    """The standalone ``source`` with its helper section replaced by imports (helper -> module)."""
    head, rest = source.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    imports = "".join(f"from {modules[n]} import {n}\n" for n in sorted(modules))
    return f"{head}{BEGIN}\n{imports}{END}{tail}"


def linked_helpers(source: str) -> dict[str, str]:
    """helper -> module of a linked source."""
    section = source.split(BEGIN, 1)[1].split(END, 1)[0]
    return {m.group(2): m.group(1) for m in _IMPORT.finditer(section)}


def unlink(source: str, dtype: str) -> str:
    """The standalone module of a linked source (the inverse of ``link``)."""
    head, rest = source.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + helper_block(linked_helpers(source), dtype) + tail
