"""The artifact disk cache under ``$ALKIT_CACHE`` (default ``~/.cache/alkit``).

Layout: ``<root>/artifacts/<name>/<key>.pt`` (the payload), ``<key>.json`` (what the key stands
for, the build time and the quality checks, for ``alkit cache list``) and ``<key>.lock`` (an
``flock`` held while an entry is checked or built, so two processes never build it twice).

A payload file is ``MAGIC · length (8 bytes, little endian) · SHA-256 (32 bytes) · body``, the body
being ``torch.save`` of the artifact. A file whose magic, length or checksum is wrong (a crash
mid-write, a truncated copy) is reported as corrupt and rebuilt, never used. Writes are atomic:
a temporary file in the same folder, ``fsync``, then ``os.replace``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from alkit.errors import AlkitError

MAGIC = b"ALKITART"
HEADER_BYTES = len(MAGIC) + 8 + 32


def cache_root() -> Path:
    """``$ALKIT_CACHE`` or ``~/.cache/alkit``."""
    env = os.environ.get("ALKIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "alkit"


def artifact_dir(name: str) -> Path:
    return cache_root() / "artifacts" / name


def canonical_json(obj) -> str:
    """Sorted-key compact JSON: the text a cache key hashes (tuples become lists)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot put {type(obj).__name__} into an artifact key")


def key_digest(fields: dict) -> str:
    """The 20-hex-digit key of an entry: SHA-256 of :func:`canonical_json` of ``fields``."""
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()[:20]


def encode_payload(obj) -> bytes:
    """``torch.save`` bytes of ``obj`` behind the magic/length/checksum header."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    body = buf.getvalue()
    return MAGIC + len(body).to_bytes(8, "little") + hashlib.sha256(body).digest() + body


class CorruptEntry(Exception):
    """A cache file that fails its header, length or checksum check."""


def decode_payload(data: bytes, path: Path):
    """The object stored by :func:`encode_payload`; :class:`CorruptEntry` when damaged."""
    if len(data) < HEADER_BYTES or not data.startswith(MAGIC):
        raise CorruptEntry(f"{path}: not an alkit artifact file (bad header)")
    length = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 8], "little")
    body = data[HEADER_BYTES:]
    if len(body) != length:
        raise CorruptEntry(f"{path}: {len(body)} payload bytes, the header says {length}")
    if hashlib.sha256(body).digest() != data[len(MAGIC) + 8 : HEADER_BYTES]:
        raise CorruptEntry(f"{path}: checksum mismatch")
    return torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def entry_lock(path: Path):
    """Hold an exclusive ``flock`` on ``path.with_suffix('.lock')`` (waits for another holder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def read_sidecar(path: Path) -> dict:
    """The ``.json`` description next to a payload (empty when missing or unreadable)."""
    try:
        return json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}


def write_sidecar(path: Path, info: dict) -> None:
    atomic_write(
        path.with_suffix(".json"), (json.dumps(info, indent=1, sort_keys=True) + "\n").encode()
    )


def list_entries(name: str | None = None) -> list[dict]:
    """One dict per cached payload (``name``, ``key``, ``path``, ``bytes`` and its sidecar),
    for every artifact or only ``name``; sorted by artifact name then key."""
    root = cache_root() / "artifacts"
    dirs = [root / name] if name else sorted(p for p in root.glob("*") if p.is_dir())
    out = []
    for d in dirs:
        for pt in sorted(d.glob("*.pt")):
            info = read_sidecar(pt)
            out.append({**info, "name": d.name, "key": pt.stem, "path": str(pt),
                        "bytes": pt.stat().st_size})  # fmt: skip
    return out


def clear_entries(name: str | None = None) -> int:
    """Delete the cached artifacts (all, or those of ``name``); return how many payloads went."""
    root = cache_root() / "artifacts"
    if name is not None and ("/" in name or name in ("", ".", "..")):
        raise AlkitError(f"artifact name {name!r} is not a plain name")
    target = root / name if name else root
    n = len(list(target.glob("**/*.pt"))) if target.exists() else 0
    if target.exists():
        shutil.rmtree(target)
    return n
