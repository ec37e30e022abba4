"""The on-disk kernel cache: generated modules keyed by a content hash of the graph, per environment.

Layout of the cache directory (``symnn.files.cache_dir()``: ``$SYMNN_CACHE_DIR``, else
``$XDG_CACHE_HOME/symnn``, else ``~/.cache/symnn``)::

    kernels/<environment>/            one per environment (``environment.environment_id``)
        environment.json              what the machine code depends on: BLAS, Numba, llvmlite, CPU
        <key>.json                    {"module": "k_<sha>.py", "sha256": ..., "hmac": ..., "path": ...}
        k_<sha>.py                    the generated module (content-addressed: its name comes from its hash)
        __pycache__/                  Numba's cache of the module's compiled machine code
    numba/numba-<version>/            Numba's cache of symnn's and verify's own functions (``symnn.jit``)
    cache.key                         a random secret (mode 0600) the entries are signed with

An entry is executed only if symnn can prove it wrote it for the key asked: its metadata carries
an HMAC-SHA256, under the secret ``cache.key``, of the requested key and the module's SHA-256, so a
planted module with self-consistent metadata, or the metadata of one graph pointing at another
graph's valid module, fails the check; it is deleted and rebuilt, like a corrupted, truncated or
foreign entry. The directories must belong to the user and not be writable by others
(``symnn.jit.trusted_cache_dir``), which is also what protects Numba's index files (pickles) in
``__pycache__``: ``check_numba_files`` removes any of them that another user owns or can write.
Every file is written to a temporary name and moved into place with ``os.replace``, so
concurrent processes see either nothing or a whole file.
The module is executed from the very bytes that were verified, never re-read.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import sys
import types
from pathlib import Path

from .. import jit
from ..errors import CacheError
from ..files import atomic_write
from .module import CODEGEN_VERSION

_MODULE_NAME = re.compile(r"k_[0-9a-f]{32}\.py")
#: The subdirectory of the cache directory holding one directory of kernels per environment.
KERNELS_SUBDIR = "kernels"
ENVIRONMENT_FILE = "environment.json"
#: The secret the entries are signed with, at the top of the cache directory.
KEY_FILE = "cache.key"
_KEY_BYTES = 32


def secret(root: Path) -> bytes:
    """The cache's signing key ``root/cache.key``, created (mode 0600) if missing.

    Refused with ``CacheError`` if it is not a regular file of the user's that only the user can read:
    whoever can read it can sign a module symnn will execute. A key of the wrong size is replaced.
    """
    path = root / KEY_FILE
    try:
        # O_NONBLOCK: a FIFO planted as the key opens at once (and is refused below) instead of blocking
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return _new_secret(path)
    except OSError as e:
        if e.errno == errno.ELOOP:  # a symlink: O_NOFOLLOW refuses it
            msg = f"the kernel cache's key {path} is a symbolic link; remove it (symnn makes another)"
            raise CacheError(msg) from None
        raise  # no directory, or none we can write: the caller falls back to a private cache
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != jit.owner_uid() or st.st_mode & 0o077:
            raise CacheError(
                f"the kernel cache's key {path} is not a file only you can read and write (owner uid {st.st_uid}, "
                f"mode {stat.S_IMODE(st.st_mode):o}); remove it (symnn makes a new one, and rebuilds the kernels)"
            )
        data = f.read(_KEY_BYTES + 1)
    return data if len(data) == _KEY_BYTES else _new_secret(path, replace=True)


def _new_secret(path: Path, replace: bool = False) -> bytes:
    """Write a fresh key beside ``path`` (0600 from the start), then link it in; a concurrent writer's key wins."""
    data = secrets.token_bytes(_KEY_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if replace:
            os.replace(tmp, path)
            return data
        try:
            os.link(tmp, path)
        except FileExistsError:
            return secret(path.parent)
        return data
    finally:
        tmp.unlink(missing_ok=True)


def signature(key_bytes: bytes, key: str, digest: str) -> str:
    """HMAC-SHA256 binding the cache ``key`` asked for to the module's SHA-256 ``digest``."""
    return hmac.new(key_bytes, f"symnn-kernel|{key}|{digest}".encode(), hashlib.sha256).hexdigest()


def check_numba_files(directory: Path, module: str) -> None:
    """Remove Numba's cached files of ``module`` (pickled indexes) that are not the user's alone to write."""
    pycache = directory / "__pycache__"
    if not pycache.is_dir():
        return
    stem = module[: -len(".py")]
    for path in pycache.glob(f"{stem}.*"):
        try:
            st = path.lstat()
        except FileNotFoundError:  # removed meanwhile (symnn cache --clear in another process)
            continue
        if st.st_uid != jit.owner_uid() or st.st_mode & stat.S_IWOTH or not stat.S_ISREG(st.st_mode):
            try:
                path.unlink()
            except OSError as e:
                raise CacheError(
                    f"Numba's cache file {path} is not yours alone to write and cannot be removed ({e}); "
                    f"remove it, or set SYMNN_CACHE_DIR to a directory only you can write"
                ) from None


def kernels_dir(root: Path, environment: str) -> Path:
    """The directory of the kernels compiled in ``environment`` (an ``environment_id``) under ``root``."""
    return root / KERNELS_SUBDIR / environment


def record_environment(directory: Path, env: dict[str, str]) -> None:
    """Write ``environment.json`` (what ``symnn cache`` shows of the environment) unless it is there."""
    path = directory / ENVIRONMENT_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(env, indent=1, sort_keys=True).encode())


