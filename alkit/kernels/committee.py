"""Dropout Query-by-Committee kernels (Ducoffe thesis, ch. 3, Method 3.1.1 and eq. 3.2–3.3).

A committee of ``K`` *partial networks* is sampled from one trained network by **batchwise
dropout** (Graham 2015, §3.2): member ``k`` draws one mask per hidden layer, shared by every
input, that keeps exactly ``n_l − ⌊p·n_l⌋`` of the layer's ``n_l`` units (Linear) or channels
(Conv2d). The input and the output layer are never masked. Each member's last layer is then
re-fitted on the labelled set's cached (masked) features, and the committee's disagreement is
scored by the soft margin of eq. 3.3 or by the authors' code's vote count.

Masking: the output of every hidden Linear/Conv2d module (or of every BatchNorm module when the
model has them: mask after BN) is multiplied by ``m_l ∈ {0, 1/(1−p)}^{n_l}``. For ReLU nets this
equals masking after the activation (ReLU(c·z) = c·ReLU(z) for c ≥ 0) and commutes with max
pooling, and a dropped unit vanishes from every later layer's input (consecutive layers agree).
The authors' code scales the kept weights *and* biases of every layer by 1/(1−p), which compounds
across layers; since each member's head is re-fitted, the difference is immaterial and is not
reproduced.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alkit.errors import AlkitError, check_positive_int


def hidden_layers(model: nn.Module) -> list[tuple[str, nn.Module, int]]:
    """The modules whose outputs batchwise dropout masks: ``[(name, module, n_units)]``.

    Every ``nn.Linear`` and ``nn.Conv2d`` except ``model.head`` (the output layer); in a model
    with BatchNorm, every BatchNorm module instead (the mask goes after the normalisation, so the
    running statistics stay valid). Modules are listed in registration order.
    """
    head = getattr(model, "head", None)
    bns = [
        (name, m, m.num_features)
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    if bns:
        return bns
    out = []
    for name, m in model.named_modules():
        if m is head:
            continue
        if isinstance(m, nn.Linear):
            out.append((name, m, m.out_features))
        elif isinstance(m, nn.Conv2d):
            out.append((name, m, m.out_channels))
    return out


def kept_count(n_units: int, p: float) -> int:
    """Units a member keeps in a layer of ``n_units``: ``n_units − ⌊p · n_units⌋`` (code's
    ``get_single_dropout_indices``)."""
    return n_units - math.floor(p * n_units)


def unit_masks(model: nn.Module, n_members: int, p: float, rng: np.random.Generator):
    """Batchwise dropout masks of ``n_members`` partial networks (thesis §3.2).

    Returns ``{layer name: masks_K_U}`` (float32 tensors) with, in each row, exactly
    ``kept_count(U, p)`` entries equal to ``1/(1−p)`` (chosen without replacement from ``rng``)
    and the rest 0. Layers are those of :func:`hidden_layers`.
    """
    n_members = check_positive_int("n_members", n_members)
    if not (isinstance(p, (int, float)) and 0 <= p < 1):
        raise AlkitError(f"dropout rate p must be a number in [0, 1), got {p!r}")
    scale = 1.0 / (1.0 - p)
    masks = {}
    for name, _, n_units in hidden_layers(model):
        keep = kept_count(n_units, p)
        m = np.zeros((n_members, n_units), dtype=np.float32)
        for k in range(n_members):
            m[k, rng.permutation(n_units)[:keep]] = scale
        masks[name] = torch.from_numpy(m)
    return masks


@contextlib.contextmanager
def masked(model: nn.Module, mask_by_layer: dict[str, torch.Tensor]):
    """Context in which ``model``'s hidden layers apply one member's masks.

    ``mask_by_layer[name]`` is a ``U`` vector multiplied into the output of layer ``name`` along
    the unit/channel axis (axis 1), the same for every input of the batch.
    """
    modules = dict(model.named_modules())
    handles = []
    try:
        for name, mask in mask_by_layer.items():

            def hook(_module, _inp, out, mask=mask):
                shape = (1, -1) + (1,) * (out.dim() - 2)
                return out * mask.to(out.device, out.dtype).view(shape)

            handles.append(modules[name].register_forward_hook(hook))
        yield model
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def masked_head_inputs(
    model: nn.Module, masks, X, batch_size: int = 1024, n_members: int | None = None
) -> torch.Tensor:
    """The input of ``model.head`` for each committee member: ``K × N × D`` float32 (CPU).

    ``masks`` comes from :func:`unit_masks`; ``X`` is ``N × ...``. The model runs in eval mode
    (its own dropout layers off); the features are what each partial network feeds its head.
    ``n_members`` is needed only when ``masks`` is empty (a model without hidden layers, whose
    members are all the full network).
    """
    device = next(model.parameters()).device
    names = list(masks)
    if masks:
        n_members = len(next(iter(masks.values())))
    elif n_members is None:
        raise AlkitError("masked_head_inputs needs n_members when the model has no hidden layer")
    captured: list[torch.Tensor] = []
    handle = model.head.register_forward_pre_hook(lambda _m, inp: captured.append(inp[0]))
    was_training = model.training
    model.eval()
    out = []
    try:
        for k in range(n_members):
            member = {name: masks[name][k] for name in names}
            feats = []
            with masked(model, member):
                for start in range(0, len(X), batch_size):
                    xb = torch.as_tensor(np.asarray(X[start : start + batch_size]))
                    captured.clear()
                    model(xb.to(device, torch.float32))
                    feats.append(captured[0].flatten(1).float().cpu())
            out.append(torch.cat(feats) if feats else torch.zeros(0, model.head.in_features))
    finally:
        handle.remove()
        model.train(was_training)
    return torch.stack(out)


def fit_linear_head(
    features_K_L_D: torch.Tensor,
    y_L,
    W0_C_D: torch.Tensor,
    b0_C: torch.Tensor,
    steps: int = 100,
    lr: float = 1e-2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-fit each member's last layer on the labelled set's cached features (thesis §3.2:
    "finetune each member of the committee on the current labeled training set").

    A multinomial logistic regression per member, started from the full network's head
    ``(W0_C_D, b0_C)`` and trained by ``steps`` full-batch Adam steps (learning rate ``lr``) on
    the mean cross-entropy. No randomness: the result depends only on the inputs. The model is
    not touched. Returns ``(W_K_C_D, b_K_C)``; ``steps=0`` returns ``K`` copies of the full head.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise AlkitError(f"steps must be an integer ≥ 0, got {steps!r}")
    feats = torch.as_tensor(features_K_L_D, dtype=torch.float32)
    K = feats.shape[0]
    y = torch.as_tensor(np.asarray(y_L), dtype=torch.long)
    W = W0_C_D.detach().float().cpu().expand(K, -1, -1).clone().requires_grad_(True)
    b = b0_C.detach().float().cpu().expand(K, -1).clone().requires_grad_(True)
    if steps == 0 or len(y) == 0:
        return W.detach(), b.detach()
    opt = torch.optim.Adam([W, b], lr=lr)
    C = W.shape[1]
    with torch.enable_grad():
        for _ in range(steps):
            logits = torch.baddbmm(b.unsqueeze(1), feats, W.transpose(1, 2))  # K × L × C
            loss = F.cross_entropy(logits.reshape(-1, C), y.repeat(K), reduction="sum") / len(y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return W.detach(), b.detach()


def committee_probs(
    features_K_M_D: torch.Tensor, W_K_C_D: torch.Tensor, b_K_C: torch.Tensor
) -> np.ndarray:
    """Member class probabilities ``P_{k,i,c} = softmax(head_k(h^{(k)}(x_i)))_c``:
    ``probs_K_M_C`` float64."""
    logits = torch.baddbmm(b_K_C.unsqueeze(1), features_K_M_D.float(), W_K_C_D.transpose(1, 2))
    return torch.softmax(logits.double(), dim=2).numpy()


def committee_label(probs_K_M_C: np.ndarray) -> np.ndarray:
    """LABEL(x_i) of eq. 3.2: the class most members vote for (each member votes its argmax).

    Ties between classes with the same vote count go to the class with the larger probability
    summed over the members, then to the lower class index. Returns ``M`` int64.
    """
    p = np.asarray(probs_K_M_C, dtype=np.float64)
    K, M, C = p.shape
    votes = np.zeros((M, C), dtype=np.int64)
    np.add.at(votes, (np.tile(np.arange(M), K), p.argmax(axis=2).reshape(-1)), 1)
    summed = p.sum(axis=0)
    best = votes == votes.max(axis=1, keepdims=True)
    return np.where(best, summed, -np.inf).argmax(axis=1).astype(np.int64)


def soft_margin(probs_K_M_C: np.ndarray, label_M: np.ndarray | None = None) -> np.ndarray:
    """rg(x_i) of eq. 3.3: ``Σ_k ( max_c P_{k,i,c} − P_{k,i,LABEL(x_i)} )`` ≥ 0, ``M`` float64.

    It is 0 when every member's top class is the majority class and grows with how confidently
    the dissenting members disagree.
    """
    p = np.asarray(probs_K_M_C, dtype=np.float64)
    label = committee_label(p) if label_M is None else np.asarray(label_M)
    at_label = np.take_along_axis(p, label[None, :, None], axis=2)[..., 0]
    return (p.max(axis=2) - at_label).sum(axis=0)


def vote_disagreement(probs_K_M_C: np.ndarray, label_M: np.ndarray | None = None) -> np.ndarray:
    """The authors' code's score: how many members' argmax differs from LABEL(x_i); ``M``
    float64 in ``{0, …, K}`` (``compute_margin`` returns the 0/1 disagreement per member)."""
    p = np.asarray(probs_K_M_C, dtype=np.float64)
    label = committee_label(p) if label_M is None else np.asarray(label_M)
    return (p.argmax(axis=2) != label[None, :]).sum(axis=0).astype(np.float64)
