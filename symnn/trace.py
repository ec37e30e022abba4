"""``trace``: a layer (and optionally a loss) applied to named inputs, recorded as a Graph.

>>> from symnn.layers import MLP
>>> g = trace(MLP((4, 8, 1), "sigmoid"), "mse", shapes={"x": (2, 4)})
>>> g.inputs, g.output_names
({'x': (2, 4), 'y': (2, 1)}, ('loss',))
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import GraphError, ShapeError
from .ir import Builder, Graph, Tensor, is_identifier
from .layers.base import Layer, Params
from .losses import Loss, get_loss


def _check_shape(name: str, shape: Any) -> tuple[int, ...]:
    if isinstance(shape, int) or not isinstance(shape, Sequence) or isinstance(shape, str):
        raise ShapeError(f"shapes[{name!r}] must be a tuple of sizes such as (2, 4), got {shape!r}")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape):
        raise ShapeError(f"shapes[{name!r}] must hold positive ints, got {tuple(shape)!r}")
    return tuple(shape)


def check_shapes(shapes: Any, with_loss: bool) -> dict[str, tuple[int, ...]]:
    """Validate ``shapes``: ``"x"`` required, ``"y"`` optional and only with a loss, other names identifiers."""
    if shapes is None:
        raise ShapeError('trace needs the input shape, e.g. shapes={"x": (batch, features)}')
    if not isinstance(shapes, Mapping):
        raise ShapeError(f'shapes must be a dict like {{"x": (2, 4), "y": (2, 1)}}, got {shapes!r}')
    bad = sorted((k for k in shapes if not (isinstance(k, str) and is_identifier(k))), key=str)
    if bad:
        raise ShapeError(f"shapes has keys {bad} that are not Python identifiers; they are the net's keyword arguments")
    if "x" not in shapes:
        raise ShapeError(f'shapes needs the input shape under "x", got keys {sorted(shapes, key=str)}')
    if "y" in shapes and not with_loss:
        raise ShapeError('shapes gives "y" but there is no loss; pass loss=... or drop "y"')
    return {k: _check_shape(k, v) for k, v in shapes.items()}


def _check_keywords(net: Layer, names: list[str]) -> None:
    """The extra inputs ``names`` must be keyword arguments of ``net`` (other than ``x`` and ``p``)."""
    if not names:
        return
    try:
        params = inspect.signature(net).parameters
    except (TypeError, ValueError):  # no signature to read: the call itself will tell
        return
    takes_any = any(q.kind is inspect.Parameter.VAR_KEYWORD for q in params.values())
    unknown = [n for n in names if n == "p" or not (takes_any or n in params)]
    if unknown:
        raise ShapeError(
            f"shapes has unknown keys {unknown}: {net} takes no keyword argument of that name; inputs other than "
            '"x" and "y" are passed to the net by keyword, e.g. net(x, p, kv=...)'
        )


def trace(net: Layer, loss: str | Loss | None = None, shapes: Mapping[str, Sequence[int]] | None = None) -> Graph:
    """Record ``net`` applied to the input ``x`` (and ``loss(net(x), y)`` if a loss is given).

    Without a loss the graph's output is ``"out"``; with one it is the scalar ``"loss"`` and the
    graph has the input ``"y"``, whose shape defaults to the network's output shape. ``loss`` is a
    name in ``symnn.losses.LOSSES`` or a function ``(pred, y) -> Tensor``. Every other name in
    ``shapes`` is an input too, passed to the net by keyword: ``net(x, p, kv=<input "kv">)``.

    >>> from symnn.layers import MultiHeadAttention
    >>> g = trace(MultiHeadAttention(4, 2, full_width=True), "mse", shapes={"x": (1, 3, 4), "kv": (1, 5, 4)})
    >>> g.inputs
    {'x': (1, 3, 4), 'kv': (1, 5, 4), 'y': (1, 3, 4)}
    """
    if not callable(net):
        raise GraphError(f"trace needs a layer (a callable net(x, p) -> Tensor), got {net!r}")
    fn = get_loss(loss) if loss is not None else None
    sizes = check_shapes(shapes, fn is not None)
    b = Builder()
    _check_keywords(net, [k for k in sizes if k not in ("x", "y")])
    x = b.input("x", sizes["x"])
    extra = {k: b.input(k, v) for k, v in sizes.items() if k not in ("x", "y")}
    out = net(x, Params(b), **extra)
    if not isinstance(out, Tensor) or out.builder is not b:
        raise GraphError(f"{net} returned {out!r}, not a Tensor of the traced graph")
    if fn is None:
        return b.build(out, names=["out"])
    y = b.input("y", sizes.get("y", out.shape))
    value = fn(out, y)
    if not isinstance(value, Tensor) or value.shape != ():
        shape = value.shape if isinstance(value, Tensor) else type(value).__name__
        raise GraphError(f"the loss must return a scalar Tensor, got {shape}; reduce it with .mean()")
    return b.build(value, names=["loss"])