def cache_key(fingerprint: str, dtype: str) -> str:
    """sha256 of the graph's fingerprint, the dtype and the code generator's version."""
    return hashlib.sha256(f"{fingerprint}|{dtype}|codegen-{CODEGEN_VERSION}".encode()).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def discard(directory: Path, key: str, module: str | None = None) -> None:
    """Delete an entry that failed verification (and Numba's files compiled from it)."""
    (directory / f"{key}.json").unlink(missing_ok=True)
    if module is not None and _MODULE_NAME.fullmatch(module):
        (directory / module).unlink(missing_ok=True)
        stem = module[: -len(".py")]
        for stale in (directory / "__pycache__").glob(f"{stem}.*"):
            stale.unlink(missing_ok=True)


def lookup(directory: Path, key: str, key_bytes: bytes, environment: str | None = None) -> tuple[Path, str] | None:
    """The verified (path, source) of the entry for ``key``, or None (a bad entry is removed).

    Verified: the module's bytes hash to the recorded SHA-256 and the recorded signature is ours
    (``signature`` under ``key_bytes``) for this ``key`` and that hash. An entry recorded for another
    ``environment`` than the one given is foreign: it is removed too.
    """
    meta = directory / f"{key}.json"
    try:
        info = json.loads(meta.read_bytes())
        module = info["module"]
        expected = info["sha256"]
        mac = info["hmac"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        discard(directory, key)
        return None
    if (
        not isinstance(module, str)
        or not _MODULE_NAME.fullmatch(module)
        or not isinstance(expected, str)
        or not isinstance(mac, str)
        or info.get("version") != CODEGEN_VERSION
        or (environment is not None and info.get("environment") != environment)
    ):
        discard(directory, key, module if isinstance(module, str) else None)
        return None
    path = directory / module
    try:
        data = path.read_bytes()
    except OSError:
        discard(directory, key, module)
        return None
    digest = _sha256(data)
    if digest != expected or not hmac.compare_digest(signature(key_bytes, key, digest), mac):
        discard(directory, key, module)
        return None
    try:
        return path, data.decode("utf-8")
    except UnicodeDecodeError:  # pragma: no cover - the checksum matched bytes we wrote as UTF-8
        discard(directory, key, module)
        return None


def store(directory: Path, key: str, source: str, meta: dict[str, str], key_bytes: bytes) -> Path:
    """Write the module (unless an identical one is there) and then its metadata, signed with ``key_bytes``."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = source.encode("utf-8")
    digest = _sha256(data)
    name = f"k_{digest[:32]}.py"
    path = directory / name
    try:
        same = _sha256(path.read_bytes()) == digest
    except OSError:
        same = False
    if not same:  # rewriting an identical file would change its mtime and void Numba's cache
        atomic_write(path, data)
    info = {"module": name, "sha256": digest, "hmac": signature(key_bytes, key, digest), "version": CODEGEN_VERSION}
    info.update({k: v for k, v in meta.items() if k not in info})
    atomic_write(directory / f"{key}.json", json.dumps(info, indent=1).encode())
    return path


def load_module(path: Path, source: str) -> types.ModuleType:
    """Execute verified ``source`` as the module at ``path`` (so Numba can cache beside it)."""
    name = path.stem
    known = sys.modules.get(name)
    if known is not None and getattr(known, "__file__", None) == str(path):
        return known
    module = types.ModuleType(name)
    module.__file__ = str(path)
    code = compile(source, str(path), "exec")
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module
