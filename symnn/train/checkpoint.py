"""Checkpoints: parameters, optimizer state, step, RNG state and history in one .npz, written atomically.

The file is written through ``symnn.files.atomic_write`` (a temporary file in the same directory
moved into place with ``os.replace``), so a run interrupted while saving leaves the previous
checkpoint intact. It records a fingerprint of the model (the loss graph) and of the run
settings; loading it for another model raises ``CheckpointError``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_write
from .errors import CheckpointError

FORMAT = 1


def save(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (params, velocity: name -> array; step, fingerprint, rng, history, avg...) atomically."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    for group in ("params", "velocity", "average"):
        for name, a in (state.get(group) or {}).items():
            arrays[f"{group}/{name}"] = np.asarray(a)
    meta = {k: v for k, v in state.items() if k not in ("params", "velocity", "average")}
    meta["format"] = FORMAT
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    atomic_write(path, buffer.getvalue())
    return path


def load(path: str | Path, fingerprint: str | None = None) -> dict[str, Any]:
    """Read a checkpoint; ``fingerprint`` (if given) must match the one it was written with.

    A truncated, empty, bit-flipped or hand-edited file raises ``CheckpointError`` (never a traceback).
    """
    if not isinstance(path, str | Path):
        raise CheckpointError(f"a checkpoint path must be a str or a pathlib.Path, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist; drop --resume to start afresh")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode("utf-8"))
            state: dict[str, Any] = {"params": {}, "velocity": {}, "average": {}}
            for key in z.files:
                group, _, name = key.partition("/")
                if group in state and name:
                    state[group][name] = np.array(z[key])
    except Exception as e:  # zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, zlib.error, ...
        raise CheckpointError(
            f"checkpoint {str(path)!r} is unreadable ({type(e).__name__}: {e}); delete it or point elsewhere"
        ) from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} has no metadata record; delete it or point elsewhere")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r} has format {meta.get('format')!r}, expected {FORMAT}")
    if fingerprint is not None and meta.get("fingerprint") != fingerprint:
        raise CheckpointError(
            f"checkpoint {str(path)!r} was written for another model or setting "
            f"(fingerprint {str(meta.get('fingerprint'))[:16]}..., this run {fingerprint[:16]}...); "
            "use a different --checkpoint path or drop --resume"
        )
    _check_meta(path, meta)
    state.update(meta)
    return state


#: The metadata fields a resumed run reads, with their types.
FIELDS: dict[str, type | tuple[type, ...]] = {"step": int, "rng": dict, "order": list, "pos": int, "history": list}


def _check_meta(path: Path, meta: dict[str, Any]) -> None:
    """Refuse metadata of the wrong shape (a hand-edited file) before a run restores from it."""
    for key, kind in FIELDS.items():
        value = meta.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) or (isinstance(value, int) and value < 0):
            raise CheckpointError(
                f"checkpoint {str(path)!r} has a malformed field {key!r} ({str(value)[:40]!r}); "
                "delete it or point elsewhere"
            )
    if not isinstance(meta["rng"].get("bit_generator"), str) or not all(isinstance(i, int) for i in meta["order"]):
        raise CheckpointError(f"checkpoint {str(path)!r} has a malformed generator state; delete it or point elsewhere")
