"""Issue 19 item 3: the kernel cache executes only what it can prove it wrote, from a directory only the user writes.

Every test gets its own cache directory. Tests run as root, so "another user" is played by
``symnn.jit.owner_uid`` returning another uid, and "writable by others" by ``chmod o+w``.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from symnn import jit
from symnn.codegen import compile
from symnn.codegen.cache import KEY_FILE, kernels_dir
from symnn.codegen.environment import environment_id
from symnn.errors import CacheError, SymnnWarning
from symnn.ir import Builder, Graph

W = np.array([1.0, 2.0, 3.0])


def _power(p: int) -> Graph:
    b = Builder()
    w = b.param("w", (3,))
    y = w * w if p == 2 else w * w * w
    return b.build(y.sum())


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SYMNN_CACHE_DIR", str(root))
    return root


def _entries(root: Path) -> Path:
    return kernels_dir(root, environment_id())


def _plant(entries: Path, key: str, source: str) -> Path:
    """A self-consistent pair: a module and metadata naming it with its true SHA-256."""
    data = source.encode()
    digest = hashlib.sha256(data).hexdigest()
    module = entries / f"k_{digest[:32]}.py"
    module.write_bytes(data)
    meta = json.loads((entries / f"{key}.json").read_text())
    meta.update(module=module.name, sha256=digest)
    (entries / f"{key}.json").write_text(json.dumps(meta))
    return module


def test_a_planted_self_consistent_module_is_never_executed(cache: Path, tmp_path: Path) -> None:
    k = compile(_power(2))
    marker = tmp_path / "executed"
    _plant(_entries(cache), k.fingerprint, k.cached_source + f"\nopen({str(marker)!r}, 'w').close()\n")
    again = compile(_power(2))
    assert not marker.exists()
    assert not again.cache_hit
    assert float(again(w=W)["out"]) == 14.0


def test_metadata_pointing_at_another_graphs_module_is_never_served(cache: Path) -> None:
    square, cube = compile(_power(2)), compile(_power(3))
    entries = _entries(cache)
    assert float(cube(w=W)["out"]) == 36.0
    (entries / f"{square.fingerprint}.json").write_bytes((entries / f"{cube.fingerprint}.json").read_bytes())
    again = compile(_power(2))
    assert not again.cache_hit
    assert float(again(w=W)["out"]) == 14.0


def test_a_readable_or_foreign_key_file_is_refused(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compile(_power(2))
    key = cache / KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600
    key.chmod(0o644)
    with pytest.raises(CacheError, match=r"cache\.key.*mode 644.*remove it"):
        compile(_power(2))
    key.chmod(0o600)
    assert compile(_power(2)).cache_hit


@pytest.mark.parametrize("where", ["cache", "parent", "kernels"])
def test_a_directory_others_can_write_is_refused_with_the_fix(cache: Path, where: str) -> None:
    compile(_power(2))
    path = {"cache": cache, "parent": cache.parent, "kernels": _entries(cache)}[where]
    path.chmod(path.stat().st_mode | 0o002)
    with pytest.raises(CacheError, match=re.escape(f"{path} is writable by others") + ".*chmod o-w"):
        compile(_power(2))
    path.chmod(path.stat().st_mode & ~0o002)
    assert compile(_power(2)).cache_hit


def test_a_sticky_parent_like_tmp_is_accepted(cache: Path) -> None:
    cache.parent.chmod(0o1777)
    try:
        assert float(compile(_power(2))(w=W)["out"]) == 14.0
    finally:
        cache.parent.chmod(0o700)


def test_a_cache_directory_of_another_user_is_refused(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compile(_power(2))
    monkeypatch.setattr(jit, "owner_uid", lambda: 4242)
    with pytest.raises(CacheError, match=r"belongs to uid 0, not to you \(uid 4242\).*SYMNN_CACHE_DIR"):
        compile(_power(2))


class _Boom:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_numba_index_others_could_write_is_removed_not_unpickled(cache: Path, tmp_path: Path) -> None:
    k = compile(_power(2))
    float(k(w=W)["out"])  # Numba writes its index (.nbi, a pickle) and data beside the module
    meta = json.loads((_entries(cache) / f"{k.fingerprint}.json").read_text())
    stem = meta["module"][: -len(".py")]
    indexes = list((_entries(cache) / "__pycache__").glob(f"{stem}.*.nbi"))
    assert indexes
    marker = tmp_path / "unpickled"
    for index in indexes:
        index.write_bytes(pickle.dumps(_Boom(str(marker))))
        index.chmod(0o666)  # as if another user had written it
    sys.modules.pop(stem, None)  # make this process load the module and Numba's cache again
    again = compile(_power(2))
    assert float(again(w=W)["out"]) == 14.0
    assert not marker.exists()
    assert not any(p.exists() and p.stat().st_mode & 0o002 for p in indexes)


def test_numba_cache_of_symnn_functions_goes_private_when_the_cache_is_unsafe(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    monkeypatch.setattr(jit, "_private", None)
    with pytest.warns(SymnnWarning, match="writable by others"):
        root = jit._numba_root()
    assert not root.is_relative_to(cache) and root.stat().st_mode & 0o077 == 0
    cache.chmod(0o700)
    assert jit._numba_root() == jit.numba_cache_dir()


def test_a_cache_that_cannot_be_created_falls_back_to_a_private_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("SYMNN_CACHE_DIR", str(tmp_path / "file" / "cache"))
    with pytest.warns(RuntimeWarning, match="cannot write the kernel cache"):
        k = compile(_power(3))
    assert float(k(w=W)["out"]) == 36.0


def test_a_key_that_is_a_symlink_is_refused(cache: Path, tmp_path: Path) -> None:
    compile(_power(2))
    (tmp_path / "elsewhere").write_bytes(b"k" * 32)
    (cache / KEY_FILE).unlink()
    (cache / KEY_FILE).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(CacheError, match="symbolic link"):
        compile(_power(2))


def test_a_key_that_is_a_fifo_is_refused_without_blocking(cache: Path) -> None:
    compile(_power(2))
    (cache / KEY_FILE).unlink()
    os.mkfifo(cache / KEY_FILE, 0o600)
    with pytest.raises(CacheError, match="not a file only you can read"):
        compile(_power(2))
