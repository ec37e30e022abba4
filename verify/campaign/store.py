"""A campaign's results directory: ``manifest.json``, one ``chunk-NNNNNN.json`` per finished chunk,
and ``chunk_sha256.log``, the SHA-256 of each chunk file saved.

The manifest and chunk files are written atomically through ``symnn.files.atomic_write`` (a
temporary file in the same directory, flushed, then renamed over the target), so a crash leaves
either the old file or the new one, never half of one. The manifest holds the campaign's kind,
chunk count and parameters, written once; opening the directory for a campaign with other
parameters is refused, so a restart never mixes two campaigns' chunks. Each saved chunk appends
one line ``<chunk> <sha256>`` to the log (flushed to disk), so a campaign of n chunks writes O(n)
bytes of bookkeeping, not the O(n^2) of rewriting a digest table after every chunk; a line a crash
cut short is not a digest. A chunk file that does not match its digest or the chunk schema is
redone (``ResultStore.redone`` says which and why). Manifests of earlier versions kept the digests
in their ``chunk_sha256`` table: it is still read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symnn.files import atomic_write, writable

from .plan import Campaign, CampaignError

MANIFEST = "manifest.json"
#: One line per saved chunk file: ``<chunk> <sha256 of the file>``; the last line for a chunk counts.
DIGEST_LOG = "chunk_sha256.log"
_LOG_LINE = re.compile(r"(\d+) ([0-9a-f]{64})")
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


#: The manifest's key for the SHA-256 of each saved chunk file (not a parameter: a restart adds to it).
DIGESTS = "chunk_sha256"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(path: Path, root: Path) -> dict[str, Any]:
    """The manifest at ``path``; anything but a JSON object with a digest table is a CampaignError."""
    fix = f"delete {str(root)!r} to start over, or give another --results directory"
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise CampaignError(f"{path} is not a readable JSON manifest ({type(e).__name__}: {e}); {fix}") from None
    if not isinstance(old, dict):
        raise CampaignError(f"{path} is not a campaign manifest (a JSON {type(old).__name__}); {fix}")
    digests = old.get(DIGESTS, {})
    if not isinstance(digests, dict) or not all(isinstance(v, str) for v in digests.values()):
        raise CampaignError(f"{path} has a malformed {DIGESTS!r} table; {fix}")
    return old


@dataclass(frozen=True)
class ResultStore:
    """The results directory of one campaign.

    Each chunk file's SHA-256 is appended to the digest log after the file is written; a chunk file
    whose digest or schema does not match (edited, truncated, planted) is not trusted: it is redone,
    and ``finished`` says so in ``redone``.
    """

    root: Path
    chunks: int
    manifest: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    redone: list[str] = field(default_factory=list, compare=False, repr=False)
    #: chunk index (as text) -> SHA-256 of its file: the manifest's table (earlier versions), then the log
    digests: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def open(cls, root: str | Path, campaign: Campaign) -> ResultStore:
        """Create ``root`` with the campaign's manifest, or check that its manifest is this campaign's."""
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise CampaignError(f"results path {str(root)!r} exists and is not a directory; give a directory")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CampaignError(
                f"cannot create the results directory {str(root)!r} ({e.strerror}); give another --results"
            ) from None
        if not writable(root):
            raise CampaignError(f"the results directory {str(root)!r} is not writable; give another --results")
        manifest = json.loads(json.dumps(digest(campaign.manifest())))  # tuples read back as lists
        path = root / MANIFEST
        if path.exists():
            old = _read_manifest(path, root)
            diff = _differences(manifest, {k: v for k, v in old.items() if k != DIGESTS})
            if diff:
                raise CampaignError(
                    f"results directory {str(root)!r} holds a campaign with other parameters ({'; '.join(diff[:4])}"
                    f"{'; ...' if len(diff) > 4 else ''}); give another --results directory, or delete this one "
                    "to start over"
                )
            digests = {**old.get(DIGESTS, {}), **_read_log(root / DIGEST_LOG)}
            _end_line(root / DIGEST_LOG)
        else:
            (root / DIGEST_LOG).unlink(missing_ok=True)  # a log without its manifest vouches for nothing
            manifest[DIGESTS] = digests = {}
            _write_manifest(path, manifest)
        return cls(root, campaign.chunks, manifest, digests=digests)

    def path(self, i: int) -> Path:
        return self.root / f"chunk-{i:06d}.json"

    def write(self, i: int, result: Any, seconds: float) -> None:
        """Save chunk i's result (atomically), then append its digest to the log."""
        doc = {"chunk": i, "chunks": self.chunks, "seconds": round(seconds, 6), "result": result}
        data = (json.dumps(doc) + "\n").encode("utf-8")
        atomic_write(self.path(i), data)
        sha = _sha256(data)
        with open(self.root / DIGEST_LOG, "a", encoding="ascii") as log:
            log.write(f"{i} {sha}\n")
            log.flush()
            os.fsync(log.fileno())
        self.digests[str(i)] = sha

    def finished(self) -> dict[int, Any]:
        """Results of the chunks already saved whose file matches its recorded digest and the chunk schema.

        Any other chunk file (unreadable, edited, without a recorded digest) is redone; ``redone``
        names each with the reason.
        """
        out: dict[int, Any] = {}
        for i in range(self.chunks):
            p = self.path(i)
            if not p.exists():
                continue
            problem = self._problem(i, p, self.digests.get(str(i)))
            if isinstance(problem, str):
                self.redone.append(f"{p.name}: {problem}; redoing chunk {i}")
            else:
                out[i] = problem["result"]
        return out

    def _problem(self, i: int, p: Path, want: str | None) -> str | dict[str, Any]:
        """Why chunk file ``p`` is not trusted, or its document if it is."""
        try:
            data = p.read_bytes()
        except OSError as e:
            return f"unreadable ({e.strerror})"
        if want is None:
            return f"no digest recorded in {DIGEST_LOG} (written by an interrupted run or by hand)"
        if _sha256(data) != want:
            return f"its SHA-256 differs from the one recorded in {DIGEST_LOG} (edited or damaged)"
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return "not JSON"
        if not (isinstance(doc, dict) and doc.get("chunk") == i and doc.get("chunks") == self.chunks):
            return "not this chunk's record"
        if "result" not in doc or not isinstance(doc.get("seconds"), (int, float)):
            return "lacks its result or time"
        return doc


def _read_log(path: Path) -> dict[str, str]:
    """chunk -> digest from the log at ``path`` (none if it is missing); a malformed line is no digest."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise CampaignError(f"cannot read {path} ({e.strerror}); delete its directory to start over") from None
    found = (_LOG_LINE.fullmatch(line) for line in text.split("\n"))
    return {m.group(1).lstrip("0") or "0": m.group(2) for m in found if m}


def _end_line(path: Path) -> None:
    """End the log's last line if a crash cut it short, so the next digest starts a line of its own."""
    try:
        with open(path, "rb+") as log:
            if log.seek(0, os.SEEK_END) == 0:
                return
            log.seek(-1, os.SEEK_END)
            if log.read(1) != b"\n":
                log.write(b"\n")
    except FileNotFoundError:
        pass


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


__all__ = ["DIGESTS", "DIGEST_LOG", "MANIFEST", "ResultStore", "digest", "write_atomic"]
