"""The layers of DESIGN.md, read from the source with ``ast`` (no module is imported).

Every ``import`` and ``from ... import`` of every module of ``symnn/`` and ``verify/`` is
collected at any depth (module top, functions, methods, classes), relative imports are
resolved, and ``importlib.import_module("...")`` with a literal name counts as a (lazy)
import too. A computed name (symnn/__init__.py's table, the CLI's subcommand table) is not
seen; symnn/__init__.py names the same modules under ``if TYPE_CHECKING:``. ``from pkg import
name`` is an import of the module ``pkg.name`` when that module exists, else of ``pkg``. The
implicit import of parent packages (``import a.b`` runs ``a/__init__.py``) is not an edge:
every module would otherwise depend on its package's ``__init__``.

Imports under ``if TYPE_CHECKING:`` never run: they are left out of the cycle check but kept
in the layer checks (a type a module names is still a dependency of its layer).

The layers, lowest first::

    core      symnn.errors, functions, ir, ops, registry, diff, expand, printing, draw, cost, trace,
              formula, losses, layers/, zoo, files            imports only the core
    codegen   symnn/codegen/                                  core + itself
    executor  symnn/executor/                                 core + itself, never diff/expand
    train     symnn/train/                                    core + codegen + itself
    bench     symnn/bench/ (the benchmarks that ship)         core + codegen + executor + train + itself
    symnn     symnn/__init__.py, the public surface           the core; codegen and the executor
                                                              only lazily (module __getattr__);
                                                              ``import symnn`` imports nothing else
    verify    verify/                                         anything in symnn but symnn.cli
    cli       symnn/cli/, symnn/__main__.py                   anything; nothing else imports it

``symnn.executor`` and ``verify.oracles`` are independent oracles: no chain of imports leads
from them to ``symnn.diff`` or ``symnn.expand``. There are no import cycles, and imports sit
at the top of modules except those of the optional packages in ``OPTIONAL`` (ruff's PLC0415
enforces the same, configured in pyproject.toml) and the lazy loading through ``importlib``
in symnn/cli/ and in packages' module ``__getattr__``.

The last tests plant each kind of violation in a small package tree and check it is reported.
"""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
import tomllib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

import symnn

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("symnn", "verify")

CORE = frozenset(
    f"symnn.{name}"
    for name in (
        "errors",
        "functions",
        "ir",
        "ops",
        "registry",
        "diff",
        "expand",
        "printing",
        "draw",
        "cost",
        "trace",
        "formula",
        "losses",
        "layers",
        "zoo",
        "files",
        "jit",
        "torch_import",
    )
)
CODEGEN = frozenset({"symnn.codegen"})
EXECUTOR = frozenset({"symnn.executor"})
TRAIN = frozenset({"symnn.train"})
BENCH = frozenset({"symnn.bench"})
FACADE = frozenset({"symnn"})  # the package itself: symnn/__init__.py
CLI = frozenset({"symnn.cli"})
VERIFY = frozenset({"verify"})
#: The layers of symnn; every module of the package belongs to exactly one.
SYMNN_LAYERS = {"core": CORE, "codegen": CODEGEN, "executor": EXECUTOR, "train": TRAIN, "bench": BENCH, "cli": CLI}
#: Independent oracles, and what they must never reach (DESIGN.md, "Independent oracles").
ORACLES = frozenset({"symnn.executor", "verify.oracles"})
SYMBOLIC = frozenset({"symnn.diff", "symnn.expand"})
#: Optional packages: imported where they are used, so that symnn works without them.
OPTIONAL = frozenset({"dask", "distributed", "matplotlib", "torch", "jax", "pytensor", "scipy"})


@dataclass(frozen=True)
class Import:
    """One import of ``target`` by ``source`` at ``path:line``."""

    source: str
    target: str
    path: str
    line: int
    function: str | None  # innermost enclosing def or class; None at module level
    type_checking: bool  # under ``if TYPE_CHECKING:``
    lazy: bool  # ``importlib.import_module("...")``

    @property
    def local(self) -> bool:
        return self.function is not None

    def where(self) -> str:
        how = "importlib.import_module of" if self.lazy else "imports"
        inside = f" inside {self.function}()" if self.function else ""
        return f"{self.path}:{self.line}: {self.source} {how} {self.target}{inside}"


