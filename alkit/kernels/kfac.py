"""KFAC Fisher factors and the BalNet trace criterion (Ducoffe thesis ch. 5, eq. 5.11–5.20, A.3.2).

BalNet queries the batch ``B`` maximising ``Tr(I_{A∪B} I_A⁻¹)`` (eq. 5.11). With the
Kronecker-factored Fisher (KFAC, Martens & Grosse 2015; KFC for convolutions, Grosse & Martens
2016; eq. 5.16–5.18) ``I_A = blockdiag_l(Ψ_{A,l} ⊗ T_{A,l})`` the trace separates per layer
(eq. 5.20):

    Tr(I_{A∪B} I_A⁻¹) = Σ_l Tr(Ψ_{l,A∪B} Ψ_{l,A}⁻¹) · Tr(T_{l,A∪B} T_{l,A}⁻¹).

Per-sample factors of layer ``l`` (the authors' ``layer_fisher.py``):

* ``nn.Linear`` with input ``a`` and pre-activation ``s``: ``ψ_i = ā āᵀ`` with ``ā = [a; 1]``
  (the bias as a homogeneous coordinate), ``τ_i = g gᵀ`` with ``g = ∂ℓ(f(x_i), y_i)/∂s``;
* ``nn.Conv2d``: ``P_i`` = the ``T × (C_in·k_h·k_w)`` unfolded input patches (plus a column of
  ones for the bias with ``conv_bias="homogeneous"``, standard KFC) and ``G_i`` = the
  ``T × C_out`` output gradients: ``ψ_i = P_iᵀP_i``, ``τ_i = G_iᵀG_i``. With
  ``conv_bias="exact"`` (the thesis's footnote and the code) the bias gets its own block with
  ``ψ ≡ 1`` and ``τ_i = (Σ_t G_{i,t})(Σ_t G_{i,t})ᵀ``, the exact per-sample bias Fisher.

The per-sample scalars ``φ_{i,l} = Tr(ψ_{i,l} Ψ_{A,l}⁻¹)`` and ``t_{i,l} = Tr(τ_{i,l} T_{A,l}⁻¹)``
are computed as quadratic forms through a Cholesky factor ``Ψ = L Lᵀ``:
``Σ_t p_tᵀ Ψ⁻¹ p_t = ‖L⁻¹ P_iᵀ‖²_F`` — never a per-sample ``d × d`` matrix (the authors' code
materialises ``M × d × d``, 412 MB for one LeNet layer at M = 1000). Every per-sample gradient
comes from one backward pass of the summed loss (samples are independent in eval mode).

Set function (A.3.2): with ``Σ_{i∈A} φ_{i,l} = |A|·d_ψ,l`` (undamped), for a fixed ``|B|``

    f(B) ∝ Σ_l (|A| d_ψ,l + Σ_{j∈B} φ_{j,l}) (|A| d_τ,l + Σ_{j∈B} t_{j,l}),

maximised greedily by :func:`kfac_greedy`. With damping ``Ψ + λI`` the base terms are the exact
``Σ_{i∈A} φ_{i,l} = |A| Tr(Ψ_A (Ψ_A + λI)⁻¹)``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alkit.errors import AlkitError, check_positive_int

CONV_BIAS = ("homogeneous", "exact")
FISHERS = ("empirical", "expected")
OBJECTIVES = ("max", "code_min", "code_covering")


def kfac_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers KFAC factors: every ``nn.Linear`` and ``nn.Conv2d``, in registration order.

    Other parameters (BatchNorm) are left out of the criterion. Grouped convolutions and
    non-zero padding modes are rejected (their patches are not a plain unfold).
    """
    out = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise AlkitError(
                    f"KFAC supports Conv2d with groups=1, zero padding given as numbers; layer "
                    f"{name!r} has groups={m.groups}, padding={m.padding!r}, "
                    f"padding_mode={m.padding_mode!r}"
                )
            out.append((name, m))
        elif isinstance(m, nn.Linear):
            out.append((name, m))
    if not out:
        raise AlkitError("KFAC needs a model with at least one Linear or Conv2d layer")
    return out


