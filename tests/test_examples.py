"""Every example runs (in its quick mode where it has one) and exits 0."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("test_"))


def test_there_are_examples():
    assert len(SCRIPTS) >= 5


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_runs(script):
    if "import torch" in script.read_text() and importlib.util.find_spec("torch") is None:
        pytest.skip(f"{script.name} needs torch (pip install torch)")
    proc = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.strip()


def test_the_backprop_example_passes_and_names_the_planted_bug():
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "check_my_backprop.py"), "--quick"], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "backprop: OK" in proc.stdout
    assert re.search(r"with the planted bug: grad (W1|b1)\[\d+(, \d+)?\]: got ", proc.stdout), proc.stdout[-1000:]


def test_the_property_test_example_passes():
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLES / "test_my_model.py")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "4 passed" in proc.stdout
