"""The model zoo, and ``resolve``: a MODEL argument of the command line to a ``Model`` (the one model loader).

A spec is a built-in name with optional sizes (``mlp:4-8-1``, ``conv``, ``attention``, ...),
a file ``path/to/file.py:attr`` or a module ``package.module:attr``, where ``attr`` is a Graph,
a Model, an object with ``.graph()``, a function of no arguments defined in that file or module
returning one (nothing else is called: not a builtin, a class or an imported function), or a
``torch.nn.Module`` (imported by ``symnn.from_torch`` at the ``example_inputs`` defined beside
it, with its ``loss`` and ``target`` if the file defines them). The built-in
defaults are tiny on purpose: they are expanded to explicit scalar sympy expressions by the exact
reference. Every command and check loads its models here (``resolve(spec).graph()``).

>>> m = resolve("mlp:4-8-1")
>>> m.shapes, m.graph().output_names
({'x': (2, 4), 'y': (2, 1)}, ('loss',))
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError, SymnnError
from .ir import Graph
from .layers import (
    MLP,
    Conv2d,
    Flatten,
    Linear,
    MeanPool,
    MultiHeadAttention,
    ReLU,
    ResNet,
    SelfAttention,
    Sequential,
    Sign,
    Tanh,
    Transformer,
)
from .layers.base import Layer
from .losses import Loss
from .torch_import import is_torch_module, resolve_torch
from .trace import trace


@dataclass(frozen=True)
class Model:
    """A network with its loss and input shapes; ``graph()`` traces it (or returns a fixed Graph)."""

    name: str
    net: Layer | None
    loss: str | Loss | None
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict, hash=False)
    fixed: Graph | None = field(default=None, repr=False, hash=False)
    #: the model's own values of some leaves (a torch module's trained parameters and example
    #: inputs): checks start there instead of at random points
    point: dict[str, Any] | None = field(default=None, repr=False, hash=False, compare=False)

    def graph(self) -> Graph:
        if self.fixed is not None:
            return self.fixed
        if self.net is None:
            raise ModelError(f"model {self.name!r} has neither a network nor a graph")
        net = self.net
        if self.name.partition(":")[0] in ZOO:
            return trace(net, self.loss, self.shapes)
        # user layers: their own errors (and runaway recursion) as ModelError
        return _call(self.name, lambda: trace(net, self.loss, self.shapes))


# -- built-in models -------------------------------------------------------------------------------
def _sizes(name: str, text: str | None, defaults: tuple[int, ...], fields: str, exact: bool = True) -> tuple[int, ...]:
    """Parse ``"a-b-c"``; ``exact`` requires as many numbers as ``defaults``."""
    if text is None:
        return defaults
    if not re.fullmatch(r"[0-9]+(-[0-9]+)*", text):
        raise ModelError(
            f"malformed sizes {text!r} for {name!r}: expected positive ints joined by '-', "
            f"e.g. {name}:{_join(defaults)}"
        )
    sizes = tuple(int(t) for t in text.split("-"))
    if min(sizes) < 1:
        raise ModelError(f"malformed sizes {text!r} for {name!r}: every size must be >= 1")
    if exact and len(sizes) != len(defaults):
        raise ModelError(f"{name!r} takes {len(defaults)} sizes {fields}, got {text!r}; e.g. {name}:{_join(defaults)}")
    if not exact and len(sizes) < 2:
        raise ModelError(f"{name!r} needs at least an input and an output size {fields}, got {text!r}")
    return sizes


def _join(sizes: tuple[int, ...]) -> str:
    return "-".join(map(str, sizes))


def mlp(sizes: str | None = None) -> Model:
    """MLP d-h-...-k with sigmoid hidden units and MSE loss, batch 2 (sizes: the layer widths)."""
    s = _sizes("mlp", sizes, (4, 8, 1), "(layer widths)", exact=False)
    return Model(f"mlp:{_join(s)}", MLP(s, "sigmoid"), "mse", {"x": (2, s[0]), "y": (2, s[-1])})


def conv(sizes: str | None = None) -> Model:
    """Conv2d on a 1xHxW image, ReLU, flatten, Linear, softmax cross-entropy (sizes: H-W-filters-kernel-classes)."""
    h, w, f, k, c = _sizes("conv", sizes, (6, 6, 2, 3, 3), "(H-W-filters-kernel-classes)")
    if k > min(h, w):
        raise ModelError(f"conv: kernel {k} does not fit a {h}x{w} image")
    net = Sequential(Conv2d(1, f, k), ReLU(), Flatten(), Linear(f * (h - k + 1) * (w - k + 1), c))
    return Model(f"conv:{_join((h, w, f, k, c))}", net, "softmax_cross_entropy", {"x": (2, 1, h, w), "y": (2, c)})


def attention(sizes: str | None = None) -> Model:
    """Self-attention on a (2, T, d) sequence, mean-pool, Linear to 1, MSE (sizes: T-d)."""
    t, d = _sizes("attention", sizes, (3, 2), "(T-d)")
    net = Sequential(SelfAttention(d), MeanPool(1), Linear(d, 1))
    return Model(f"attention:{t}-{d}", net, "mse", {"x": (2, t, d), "y": (2, 1)})


def mha(sizes: str | None = None) -> Model:
    """Multi-head attention (the notes' sliced heads), mean-pool, Linear to 1, MSE (sizes: T-d-heads)."""
    t, d, h = _sizes("mha", sizes, (2, 4, 2), "(T-d-heads)")
    if d % h:
        raise ModelError(f"mha: d {d} is not divisible by heads {h}")
    net = Sequential(MultiHeadAttention(d, h), MeanPool(1), Linear(d, 1))
    return Model(f"mha:{t}-{d}-{h}", net, "mse", {"x": (1, t, d), "y": (1, 1)})


def transformer(sizes: str | None = None) -> Model:
    """Pre-norm Transformer, mean-pool, Linear to 1, MSE, batch 1 (sizes: T-d-heads-d_ff-depth)."""
    t, d, h, ff, depth = _sizes("transformer", sizes, (2, 4, 2, 2, 1), "(T-d-heads-d_ff-depth)")
    if d % h:
        raise ModelError(f"transformer: d {d} is not divisible by heads {h}")
    net = Sequential(Transformer(d, h, ff, depth), MeanPool(1), Linear(d, 1))
    return Model(f"transformer:{_join((t, d, h, ff, depth))}", net, "mse", {"x": (1, t, d), "y": (1, 1)})


def resnet(sizes: str | None = None) -> Model:
    """Small ResNet on a 1xHxW image, softmax cross-entropy, batch 2 (sizes: H-W-channels-blocks-classes)."""
    hh, ww, ch, blocks, classes = _sizes("resnet", sizes, (2, 2, 1, 1, 2), "(H-W-channels-blocks-classes)")
    net = ResNet(1, ch, blocks, classes, (hh, ww))
    return Model(
        f"resnet:{_join((hh, ww, ch, blocks, classes))}",
        net,
        "softmax_cross_entropy",
        {"x": (2, 1, hh, ww), "y": (2, classes)},
    )


def signnet(sizes: str | None = None) -> Model:
    """The notes' sign network sign(W2 sign(W1 x + b1) + b2), MSE (sizes: d-k; gradient zero a.e.)."""
    d, k = _sizes("signnet", sizes, (3, 4), "(d-k)")
    net = Sequential(Linear(d, k), Sign(), Linear(k, 1), Sign())
    return Model(f"signnet:{d}-{k}", net, "mse", {"x": (2, d), "y": (2, 1)})


def classifier(sizes: str | None = None) -> Model:
    """Two-layer tanh classifier, softmax cross-entropy over more than 3 classes, batch 2 (sizes: d-h-classes).

    More than 3 classes on purpose: code that special-cases short softmax axes is exercised.
    """
    d, h, k = _sizes("classifier", sizes, (2, 3, 5), "(d-h-classes)")
    if k < 2:
        raise ModelError(f"classifier: need at least 2 classes, got {k}")
    net = Sequential(Linear(d, h), Tanh(), Linear(h, k))
    return Model(f"classifier:{d}-{h}-{k}", net, "softmax_cross_entropy", {"x": (2, d), "y": (2, k)})


def convstack(sizes: str | None = None) -> Model:
    """A strided conv after a conv: Conv2d k, tanh, Conv2d k stride s, flatten, Linear to 1, MSE (sizes: H-k-s).

    The second convolution's input has a gradient, so the transpose of a strided window with a
    kernel larger than 2 is exercised (a first-layer convolution only needs its weights').
    """
    hw, k, st = _sizes("convstack", sizes, (7, 3, 2), "(H-kernel-stride)")
    mid = hw - k + 1
    if mid < k:
        raise ModelError(f"convstack: a {hw}x{hw} image leaves {mid}x{mid} after the first conv, less than kernel {k}")
    out = (mid - k) // st + 1
    net = Sequential(Conv2d(1, 2, k), Tanh(), Conv2d(2, 2, k, stride=st), Flatten(), Linear(2 * out * out, 1))
    return Model(f"convstack:{hw}-{k}-{st}", net, "mse", {"x": (1, 1, hw, hw), "y": (1, 1)})


#: Built-in model names -> factory taking the optional sizes text.
ZOO: dict[str, Callable[[str | None], Model]] = {
    "mlp": mlp,
    "conv": conv,
    "attention": attention,
    "mha": mha,
    "transformer": transformer,
    "resnet": resnet,
    "signnet": signnet,
    "classifier": classifier,
    "convstack": convstack,
}


def list_models() -> list[str]:
    """The built-in model names (each also accepts ``name:sizes``)."""
    return list(ZOO)


# -- resolving specs -------------------------------------------------------------------------------
def resolve(spec: str) -> Model:
    """The model named by ``spec``: ``name[:sizes]``, ``path/to/file.py:attr`` or ``package.module:attr``."""
    if not isinstance(spec, str) or not spec.strip():
        raise ModelError(f"a model spec must be a non-empty string, got {spec!r}; known models: {', '.join(ZOO)}")
    spec = spec.strip()
    head, sep, tail = spec.partition(":")
    if head in ZOO:
        return ZOO[head](tail if sep else None)
    where, sep, attr = spec.rpartition(":")
    if not sep:
        where = spec
    if where.endswith(".py") or "/" in where or "\\" in where:
        if not attr or not sep:
            raise ModelError(f"{spec!r}: name the object to load from the file, e.g. {where}:model")
        module = _load_file(where)
        return _from_object(spec, _attribute(module, attr, where), module)
    known = f"known models: {', '.join(ZOO)} (with optional sizes, e.g. mlp:4-8-1)"
    if sep and re.fullmatch(r"[A-Za-z_][\w.]*", where) and attr:
        try:
            module = importlib.import_module(where)
        except (Exception, SystemExit) as e:
            raise ModelError(
                f"{spec!r} is not a built-in model and importing module {where!r} failed ({e}); {known}"
            ) from e
        return _from_object(spec, _attribute(module, attr, where), module)
    raise ModelError(f"unknown model {spec!r}; {known}, or path/to/file.py:attr, or package.module:attr")


def load_object(spec: str) -> Any:
    """The object ``attr`` of ``path/to/file.py:attr`` or ``package.module:attr``, whatever it is (e.g. a function).

    Only the file or module named is run; the object is returned as it is, not made a Model.
    """
    where, sep, attr = spec.strip().rpartition(":") if isinstance(spec, str) else ("", "", "")
    if not sep or not where or not attr:
        raise ModelError(f"{spec!r}: name a file and an object in it, e.g. path/to/file.py:loss_and_grads")
    if where.endswith(".py") or "/" in where or "\\" in where:
        return _attribute(_load_file(where), attr, where)
    try:
        module = importlib.import_module(where)
    except Exception as e:
        raise ModelError(f"importing module {where!r} of {spec!r} failed ({e})") from e
    return _attribute(module, attr, where)


def _load_file(path_text: str) -> Any:
    path = Path(path_text)
    if not path.is_file():
        raise ModelError(f"model file {path_text!r} does not exist")
    name = f"_symnn_model_{abs(hash(str(path.resolve())))}"
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ModelError(f"cannot load {path_text!r} as a Python module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up here
    try:
        loader_spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # SystemExit: a model file calling sys.exit() must not end symnn quietly
        sys.modules.pop(name, None)
        raise ModelError(f"running {path_text!r} failed: {type(e).__name__}: {e}") from e
    return module


def _attribute(module: Any, attr: str, where: str) -> Any:
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n in dir(module) if not n.startswith("_"))
            raise ModelError(f"{where!r} has no attribute {attr!r}; it defines: {', '.join(public) or 'nothing'}")
        obj = getattr(obj, part)
    return obj


def _from_object(spec: str, obj: Any, module: Any = None) -> Model:
    """The Model of ``obj``, found at ``spec`` in ``module`` (the named file or module, if any).

    A callable is called only if it is a plain Python function defined in that module (``def`` in
    the file or module the spec names): never a builtin, a class or a function imported from
    elsewhere (``os:abort`` is refused), so a spec runs no code but the named module's own.
    """
    expected = (
        "a Graph, a Model, an object with a .graph() method, or a function of no arguments defined in that "
        "file or module returning one"
    )
    home = getattr(module, "__name__", None)
    if isinstance(obj, Model):
        return obj
    if is_torch_module(obj):  # torch is loaded already when obj is one of its modules
        traced = resolve_torch(spec, obj, module)
        return Model(spec, None, None, {}, fixed=traced.graph(), point=traced.arrays())
    if isinstance(obj, Graph):
        return Model(spec, None, None, {}, fixed=obj)
    if not isinstance(obj, type) and callable(getattr(obj, "graph", None)):  # e.g. a constructed SignNetwork
        try:
            inspect.signature(obj.graph).bind()
        except TypeError:
            raise ModelError(f"{spec!r}: its .graph() method needs arguments; expose {expected}") from None
        except ValueError:
            pass
        return _from_object(spec, _call(spec, obj.graph), module)
    if callable(obj) and not isinstance(obj, type):
        try:
            inspect.signature(obj).bind()
        except TypeError:
            raise ModelError(f"{spec!r} is {obj!r}, which needs arguments; expose {expected}") from None
        except ValueError:  # no signature (a builtin): refused below
            pass
        if not inspect.isfunction(obj) or (home is not None and getattr(obj, "__module__", None) != home):
            where = getattr(obj, "__module__", None) or "a builtin"
            raise ModelError(
                f"{spec!r} is {obj!r} (from {where}), not a function defined in the named file or module; "
                f"symnn calls only those. Expose {expected}"
            )
        result = _call(spec, obj)
        if isinstance(result, Model | Graph) or (not callable(result) and callable(getattr(result, "graph", None))):
            return _from_object(spec, result, module)
        raise ModelError(f"{spec!r} returned a {type(result).__name__}; expected a Graph or a Model")
    raise ModelError(f"{spec!r} is a {type(obj).__name__}; expected {expected}")


def _call(spec: str, fn: Callable[[], Any]) -> Any:
    """``fn()``, the model code's own failures (including runaway recursion) as ModelError."""
    try:
        return fn()
    except SymnnError:
        raise
    except (Exception, SystemExit) as e:
        raise ModelError(f"building model {spec!r} failed: {type(e).__name__}: {str(e)[:200]}") from e