@dataclass(frozen=True)
class KFACBlock:
    """One Kronecker block: ``name`` (module name, ``"<name>.bias"`` for an exact conv-bias
    block), the module, its factor sizes ``d_psi`` × ``d_tau`` and its kind."""

    name: str
    module: nn.Module
    d_psi: int
    d_tau: int
    kind: str  # "linear", "conv" or "conv_bias"


def kfac_blocks(model: nn.Module, conv_bias: str = "homogeneous") -> list[KFACBlock]:
    """The Kronecker blocks of ``model`` (see the module docstring for their factors)."""
    if conv_bias not in CONV_BIAS:
        raise AlkitError(f"conv_bias must be one of {CONV_BIAS}, got {conv_bias!r}")
    blocks = []
    for name, m in kfac_layers(model):
        has_bias = m.bias is not None
        if isinstance(m, nn.Linear):
            blocks.append(KFACBlock(name, m, m.in_features + has_bias, m.out_features, "linear"))
            continue
        k = m.in_channels * int(np.prod(m.kernel_size))
        extra = has_bias and conv_bias == "homogeneous"
        blocks.append(KFACBlock(name, m, k + extra, m.out_channels, "conv"))
        if has_bias and conv_bias == "exact":
            blocks.append(KFACBlock(f"{name}.bias", m, 1, m.out_channels, "conv_bias"))
    return blocks


@contextlib.contextmanager
def _capture(model: nn.Module, modules: dict[str, nn.Module]):
    """Record each module's input (detached) and output (in the graph) during one forward."""
    inputs: dict[str, torch.Tensor] = {}
    outputs: dict[str, torch.Tensor] = {}
    handles = []

    def make_hook(name):
        def hook(_m, inp, out):
            if name in outputs:
                raise AlkitError(
                    f"layer {name!r} ran twice in one forward pass; KFAC needs each layer once"
                )
            inputs[name] = inp[0].detach()
            outputs[name] = out

        return hook

    try:
        for name, m in modules.items():
            handles.append(m.register_forward_hook(make_hook(name)))
        yield inputs, outputs
    finally:
        for h in handles:
            h.remove()


def _psi_rows(block: KFACBlock, a: torch.Tensor) -> torch.Tensor:
    """The ``B × T × d_psi`` rows whose outer products sum to ψ_i (``T = 1`` for Linear)."""
    m = block.module
    B = len(a)
    if block.kind == "conv_bias":
        return a.new_ones(B, 1, 1)
    if block.kind == "linear":
        rows = a.reshape(B, -1, m.in_features)
    else:
        rows = F.unfold(a, m.kernel_size, m.dilation, m.padding, m.stride).transpose(1, 2)
    if rows.shape[2] < block.d_psi:
        rows = torch.cat([rows, rows.new_ones(*rows.shape[:2], 1)], dim=2)
    return rows


def _tau_rows(block: KFACBlock, g: torch.Tensor) -> torch.Tensor:
    """The ``B × T × d_tau`` rows whose outer products sum to τ_i (output gradients)."""
    B = len(g)
    if block.kind == "linear":
        return g.reshape(B, -1, block.d_tau)
    rows = g.flatten(2).transpose(1, 2)  # B × T × C_out
    if block.kind == "conv_bias":
        return rows.sum(dim=1, keepdim=True)
    return rows


