"""Multi-scale descriptors, pooled Fisher scores and the practical Fisher kernel (seed 000).

Gudovskiy et al., "Deep Active Learning for Biased Datasets via Fisher Kernel Self-Supervision":

- descriptors ``z = φ(tap)`` (global average pooling of each named tap, §4.1) and pooled Fisher
  scores ``g = φ(∂L/∂tap)`` (§4.2), both from ONE forward and ONE backward pass per batch;
- per-sample, per-scale standardisation (zero mean, unit variance; eq. 6) so that a dot product
  is a Pearson correlation summed over scales;
- the kernels ``R_z`` (PCC, eq. 6), ``R_zg = R_z ∘ R_g`` (PFK, eq. 12, the default) and the
  authors' code variant ``R_z + R_g`` (``"sum"``), computed in blocks between ``M`` centres and
  ``N`` pool samples, keeping only the top-K pool matches per centre (never the full ``M × N``);
- the Monte-Carlo pseudo-label estimators of §4.3 live in :mod:`alkit.kernels.fisher_mc`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from alkit.errors import AlkitError, check_finite, check_positive_int
from alkit.progress import tqdm

KERNELS = ("rz", "rzg", "sum")

#: ``1e-10`` as in the authors' code: keeps a constant block finite after standardisation.
STD_EPS = 1e-10


@dataclass
class FisherFeatures:
    """Descriptors and Fisher scores of ``N`` inputs.

    Attributes:
        z_N_L: pooled descriptors, standardised per sample and per scale block (eq. 6).
        g_N_L: pooled Fisher scores ``φ(∂L/∂tap)``, standardised the same way (``None`` when
            only descriptors were asked for: the PCC kernel needs forward passes only).
        logits_N_C: the model's logits (eval mode).
        labels_N: the labels the Fisher scores were taken with (``None`` without scores).
        blocks: the length of each scale block, in tap order (``sum(blocks) == L``).
        n_forward, n_backward: forward / backward passes, counted per sample (Table 1).
    """

    z_N_L: torch.Tensor
    g_N_L: torch.Tensor | None
    logits_N_C: torch.Tensor
    labels_N: torch.Tensor | None
    blocks: tuple[int, ...]
    n_forward: int
    n_backward: int


def _show(n: int, threshold: int) -> bool:
    """Progress bars for long passes (``n`` ≥ ``threshold`` samples) unless ALKIT_PROGRESS=0."""
    from alkit.train import progress_enabled

    return n >= threshold and progress_enabled(None)


def global_pool(tap: torch.Tensor) -> torch.Tensor:
    """``φ``: global average over every axis after the channel axis; ``B × C × ... -> B × C``.

    1-D taps (``B × D``) are returned as they are (authors' code, REFERENCES.md).
    """
    return tap.flatten(2).mean(2) if tap.dim() > 2 else tap


def standardize_blocks(feats_N_L: torch.Tensor, blocks: Sequence[int]) -> torch.Tensor:
    """Standardise each sample's scale blocks to zero mean, unit variance (eq. 6).

    ``feats_N_L`` holds the concatenated blocks of lengths ``blocks``; every block of every row
    becomes ``(x − mean) / (std + 1e-10)`` (population std, as the authors' code). A dot product
    of two standardised rows is then ``Σ_j L_j · PCC_j``: Pearson correlations summed over scales.
    """
    if sum(blocks) != feats_N_L.shape[1]:
        raise AlkitError(f"block lengths {tuple(blocks)} do not add up to L={feats_N_L.shape[1]}")
    out = []
    for part in torch.split(feats_N_L, list(blocks), dim=1):
        centred = part - part.mean(1, keepdim=True)
        out.append(centred / (centred.pow(2).mean(1, keepdim=True).sqrt() + STD_EPS))
    return torch.cat(out, dim=1)


def check_taps(model, taps: Sequence[str]) -> tuple[str, ...]:
    """Validate tap names against ``model.tap_names``; return them as a tuple."""
    taps = tuple(taps)
    if not taps:
        raise AlkitError("taps must name at least one of the model's taps")
    bad = [t for t in taps if t not in model.tap_names]
    if bad:
        raise AlkitError(f"unknown tap(s) {bad}; the model offers {list(model.tap_names)}")
    return taps


LabelRule = str | np.ndarray | torch.Tensor | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def fisher_features(
    model,
    X,
    taps: Sequence[str],
    labels: LabelRule | None = "yhat",
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    standardize: bool = True,
) -> FisherFeatures:
    """Descriptors ``z`` and pooled Fisher scores ``g`` from one forward + backward per batch.

    For each batch: one forward pass gives the logits and the taps; ``z = φ(tap)``; the labels
    are chosen (see ``labels``); one backward pass of the summed cross-entropy
    ``Σ_i L(y_i, ŷ_i)`` gives ``∂L_i/∂tap_i`` for every sample at once (sample i's loss depends
    only on its own taps), and ``g = φ(∂L/∂tap)`` (§4.2, after eq. 11). The model runs in eval
    mode (no dropout); ``torch.autograd.grad`` leaves the parameters' ``.grad`` untouched.

    Args:
        model: a :class:`~alkit.models.TappedModel`.
        X: inputs ``N × ...`` (array or tensor).
        taps: tap names whose pooled activations form the multi-scale descriptor, in order.
        labels: how to label each sample for its Fisher score: ``"yhat"`` (the model's argmax,
            from the same forward pass), an array of ``N`` labels, a callable
            ``(z_B_L standardised, logits_B_C) -> labels_B`` (e.g. the p̂(y, z) estimator), or
            ``None`` for descriptors only (forward passes only, as the PCC kernel needs).
        batch_size: samples per forward/backward pass.
        standardize: standardise z and g per sample and scale (eq. 6); ``False`` returns the
            raw pooled values (for inspection and tests).
    Returns:
        :class:`FisherFeatures` with ``z_N_L``, ``g_N_L`` (float32, on the CPU).
    """
    taps = check_taps(model, taps)
    batch_size = check_positive_int("batch_size", batch_size)
    n = len(X)
    if isinstance(labels, (np.ndarray, torch.Tensor, list)):
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        if len(labels) != n:
            raise AlkitError(f"got {len(labels)} labels for {n} inputs; they must be equal")
    elif not (labels is None or labels == "yhat" or callable(labels)):
        raise AlkitError(f"labels must be 'yhat', an array, a callable or None, got {labels!r}")
    was_training = model.training
    model.eval()
    zs, gs, logits_all, labels_all = [], [], [], []
    blocks: tuple[int, ...] = ()
    try:
        for start in tqdm(range(0, n, batch_size), desc="fisher features", leave=False,
                          disable=not _show(n, 20_000)):  # fmt: skip
            xb = torch.as_tensor(np.asarray(X[start : start + batch_size]), dtype=torch.float32)
            xb = xb.to(device).requires_grad_(labels is not None)
            with torch.set_grad_enabled(labels is not None):
                logits, tap_values = model.forward_taps(xb)
                acts = [tap_values[t] for t in taps]
                blocks = tuple(a.shape[1] for a in acts)
                z = torch.cat([global_pool(a) for a in acts], 1)
                if standardize:
                    z = standardize_blocks(z, blocks)
                zs.append(z.detach().cpu())
                logits_all.append(logits.detach().cpu())
                if labels is None:
                    continue
                if isinstance(labels, torch.Tensor):
                    yb = labels[start : start + len(xb)].to(device)
                elif isinstance(labels, str):
                    yb = logits.argmax(1)
                else:
                    yb = torch.as_tensor(labels(z.detach(), logits.detach()), dtype=torch.long)
                    yb = yb.to(device)
                loss = F.cross_entropy(logits, yb, reduction="sum")
                grads = torch.autograd.grad(loss, acts)
            g = torch.cat([global_pool(gr) for gr in grads], 1)
            gs.append((standardize_blocks(g, blocks) if standardize else g).cpu())
            labels_all.append(yb.cpu())
    finally:
        model.train(was_training)
    if not zs:
        raise AlkitError("fisher_features got no inputs")
    z_N_L = torch.cat(zs)
    check_finite("descriptors z", z_N_L.numpy())
    return FisherFeatures(
        z_N_L=z_N_L,
        g_N_L=torch.cat(gs) if gs else None,
        logits_N_C=torch.cat(logits_all),
        labels_N=torch.cat(labels_all) if labels_all else None,
        blocks=blocks,
        n_forward=n,
        n_backward=n if labels is not None else 0,
    )


def similarity(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    g_a: torch.Tensor | None = None,
    g_b: torch.Tensor | None = None,
    kernel: str = "rzg",
) -> torch.Tensor:
    """The kernel between rows of ``a`` (``A × L``) and ``b`` (``B × L``): ``A × B``.

    ``"rz"``: ``R_z = Z_a Z_bᵀ`` (eq. 6, the sum over scales is the dot product of the
    concatenated standardised blocks). ``"rzg"``: ``R_z ∘ R_g`` (eq. 12, the paper's PFK).
    ``"sum"``: ``R_z + R_g`` (the authors' code). Dense: call it on blocks only.
    """
    if kernel not in KERNELS:
        raise AlkitError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    r_z = z_a @ z_b.T
    if kernel == "rz":
        return r_z
    if g_a is None or g_b is None:
        raise AlkitError(f"kernel {kernel!r} needs Fisher scores g on both sides")
    r_g = g_a @ g_b.T
    return r_z * r_g if kernel == "rzg" else r_z + r_g


def pfk_topk(
    z_M_L: torch.Tensor,
    z_N_L: torch.Tensor,
    g_M_L: torch.Tensor | None = None,
    g_N_L: torch.Tensor | None = None,
    kernel: str = "rzg",
    k: int = 32,
    block_size: int = 4096,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-``k`` pool matches of each of ``M`` centres, computed in ``M × block_size`` blocks.

    Walks over the pool in column blocks, merging each block's top-k into a running top-k per
    centre, so memory is ``O(M · (k + block_size))`` instead of ``O(M · N)`` (Alg. 1, line 9-10).

    Returns:
        ``values_M_k`` (descending), ``indices_M_k`` (pool rows, int64) and ``best_N``: the
        largest kernel value of each pool row over all centres (the acquisition score of eq. 12).
    """
    k = min(check_positive_int("k", k), len(z_N_L))
    block_size = check_positive_int("block_size", block_size)
    m = len(z_M_L)
    values = torch.full((m, 0), -math.inf, dtype=z_M_L.dtype)
    indices = torch.zeros((m, 0), dtype=torch.long)
    best_N = torch.empty(len(z_N_L), dtype=z_M_L.dtype)
    for start in range(0, len(z_N_L), block_size):
        stop = min(start + block_size, len(z_N_L))
        block = similarity(
            z_M_L,
            z_N_L[start:stop],
            g_M_L,
            None if g_N_L is None else g_N_L[start:stop],
            kernel,
        )
        best_N[start:stop] = block.max(0).values
        cand_v = torch.cat([values, block], 1)
        cand_i = torch.cat([indices, torch.arange(start, stop).expand(m, -1)], 1)
        # stable sort so ties keep the lower pool index first, whatever the block size
        order = torch.sort(cand_v, dim=1, descending=True, stable=True).indices[:, :k]
        values, indices = cand_v.gather(1, order), cand_i.gather(1, order)
    return values, indices, best_N


def kcenter_similarity(
    z_M_L: torch.Tensor,
    n_centers: int,
    g_M_L: torch.Tensor | None = None,
    kernel: str = "rzg",
    first: int = 0,
) -> np.ndarray:
    """Farthest-first k-center in the similarity space (Alg. 1, line 6).

    Starts from row ``first``; then repeatedly adds the row whose highest similarity to the
    centres chosen so far is the lowest. Keeps one running ``M`` vector (one kernel row per
    step), never the ``M × M`` matrix. Returns ``n_centers`` distinct row positions in the order
    chosen.
    """
    m = len(z_M_L)
    n_centers = min(check_positive_int("n_centers", n_centers), m)
    chosen = [int(first)]
    nearest = torch.full((m,), -math.inf, dtype=z_M_L.dtype)
    for _ in range(n_centers - 1):
        c = chosen[-1]
        row = similarity(
            z_M_L[c : c + 1], z_M_L, None if g_M_L is None else g_M_L[c : c + 1], g_M_L, kernel
        )[0]
        nearest = torch.maximum(nearest, row)
        nearest[chosen] = math.inf
        chosen.append(int(torch.argmin(nearest)))
    return np.asarray(chosen, dtype=np.int64)


def merge_rank_by_rank(indices_P_K: np.ndarray, n: int) -> np.ndarray:
    """Merge per-centre match lists rank by rank into at most ``n`` distinct indices.

    All centres' 1st matches come first (in centre order), then all 2nd matches, … ; an index
    already taken is skipped (authors' code, REFERENCES.md). Returns fewer than ``n`` only when
    the lists hold fewer distinct indices.
    """
    chosen: list[int] = []
    seen: set[int] = set()
    for rank in range(indices_P_K.shape[1]):
        for idx in indices_P_K[:, rank]:
            idx = int(idx)
            if idx not in seen:
                seen.add(idx)
                chosen.append(idx)
                if len(chosen) == n:
                    return np.asarray(chosen, dtype=np.int64)
    return np.asarray(chosen, dtype=np.int64)