def in_group(module: str, group: Iterable[str]) -> bool:
    """Whether ``module`` is one of ``group`` or inside one of its packages."""
    return any(module == g or module.startswith(g + ".") for g in group)


def modules(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Every module of ``packages`` under ``root``: dotted name -> file."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, path: str, known: set[str]):
        self.module, self.path, self.known = module, path, known
        self.package = module if is_package else module.rpartition(".")[0]
        self.scopes: list[str] = []
        self.type_checking = 0
        self.found: list[Import] = []

    def _add(self, target: str, node: ast.stmt | ast.expr, lazy: bool = False) -> None:
        function = self.scopes[-1] if self.scopes else None
        self.found.append(Import(self.module, target, self.path, node.lineno, function, self.type_checking > 0, lazy))

    def _absolute(self, name: str | None, level: int, anchor: str | None = None) -> str:
        """``name`` imported ``level`` dots up from ``anchor`` (default: this module's package)."""
        if not level:
            return name or ""
        base = (anchor or self.package).split(".")
        base = base[: len(base) - (level - 1)]
        return ".".join([*base, name] if name else base)

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scopes.append(node.name)
        self.generic_visit(node)
        self.scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.scopes.append("<lambda>")
        self.generic_visit(node)
        self.scopes.pop()

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.type_checking += 1
        for stmt in node.body:
            self.visit(stmt)
        self.type_checking -= 1
        for stmt in node.orelse:
            self.visit(stmt)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._absolute(node.module, node.level)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            self._add(sub if sub in self.known else base, node)

    def visit_Call(self, node: ast.Call) -> None:
        """``importlib.import_module("name")``, or ``(".name", __name__ / __package__)``, with literal names."""
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        first = node.args[0] if node.args else None
        if called == "import_module" and isinstance(first, ast.Constant) and isinstance(first.value, str):
            name = first.value
            level = len(name) - len(name.lstrip("."))
            anchor = node.args[1] if len(node.args) > 1 else None
            anchors = {"__name__": self.module, "__package__": self.package}
            if not level:
                self._add(name, node, lazy=True)
            elif isinstance(anchor, ast.Name) and anchor.id in anchors:
                self._add(self._absolute(name[level:] or None, level, anchors[anchor.id]), node, lazy=True)
        self.generic_visit(node)


def collect(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> list[Import]:
    """Every import in every module of ``packages`` under ``root``."""
    found = modules(root, packages)
    imports = []
    for module, path in found.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        collector = _Collector(module, path.name == "__init__.py", str(path.relative_to(root)), set(found))
        collector.visit(tree)
        imports.extend(collector.found)
    return list({(i.source, i.target, i.line): i for i in imports}.values())  # one per name imported


def first_party(imports: Iterable[Import], packages: Iterable[str] = PACKAGES) -> list[Import]:
    """The imports of modules of ``packages`` (a package importing itself left out)."""
    return [i for i in imports if in_group(i.target, packages) and i.target != i.source]


# ---------------------------------------------------------------- the rules


@dataclass(frozen=True)
class Rule:
    """A layer rule: every import it ``applies`` to must be ``allowed``; ``fix`` says how to mend one that is not."""

    name: str
    applies: Callable[[Import], bool]
    allowed: Callable[[Import], bool]
    fix: str


def _own_package(imp: Import, groups: Iterable[str]) -> bool:
    return any(in_group(imp.source, {g}) and in_group(imp.target, {g}) for g in groups)


RULES = (
    Rule(
        "the core imports only the core",
        lambda i: in_group(i.source, CORE),
        lambda i: in_group(i.target, CORE),
        "move the code that needs it up a layer (codegen, executor, train, cli), or take it as an argument",
    ),
    Rule(
        "symnn.codegen and symnn.executor import only the core and themselves",
        lambda i: in_group(i.source, CODEGEN | EXECUTOR),
        lambda i: in_group(i.target, CORE) or _own_package(i, CODEGEN | EXECUTOR),
        "move the shared code into the core (e.g. symnn.files for file helpers)",
    ),
    Rule(
        "symnn.train imports only the core, symnn.codegen and itself",
        lambda i: in_group(i.source, TRAIN),
        lambda i: in_group(i.target, CORE | CODEGEN | TRAIN),
        "command-line and verification code that uses training belongs in symnn/cli or verify",
    ),
    Rule(
        "symnn.bench imports only the core, symnn.codegen, symnn.executor, symnn.train and itself",
        lambda i: in_group(i.source, BENCH),
        lambda i: in_group(i.target, CORE | CODEGEN | EXECUTOR | TRAIN | BENCH),
        "the benchmarks measure the library: code that checks or prints for a user belongs in verify or symnn/cli",
    ),
    Rule(
        "symnn/__init__.py imports the core; codegen and the executor only lazily",
        lambda i: i.source == "symnn",
        lambda i: in_group(i.target, CORE) or (in_group(i.target, CODEGEN | EXECUTOR) and (i.lazy or i.type_checking)),
        "expose it through the module __getattr__ (symnn._EXPORTS), so `import symnn` stays light",
    ),
    Rule(
        "symnn outside symnn/cli never imports verify",
        lambda i: in_group(i.source, {"symnn"}) and not in_group(i.source, CLI),
        lambda i: not in_group(i.target, VERIFY),
        "the library returns values and raises SymnnError; the caller in verify or symnn/cli does the checking",
    ),
    Rule(
        "nothing outside symnn/cli imports symnn.cli",
        lambda i: not in_group(i.source, CLI),
        lambda i: not in_group(i.target, CLI),
        "move the helper out of symnn/cli into the library (symnn core, or verify) and import it from there",
    ),
)


def layer_violations(imports: Iterable[Import], rules: Iterable[Rule] = RULES) -> dict[str, list[str]]:
    """Rule name -> every import that breaks it, with where it is and the fix."""
    imports = first_party(imports)
    out: dict[str, list[str]] = {}
    for rule in rules:
        out[rule.name] = [i.where() for i in imports if rule.applies(i) and not rule.allowed(i)]
    return out


def unlayered(names: Iterable[str]) -> list[str]:
    """Modules of symnn that belong to no layer."""
    return [
        m
        for m in names
        if in_group(m, {"symnn"}) and m not in FACADE and not any(in_group(m, g) for g in SYMNN_LAYERS.values())
    ]


def graph(imports: Iterable[Import]) -> dict[str, dict[str, Import]]:
    """The module graph of every import that runs (``TYPE_CHECKING`` ones left out): source -> target -> one import."""
    edges: dict[str, dict[str, Import]] = {}
    for i in first_party(imports):
        if not i.type_checking:
            edges.setdefault(i.source, {}).setdefault(i.target, i)
    return edges


def path_between(edges: dict[str, dict[str, Import]], start: str, goal: Callable[[str], bool]) -> list[Import] | None:
    """A shortest chain of imports from ``start`` to a module satisfying ``goal`` (breadth first)."""
    came: dict[str, Import | None] = {start: None}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for there, imp in sorted(edges.get(here, {}).items()):
            if goal(there):
                chain = [imp]
                while (step := came[chain[-1].source]) is not None:
                    chain.append(step)
                return chain[::-1]
            if there not in came:
                came[there] = imp
                queue.append(there)
    return None


def _groups(edges: dict[str, dict[str, Import]]) -> list[list[str]]:
    """The strongly connected groups of the module graph (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            groups.append(sorted([v, *group]))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


def cycles(imports: Iterable[Import]) -> list[tuple[list[str], list[Import]]]:
    """Each group of modules that import each other, with one cycle through it as the chain of imports."""
    edges = graph(imports)
    found = []
    for group in _groups(edges):
        if len(group) > 1:
            inside = {m: {t: i for t, i in edges.get(m, {}).items() if t in group} for m in group}
            chain = path_between(inside, group[0], group[0].__eq__)
            assert chain, group  # a strongly connected group has a cycle through each of its modules
            found.append((group, chain))
    return sorted(found, key=lambda found: found[0])


def describe(chain: list[Import]) -> str:
    return "\n    ".join(i.where() for i in chain)


def reaches(imports: Iterable[Import], sources: Iterable[str], targets: frozenset[str]) -> list[list[Import]]:
    """Chains of imports from a module in ``sources`` (or inside them) to one in ``targets``."""
    edges = graph(imports)
    starts = sorted(m for m in edges if in_group(m, sources))
    chains = [path_between(edges, s, lambda m: in_group(m, targets)) for s in starts]
    return [c for c in chains if c]


def misplaced(imports: Iterable[Import], optional: frozenset[str] = OPTIONAL) -> list[str]:
    """Imports not at the top of their module, other than of optional packages and allowed lazy loading."""
    return [
        i.where()
        for i in imports
        if i.local
        and not i.type_checking
        and i.target.split(".")[0] not in optional
        and not (i.lazy and (in_group(i.source, CLI) or i.function == "__getattr__"))
    ]


def _fail(rule: str, problems: list[str], fix: str) -> None:
    if problems:
        listed = "\n  ".join(problems)
        pytest.fail(f"rule: {rule}\nfix: {fix}\nbroken {len(problems)} time(s):\n  {listed}", pytrace=False)


# ---------------------------------------------------------------- the rules, on this repository


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return collect()


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_layer_rule(imports, rule):
    _fail(rule.name, layer_violations(imports, [rule])[rule.name], rule.fix)


def test_every_symnn_module_has_a_layer():
    _fail(
        "every module of symnn belongs to a layer: " + ", ".join(SYMNN_LAYERS) + " or the package itself",
        unlayered(modules(ROOT)),
        f"move it into a layer's package, or name its layer in {Path(__file__).name}",
    )


def test_the_independent_oracles_never_reach_the_symbolic_rules(imports):
    _fail(
        "symnn.executor and verify.oracles never import symnn.diff or symnn.expand, directly or through other modules",
        [f"{c[0].source} reaches {c[-1].target}:\n    {describe(c)}" for c in reaches(imports, ORACLES, SYMBOLIC)],
        "they are the independent oracles: give them their own implementation, share only the registration",
    )


def test_no_import_cycles(imports):
    _fail(
        "no import cycles between modules (function-local imports included)",
        [
            f"{len(group)} modules import each other ({', '.join(group)}); one cycle:\n    {describe(chain)}"
            for group, chain in cycles(imports)
        ],
        "move what both sides need into a module that imports neither, or pass it in as an argument",
    )


def test_imports_are_at_the_top(imports):
    _fail(
        "imports at the top of the module, except of the optional packages " + ", ".join(sorted(OPTIONAL)),
        misplaced(imports),
        "import it at the top; if that makes a cycle, break the cycle; lazy loading is only for symnn/cli"
        " (importlib, from a fixed table) and a package's module __getattr__ (importlib.import_module)",
    )


def test_import_symnn_stays_light():
    """The command line imports ``symnn``: its start-up pays for neither SymPy, NumPy nor Numba."""
    code = "import sys, symnn; print(sorted(m for m in ('sympy', 'numpy', 'numba') if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]", f"`import symnn` loads {out.stdout.strip()}: add the name to symnn._EXPORTS"


def test_the_public_surface_lists_each_name_once():
    """``__all__``, the lazy table and the names imported for type checkers are the same set."""
    tree = ast.parse((ROOT / "symnn" / "__init__.py").read_text())
    typed = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_type_checking(node.test)
        for stmt in node.body
        if isinstance(stmt, ast.ImportFrom)
        for alias in stmt.names
    }
    assert set(symnn.__all__) - {"__version__"} == set(symnn._HOME) == typed
    assert all(getattr(symnn, name) is not None for name in symnn.__all__)


def test_public_functions_keep_their_names_over_their_modules():
    """``symnn.trace`` and ``symnn.formula`` are the functions, also after their modules were imported."""
    trace_module = importlib.import_module("symnn.trace")
    formula_module = importlib.import_module("symnn.formula")
    assert symnn.trace is trace_module.trace and symnn.formula is formula_module.formula
    assert symnn.layers is importlib.import_module("symnn.layers")


def test_the_checker_sees_this_repository(imports):
    names = modules(ROOT)
    assert {"symnn", "symnn.ir", "symnn.codegen", "verify", "verify.oracles"} <= set(names)
    assert any(i.source == "symnn.ir" and i.target == "symnn.ops" for i in imports)


def test_ruff_enforces_top_level_imports_with_the_same_allow_list():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    selected = set(config.get("select", [])) | set(config.get("extend-select", []))
    assert {"PLC0415", "TID253"} <= selected, "select PLC0415 and TID253 (which exempts the optional packages)"
    banned = set(config["flake8-tidy-imports"]["banned-module-level-imports"])
    assert banned == OPTIONAL, f"pyproject.toml's allow-list {sorted(banned)} != {sorted(OPTIONAL)}"


# ---------------------------------------------------------------- the checker fails on planted violations


PLANTED = {
    "symnn/__init__.py": "import importlib\n\nfrom .ir import Graph\n\n\n"
    "def __getattr__(name):\n    return importlib.import_module('symnn.executor')\n",
    "symnn/errors.py": "import verify.check\n",
    "symnn/expand.py": "",
    "symnn/ir.py": "from .errors import Boom\nfrom .expand import count\n\n\ndef f():\n    from .ops import Op\n",
    "symnn/ops.py": "from .ir import Graph\n",
    "symnn/codegen/__init__.py": "import symnn.train\n",
    "symnn/train/__init__.py": "",
    "symnn/executor/__init__.py": "from ..ops import Op\n",
    "symnn/cli/__init__.py": "def main():\n    pass\n",
    "verify/__init__.py": "",
    "verify/check.py": "from symnn.cli import main\nimport importlib\n\n\n"
    "def g():\n    import scipy\n    return importlib.import_module('symnn.diff')\n",
    "verify/oracles.py": "from symnn.ir import Graph\n",
}


@pytest.fixture
def planted(tmp_path):
    """A small symnn/verify tree with one violation of each rule."""
    for name, text in PLANTED.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return collect(tmp_path)


def test_layer_violations_are_reported(planted):
    bad = layer_violations(planted)
    assert bad["the core imports only the core"] == ["symnn/errors.py:1: symnn.errors imports verify.check"]
    assert bad["symnn outside symnn/cli never imports verify"] == bad["the core imports only the core"]
    assert bad["nothing outside symnn/cli imports symnn.cli"] == ["verify/check.py:1: verify.check imports symnn.cli"]
    assert bad["symnn.codegen and symnn.executor import only the core and themselves"] == [
        "symnn/codegen/__init__.py:1: symnn.codegen imports symnn.train"
    ]
    assert bad["symnn/__init__.py imports the core; codegen and the executor only lazily"] == []
    with pytest.raises(pytest.fail.Exception) as failed:
        test_layer_rule(planted, RULES[0])
    message = str(failed.value)
    assert "rule: the core imports only the core" in message and f"fix: {RULES[0].fix}" in message
    assert "symnn/errors.py:1: symnn.errors imports verify.check" in message


def test_a_cycle_is_reported_with_its_path(planted):
    (group, chain), *others = cycles(planted)
    assert not others and group == ["symnn.ir", "symnn.ops"]
    assert describe(chain).splitlines() == [
        "symnn/ir.py:6: symnn.ir imports symnn.ops inside f()",
        "    symnn/ops.py:1: symnn.ops imports symnn.ir",
    ]
    with pytest.raises(pytest.fail.Exception, match="2 modules import each other"):
        test_no_import_cycles(planted)


def test_a_function_local_import_is_reported(planted):
    assert misplaced(planted) == [
        "symnn/ir.py:6: symnn.ir imports symnn.ops inside f()",
        "verify/check.py:7: verify.check importlib.import_module of symnn.diff inside g()",
    ]  # not scipy (optional), not importlib in symnn's module __getattr__


def test_an_oracle_reaching_the_symbolic_rules_is_reported(planted):
    chains = reaches(planted, ORACLES, SYMBOLIC)
    assert [[i.target for i in c] for c in chains] == [
        ["symnn.ops", "symnn.ir", "symnn.expand"],
        ["symnn.ir", "symnn.expand"],
    ]
    assert [c[0].source for c in chains] == ["symnn.executor", "verify.oracles"]


def test_a_module_without_a_layer_is_reported(tmp_path):
    for name in ("symnn/__init__.py", "symnn/ir.py", "symnn/stray.py", "symnn/cli/main.py", "verify/x.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert unlayered(modules(tmp_path)) == ["symnn.stray"]
