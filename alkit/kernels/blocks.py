"""Row blocking shared by every kernel: a block size from a memory budget that halves on OOM.

No kernel ever holds an ``N × N`` (or ``N × (C·d)``) tensor: work on an ``N × M`` product is cut
into row blocks of ``block_rows × M``. The default block keeps one block under
``ALKIT_BLOCK_BYTES`` bytes (256 MiB unless set); when a block still runs out of memory (a busy
GPU, a small laptop) :func:`map_row_blocks` halves the block and retries that block.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch

from alkit.errors import AlkitError, check_finite

DEFAULT_BLOCK_BYTES = 256 * 2**20


def block_bytes() -> int:
    """The memory budget of one block in bytes (``ALKIT_BLOCK_BYTES`` or 256 MiB)."""
    value = os.environ.get("ALKIT_BLOCK_BYTES")
    if value is None:
        return DEFAULT_BLOCK_BYTES
    try:
        out = int(value)
    except ValueError:
        raise AlkitError(
            f"ALKIT_BLOCK_BYTES must be an integer byte count, got {value!r}"
        ) from None
    if out <= 0:
        raise AlkitError(f"ALKIT_BLOCK_BYTES must be positive, got {out}")
    return out


def default_block_rows(n_cols: int, bytes_per_value: int = 4) -> int:
    """Rows per block so that a ``rows × n_cols`` block (plus a temporary) fits the budget."""
    return max(1, block_bytes() // (2 * bytes_per_value * max(1, int(n_cols))))


def check_block_rows(block_rows: int | None, n_cols: int) -> int:
    """``block_rows`` as given (validated), or the default for ``n_cols`` columns."""
    if block_rows is None:
        return default_block_rows(n_cols)
    if isinstance(block_rows, bool) or not isinstance(block_rows, (int, np.integer)):
        raise AlkitError(f"block_rows must be a positive integer or None, got {block_rows!r}")
    if block_rows < 1:
        raise AlkitError(f"block_rows must be ≥ 1, got {block_rows}")
    return int(block_rows)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA OOM errors and for CPU allocation failures."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def map_row_blocks(
    fn: Callable[[int, int], torch.Tensor | tuple], n_rows: int, block_rows: int
) -> list:
    """Call ``fn(start, stop)`` on consecutive row ranges covering ``0 … n_rows``.

    Returns the list of results in row order. A block that raises an out-of-memory error is
    retried with half as many rows (and the smaller size is kept for the blocks that follow);
    at one row the error is re-raised.
    """
    out = []
    start = 0
    rows = max(1, int(block_rows))
    while start < n_rows:
        stop = min(n_rows, start + rows)
        try:
            out.append(fn(start, stop))
        except Exception as exc:  # noqa: BLE001  (only OOM is handled, the rest re-raised)
            if not is_out_of_memory(exc) or rows == 1:
                raise
            rows = max(1, rows // 2)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        start = stop
    return out


def progress(steps: range, desc: str, n_rows: int):
    """A ``tqdm.auto`` bar over a selection loop, shown only for large pools (≥ 100,000 rows)
    and unless ``ALKIT_PROGRESS=0``."""
    from alkit.progress import tqdm
    from alkit.train import progress_enabled

    show = progress_enabled(None) and n_rows >= 100_000
    return tqdm(steps, desc=desc, leave=False, disable=not show)


def as_float_tensor(name: str, x, device=None) -> torch.Tensor:
    """``x`` (array or tensor) as a 2-D float32 tensor, checked finite; rows = samples."""
    t = torch.as_tensor(x)
    if device is not None:
        t = t.to(device)
    if t.dtype != torch.float32:
        t = t.float()
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2:
        raise AlkitError(f"{name} must be a 2-D N × D array, got shape {tuple(t.shape)}")
    step = default_block_rows(t.shape[1])
    for start in range(0, len(t), step):
        if not bool(torch.isfinite(t[start : start + step]).all()):
            check_finite(name, t)
    return t


#: squared norms up to this keep every ``‖a‖² + ‖b‖² − 2 a·b`` finite in float32
SQ_NORM_LIMIT = float(torch.finfo(torch.float32).max) / 4


def check_sq_norms(name: str, sq_norms_N: torch.Tensor) -> None:
    """Raise unless every squared row norm is at most :data:`SQ_NORM_LIMIT` (≈ 8.5e37).

    Beyond it ``‖a‖² + ‖b‖² − 2 a·b`` overflows float32 to ``inf`` (features around 1e19), and
    k-center, D² sampling and nearest-centre picks silently choose from ``inf``/``nan``
    distances. One reduction over ``N`` values.
    """
    if len(sq_norms_N) == 0:
        return
    top = float(sq_norms_N.max())
    if not top <= SQ_NORM_LIMIT:
        n_bad = int((~(sq_norms_N <= SQ_NORM_LIMIT)).sum())
        raise AlkitError(
            f"{name} has {n_bad} row(s) whose squared norm ({top:.3g}) overflows float32 "
            f"distances (allowed ≤ {SQ_NORM_LIMIT:.3g}, i.e. values up to about 1e18); "
            "rescale the features first (e.g. standardise them)"
        )


def as_index_array(name: str, idx, n: int) -> np.ndarray:
    """``idx`` as a sorted, distinct int64 array of positions in ``0 … n−1``."""
    arr = np.asarray(idx if idx is not None else [], dtype=np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise AlkitError(f"{name} must hold positions in 0…{n - 1}, got {arr.min()}…{arr.max()}")
    return np.unique(arr)