@contextlib.contextmanager
def _frozen_eval(model: nn.Module, dropout: bool):
    """Eval mode (dropout on if asked, BatchNorm always in eval), parameters not differentiated."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    if dropout:
        for m in model.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                m.train()
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)


def _batches(model, blocks, X, y, batch_size: int, fisher: str, dropout: bool, seed: int):
    """Per batch: ``{block name: (psi_rows_B_T_d, tau_rows)}``, where ``tau_rows`` is
    ``B × T × d`` (labels ``y``) or, for ``fisher="expected"``, ``(C × B × T × d, probs_B_C)``.
    """
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    modules = {b.name.removesuffix(".bias"): b.module for b in blocks}
    names = list(modules)
    devices = [device] if device.type == "cuda" else []
    with _frozen_eval(model, dropout), torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for start in range(0, len(X), batch_size):
            xb = torch.as_tensor(np.asarray(X[start : start + batch_size])).to(device, dtype)
            xb.requires_grad_(True)  # so that the graph reaches every layer output
            with torch.enable_grad(), _capture(model, modules) as (inputs, outputs):
                logits = model(xb)
                outs = [outputs[n] for n in names]
                if fisher == "expected":
                    logp = torch.log_softmax(logits, dim=1)
                    C = logp.shape[1]
                    per_class = [
                        torch.autograd.grad(-logp[:, c].sum(), outs, retain_graph=c < C - 1)
                        for c in range(C)
                    ]
                    grads = {n: torch.stack([g[i] for g in per_class]) for i, n in enumerate(names)}
                    probs = logp.detach().exp()
                else:
                    yb = torch.as_tensor(np.asarray(y[start : start + batch_size])).to(device)
                    loss = F.cross_entropy(logits, yb.long(), reduction="sum")
                    grads = dict(zip(names, torch.autograd.grad(loss, outs), strict=True))
            out = {}
            for b in blocks:
                base = b.name.removesuffix(".bias")
                psi = _psi_rows(b, inputs[base])
                if fisher == "expected":
                    g = grads[base]
                    tau = torch.stack([_tau_rows(b, gc) for gc in g])
                    out[b.name] = (psi, (tau, probs))
                else:
                    out[b.name] = (psi, _tau_rows(b, grads[base]))
            yield out


def kfac_factors(
    model: nn.Module,
    X,
    y,
    conv_bias: str = "homogeneous",
    batch_size: int = 64,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The KFAC factors of the labelled set (eq. 5.17–5.18), labels ``y`` (true labels):
    ``{block name: (Psi_dpsi_dpsi, Tau_dtau_dtau)}``, means over the ``N`` samples, float64.

    ``X`` is ``N × ...``; the model runs in eval mode (dropout off, as the authors' code does for
    the labelled side).
    """
    batch_size = check_positive_int("batch_size", batch_size)
    if len(X) == 0:
        raise AlkitError("KFAC factors need at least one labelled sample")
    blocks = kfac_blocks(model, conv_bias)
    sums = {
        b.name: (
            torch.zeros(b.d_psi, b.d_psi, dtype=torch.float64),
            torch.zeros(b.d_tau, b.d_tau, dtype=torch.float64),
        )
        for b in blocks
    }
    for batch in _batches(model, blocks, X, y, batch_size, "empirical", False, 0):
        for name, (psi, tau) in batch.items():
            p = psi.reshape(-1, psi.shape[-1]).double().cpu()
            g = tau.reshape(-1, tau.shape[-1]).double().cpu()
            sums[name][0].add_(p.T @ p)
            sums[name][1].add_(g.T @ g)
    n = len(X)
    return {name: (s_psi / n, s_tau / n) for name, (s_psi, s_tau) in sums.items()}


