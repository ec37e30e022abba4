"""The pytest plugin is thin: pytest imports it at every start of any project where symnn is installed.

The fixtures themselves are tested in test_gradcheck.py and test_check_implementation.py (pytester).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numba", "sympy", "numpy", "hypothesis", "mpmath", "symnn")


def _loaded_after(code: str, cwd: Path, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """The ``heavy`` packages in ``sys.modules`` of a fresh interpreter after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    return json.loads(out.splitlines()[-1])


def test_importing_the_plugin_loads_nothing_heavy(tmp_path: Path) -> None:
    """Before: ``import verify.plugin`` imported numba, sympy, numpy, mpmath and hypothesis (1.5 s)."""
    assert _loaded_after("import verify.plugin", tmp_path) == []
    assert _loaded_after("import verify", tmp_path) == []


def test_a_pytest_session_that_uses_no_fixture_loads_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    code = (
        "import pytest, sys\n"
        "assert pytest.main(['-q', '-p', 'no:cacheprovider', '--symnn-seed', '3']) == 0\n"  # the plugin's option
        "assert 'verify.plugin' in sys.modules\n"
    )
    # hypothesis is left out: its own pytest plugin imports it in every session
    assert _loaded_after(code, tmp_path, tuple(m for m in HEAVY if m != "hypothesis")) == []


def test_public_names_load_on_first_use() -> None:
    import verify

    assert verify.CheckOptions is verify.options.CheckOptions
    assert verify.gradcheck is verify.gradients.gradcheck
    assert set(verify.__all__) <= set(dir(verify))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        verify.nothing  # noqa: B018
