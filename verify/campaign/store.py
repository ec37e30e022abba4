"""A campaign's results directory: ``manifest.json`` and one ``chunk-NNNNNN.json`` per finished chunk.

Every file is written atomically (a temporary file in the same directory, flushed, then renamed
over the target), so a crash leaves either the old file or the new one, never half of one. The
manifest holds the campaign's kind, chunk count and parameters; opening the directory for a
campaign with other ones is refused, so a restart never mixes two campaigns' chunks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symnn.files import atomic_write

from .plan import Campaign, CampaignError

MANIFEST = "manifest.json"
#: Parameter strings longer than this are recorded by their SHA-256 (network tables, truth tables).
LONG = 200


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    atomic_write(path, text.encode("utf-8"))


def digest(doc: Any) -> Any:
    """``doc`` with long strings and long lists replaced by their SHA-256 (stable: sorted JSON)."""
    if isinstance(doc, dict):
        return {k: digest(v) for k, v in doc.items()}
    text = json.dumps(doc, sort_keys=True)
    if isinstance(doc, (str, list)) and len(text) > LONG:
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return doc


def _differences(here: Any, there: Any, at: str = "") -> list[str]:
    if isinstance(here, dict) and isinstance(there, dict):
        out = []
        for k in sorted(set(here) | set(there), key=str):
            out += _differences(here.get(k, "<missing>"), there.get(k, "<missing>"), f"{at}.{k}" if at else str(k))
        return out
    if here == there:
        return []
    return [f"{at}: {_short(here)} now, {_short(there)} there"]


def _short(v: Any) -> str:
    s = json.dumps(v)
    return s if len(s) <= 40 else s[:37] + "..."


@dataclass(frozen=True)
class ResultStore:
    """The results directory of one campaign."""

    root: Path
    chunks: int

    @classmethod
    def open(cls, root: str | Path, campaign: Campaign) -> ResultStore:
        """Create ``root`` with the campaign's manifest, or check that its manifest is this campaign's."""
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise CampaignError(f"results path {str(root)!r} exists and is not a directory; give a directory")
        root.mkdir(parents=True, exist_ok=True)
        manifest = json.loads(json.dumps(digest(campaign.manifest())))  # tuples read back as lists
        path = root / MANIFEST
        if path.is_file():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise CampaignError(f"{path} is not JSON ({e}); delete {str(root)!r} to start over") from None
            diff = _differences(manifest, old)
            if diff:
                raise CampaignError(
                    f"results directory {str(root)!r} holds a campaign with other parameters ({'; '.join(diff[:4])}"
                    f"{'; ...' if len(diff) > 4 else ''}); give another --results directory, or delete this one "
                    "to start over"
                )
        else:
            write_atomic(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return cls(root, campaign.chunks)

    def path(self, i: int) -> Path:
        return self.root / f"chunk-{i:06d}.json"

    def write(self, i: int, result: Any, seconds: float) -> None:
        """Save chunk i's result (atomically)."""
        doc = {"chunk": i, "chunks": self.chunks, "seconds": round(seconds, 6), "result": result}
        write_atomic(self.path(i), json.dumps(doc) + "\n")

    def finished(self) -> dict[int, Any]:
        """Results of the chunks already saved; an unreadable file counts as not finished (it is redone)."""
        out: dict[int, Any] = {}
        for i in range(self.chunks):
            p = self.path(i)
            if not p.is_file():
                continue
            try:
                doc = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(doc, dict) and doc.get("chunk") == i and doc.get("chunks") == self.chunks and "result" in doc:
                out[i] = doc["result"]
        return out


__all__ = ["MANIFEST", "ResultStore", "digest", "write_atomic"]