def kfac_sample_rows(
    model: nn.Module, X, y, conv_bias: str = "homogeneous"
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per-sample factor rows ``{block name: (P_M_T_dpsi, G_M_T_dtau)}`` at labels ``y``: the
    unfolded inputs (with the bias column) and the output gradients whose outer products sum to
    ``ψ_i = P_iᵀP_i`` and ``τ_i = G_iᵀG_i``; ``G_iᵀP_i`` is the per-sample gradient of the
    layer's ``[weight | bias]``. For checks on small inputs (one batch, eval mode)."""
    blocks = kfac_blocks(model, conv_bias)
    batch = next(_batches(model, blocks, X, y, max(1, len(X)), "empirical", False, 0))
    return {name: (psi.cpu(), tau.cpu()) for name, (psi, tau) in batch.items()}


def kfac_sample_matrices(
    model: nn.Module, X, y, conv_bias: str = "homogeneous"
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The materialised per-sample factors ``{block name: (psi_M_d_d, tau_M_d_d)}`` (float64).

    This is what the authors' code builds (``M × d × d`` per layer) and what
    :func:`kfac_sample_traces` avoids; it exists as the reference for tests and for the cost
    benchmark only. Labels ``y`` (empirical Fisher), eval mode.
    """
    out = {}
    for name, (P, G) in kfac_sample_rows(model, X, y, conv_bias).items():
        P, G = P.double(), G.double()
        out[name] = (torch.einsum("btd,bte->bde", P, P), torch.einsum("btd,bte->bde", G, G))
    return out


@dataclass
class KFACState:
    """Cholesky factors of the damped labelled factors and the labelled-set base traces.

    Attributes:
        blocks: the :class:`KFACBlock` list (order of the ``L`` columns everywhere).
        chol_psi, chol_tau: ``{name: lower Cholesky factor}`` of ``Ψ_A + λ_ψ I`` and
            ``T_A + λ_τ I`` (float64, CPU).
        base_psi_L, base_tau_L: ``Σ_{i∈A} φ_{i,l} = |A| Tr(Ψ_A (Ψ_A + λI)⁻¹)`` and likewise for
            τ (``|A|·d`` without damping), float64.
        n_labeled: ``|A|``.
    """

    blocks: list[KFACBlock]
    chol_psi: dict[str, torch.Tensor]
    chol_tau: dict[str, torch.Tensor]
    base_psi_L: np.ndarray
    base_tau_L: np.ndarray
    n_labeled: int

    @property
    def d_psi_L(self) -> np.ndarray:
        return np.array([b.d_psi for b in self.blocks])

    @property
    def d_tau_L(self) -> np.ndarray:
        return np.array([b.d_tau for b in self.blocks])


def damped_cholesky(
    factor: torch.Tensor, damping: float, relative: bool, name: str
) -> tuple[torch.Tensor, float]:
    """Lower Cholesky factor of ``factor + λI`` with ``λ = damping·tr(factor)/d`` (relative) or
    ``λ = damping``; returns ``(L, Tr(factor (factor + λI)⁻¹))``. Raises when not positive
    definite (an undamped factor of fewer samples than its size is singular)."""
    d = factor.shape[0]
    lam = damping * float(torch.trace(factor)) / d if relative else damping
    M = factor + lam * torch.eye(d, dtype=factor.dtype)
    L, info = torch.linalg.cholesky_ex(M)
    if int(info) != 0:
        raise AlkitError(
            f"the KFAC factor of layer {name!r} ({d}×{d}) is not positive definite with damping "
            f"{damping!r} (relative={relative}); the labelled set may be smaller than the factor: "
            "use a damping > 0"
        )
    trace = float(torch.trace(torch.cholesky_solve(factor, L)))
    return L, trace


def kfac_state(
    factors: dict[str, tuple[torch.Tensor, torch.Tensor]],
    blocks: list[KFACBlock],
    n_labeled: int,
    damping: float = 1e-3,
    relative: bool = True,
) -> KFACState:
    """Cholesky-factor every labelled factor with damping (spec §3.4: relative ``λ·tr/d`` by
    default; ``damping=1e-10, relative=False`` is the authors' code) and compute the base
    traces of the set function."""
    chol_psi, chol_tau, base_psi, base_tau = {}, {}, [], []
    for b in blocks:
        Psi, Tau = factors[b.name]
        chol_psi[b.name], tr_psi = damped_cholesky(Psi, damping, relative, b.name)
        chol_tau[b.name], tr_tau = damped_cholesky(Tau, damping, relative, b.name)
        base_psi.append(n_labeled * tr_psi)
        base_tau.append(n_labeled * tr_tau)
    return KFACState(
        blocks, chol_psi, chol_tau, np.array(base_psi), np.array(base_tau), int(n_labeled)
    )


def _quadratic_traces(rows_B_T_d: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """``Σ_t p_tᵀ (L Lᵀ)⁻¹ p_t = ‖L⁻¹ P_iᵀ‖²_F`` for each of ``B`` samples; ``B`` float64."""
    B, T, d = rows_B_T_d.shape
    P = rows_B_T_d.reshape(B * T, d).double().cpu()
    Z = torch.linalg.solve_triangular(L, P.T, upper=False)  # d × (B·T)
    return Z.square().sum(0).reshape(B, T).sum(1)


def kfac_sample_traces(
    model: nn.Module,
    X,
    state: KFACState,
    y=None,
    fisher: str = "empirical",
    batch_size: int = 64,
    dropout: bool = False,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample traces ``φ_{i,l} = Tr(ψ_{i,l} Ψ_A⁻¹)`` and ``t_{i,l} = Tr(τ_{i,l} T_A⁻¹)``
    of ``M`` inputs ``X``: ``(phi_M_L, t_M_L)`` float64 (columns = ``state.blocks``).

    ``fisher="empirical"`` takes ``τ`` at the labels ``y`` (pseudo-labels for the pool, e.g. the
    argmax prediction as the authors' code does); ``"expected"`` uses
    ``τ_i = Σ_c p_c g_c g_cᵀ`` under the model's predictive distribution (``C`` backward
    passes, ``y`` ignored). ``dropout=True`` keeps the model's dropout on (the code's learning
    phase 1 for the unlabelled side; masks from ``seed``). Quadratic forms through the Cholesky
    factors of ``state``; no per-sample ``d × d`` matrix is formed.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    if fisher not in FISHERS:
        raise AlkitError(f"fisher must be one of {FISHERS}, got {fisher!r}")
    if fisher == "empirical" and (y is None or len(y) != len(X)):
        raise AlkitError("the empirical Fisher needs one label (or pseudo-label) per input")
    blocks = state.blocks
    phi_parts, t_parts = [], []
    for batch in _batches(model, blocks, X, y, batch_size, fisher, dropout, seed):
        phi_cols, t_cols = [], []
        for b in blocks:
            psi, tau = batch[b.name]
            phi_cols.append(_quadratic_traces(psi, state.chol_psi[b.name]))
            if fisher == "expected":
                tau_C, probs_B_C = tau
                per_class = torch.stack(
                    [_quadratic_traces(tc, state.chol_tau[b.name]) for tc in tau_C], dim=1
                )
                t_cols.append((per_class * probs_B_C.double().cpu()).sum(1))
            else:
                t_cols.append(_quadratic_traces(tau, state.chol_tau[b.name]))
        phi_parts.append(torch.stack(phi_cols, dim=1))
        t_parts.append(torch.stack(t_cols, dim=1))
    return torch.cat(phi_parts).numpy(), torch.cat(t_parts).numpy()


def greedy_values(
    phi_M_L,
    t_M_L,
    Phi_L,
    T_L,
    base_psi_L,
    base_tau_L,
    objective: str = "max",
    alpha_L=None,
    n_labeled: int | None = None,
    n_params: int | None = None,
    n_chosen: int = 0,
) -> np.ndarray:
    """The value of adding each candidate to the current choice, **higher = better**, ``M``.

    ``"max"``: ``Σ_l (b_ψ,l + Φ_l + φ_{i,l})(b_τ,l + T_l + t_{i,l})`` (A.3.2, eq. 5.20).
    ``"code_min"``: minus the newer code's ``Σ_l (Φ_l + φ_{i,l})(T_l + t_{i,l}) +
    α_l (φ_{i,l} + t_{i,l})`` with ``α_l = |A| d_ψ,l d_τ,l``.
    ``"code_covering"``: the older code's ``N |log(α(S + s_i)) − log N| + α(S + s_i)`` with
    ``s_i = Σ_l φ_{i,l} t_{i,l}``, ``S = (Σ_l b_ψ,l/|A| + ΣΦ)(Σ_l b_τ,l/|A| + ΣT)`` once something
    is chosen (``Σ_l b_ψ,l b_τ,l / |A|²`` before), ``α = 1/(|B| + 1)`` and ``N`` the parameter
    count (the code's ``alpha = 1/(len(subsets)+1)`` measures a 2-tuple, i.e. is always 1/3;
    its comment says "mean of the subset plus the new sample", which is what is used here).
    """
    if objective == "max":
        return ((base_psi_L + Phi_L + phi_M_L) * (base_tau_L + T_L + t_M_L)).sum(1)
    if objective == "code_min":
        return -(((Phi_L + phi_M_L) * (T_L + t_M_L)) + alpha_L * (phi_M_L + t_M_L)).sum(1)
    s_i = (phi_M_L * t_M_L).sum(1)
    if n_chosen == 0:
        S = (base_psi_L * base_tau_L).sum() / n_labeled**2
    else:
        S = (base_psi_L.sum() / n_labeled + Phi_L.sum()) * (
            base_tau_L.sum() / n_labeled + T_L.sum()
        )
    a = 1.0 / (n_chosen + 1)
    total = a * (S + s_i)
    with np.errstate(divide="ignore"):
        return n_params * np.abs(np.log(np.abs(total)) - np.log(n_params)) + total


def kfac_greedy(
    phi_M_L,
    t_M_L,
    base_psi_L,
    base_tau_L,
    n: int,
    objective: str = "max",
    n_labeled: int | None = None,
    d_psi_L=None,
    d_tau_L=None,
    n_params: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy batch of ``n`` candidates for the BalNet set function (A.3.2, eq. 5.11/5.20).

    Start with ``Φ_l = T_l = 0``; ``n`` times pick ``i* = argmax_i`` of :func:`greedy_values`
    among the candidates not chosen yet (lowest position on ties), then ``Φ_l += φ_{i*,l}``,
    ``T_l += t_{i*,l}``. ``objective="code_min"`` needs ``n_labeled``, ``d_psi_L``, ``d_tau_L``;
    ``"code_covering"`` needs ``n_labeled`` and ``n_params``. O(n·M·L).

    Returns ``(order_n, values_n)``: candidate positions in pick order and the value (higher =
    better) each had when picked.
    """
    phi = np.asarray(phi_M_L, dtype=np.float64)
    t = np.asarray(t_M_L, dtype=np.float64)
    M, nL = phi.shape
    n = check_positive_int("n", n)
    if n > M:
        raise AlkitError(f"n={n} is larger than the {M} candidates")
    if objective not in OBJECTIVES:
        raise AlkitError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    bpsi = np.asarray(base_psi_L, dtype=np.float64)
    btau = np.asarray(base_tau_L, dtype=np.float64)
    alpha = None
    if objective == "code_min":
        if n_labeled is None or d_psi_L is None or d_tau_L is None:
            raise AlkitError("objective 'code_min' needs n_labeled, d_psi_L and d_tau_L")
        alpha = n_labeled * np.asarray(d_psi_L, np.float64) * np.asarray(d_tau_L, np.float64)
    elif objective == "code_covering" and (n_labeled is None or n_params is None):
        raise AlkitError("objective 'code_covering' needs n_labeled and n_params")
    Phi, T = np.zeros(nL), np.zeros(nL)
    taken = np.zeros(M, dtype=bool)
    order, values = [], []
    for k in range(n):
        v = greedy_values(phi, t, Phi, T, bpsi, btau, objective, alpha, n_labeled, n_params, k)
        v = np.where(taken, -np.inf, np.nan_to_num(v, nan=-np.inf))
        i = int(np.argmax(v))
        order.append(i)
        values.append(v[i])
        taken[i] = True
        Phi += phi[i]
        T += t[i]
    return np.array(order, dtype=np.int64), np.array(values)
