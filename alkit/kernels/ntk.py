"""The traced (pseudo) NTK of a 2-layer MLP head in closed form, and the empirical NTK.

NTKCPL (Wen, Pizarro & Williams 2023, eq. 2) and LookAhead (Mohamadi, Bae & Sutherland 2022)
regress with the neural tangent kernel ``K(x, x') = ∇_θ f(x) ∇_θ f(x')ᵀ``. LookAhead's code
traces the output axis: it differentiates ``f̃(x) = Σ_c f_c(x) / √C`` and uses the scalar kernel
``Θ(x, x') = ∇_θ f̃(x)·∇_θ f̃(x')`` (the pNTK of Mohamadi & Sutherland 2022), which equals
``1/C`` × the sum of the ``C × C`` blocks of the full kernel; every output column then regresses
independently with one ``n × n`` kernel (spec §2.1).

For the head ``a = W₁x + b₁; x̂ = (a − μ)/√(σ² + ε); z = γ⊙x̂ + β; h = ReLU(z); f = W₂h + b₂``
(Linear → BatchNorm in eval mode → ReLU → Linear, paper App. 6.3) the chain rule gives, with
``s = γ/√(σ² + ε)``, ``r = 1[z > 0]``, ``w̄ = Σ_c W₂[c, :]``, ``u = w̄⊙r⊙s`` and ``v = w̄⊙r``
(spec §2.2),

    Θ(x, x') = h·h' + 1 + (1/C)[(u·u')(x·x' + 1) + (v⊙x̂)·(v'⊙x̂') + v·v'],

the terms coming from W₂, b₂, (W₁, b₁), γ and β. A missing bias drops its ``1``; a head without
BatchNorm has ``z = a``, ``s = 1`` and no γ, β terms. Grouping the terms,

    Θ(A, B) = P_A P_Bᵀ + (U_A U_Bᵀ) ⊙ (X̃_A X̃_Bᵀ),   P = [h, 1, v⊙x̂/√C, v/√C],  U = u/√C,
                                                    X̃ = [x, 1],

so a block costs two matrix products and one Hadamard product, ``O(|A||B|(D + 3H))``, and the
``N × P`` Jacobian (P = DH + 3H + HC + C) is never built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels.blocks import check_block_rows, map_row_blocks


@dataclass
class HeadParams:
    """The parameters of a 2-layer ReLU head, float64.

    ``W1`` is ``H × D``, ``W2`` is ``C × H``; ``b1`` (``H``) and ``b2`` (``C``) may be None (no
    bias). ``bn_mean``/``bn_var`` (``H``) are the BatchNorm running statistics used in eval
    mode (None: no BatchNorm); ``gamma``/``beta`` (``H``) its affine weights (None: affine=False).
    """

    W1: torch.Tensor
    b1: torch.Tensor | None
    W2: torch.Tensor
    b2: torch.Tensor | None
    bn_mean: torch.Tensor | None = None
    bn_var: torch.Tensor | None = None
    bn_eps: float = 1e-5
    gamma: torch.Tensor | None = None
    beta: torch.Tensor | None = None

    @property
    def n_outputs(self) -> int:
        return int(self.W2.shape[0])

    @property
    def in_features(self) -> int:
        return int(self.W1.shape[1])


def ntk_head(
    in_features: int,
    hidden: int,
    n_outputs: int,
    batchnorm: bool = True,
    bias: bool = True,
    seed: int = 0,
) -> nn.Sequential:
    """A freshly initialised head ``Linear → [BatchNorm1d] → ReLU → Linear`` (PyTorch's default
    initialisation drawn from ``seed``; the global torch generator is left untouched)."""
    for name, value in (("in_features", in_features), ("hidden", hidden)):
        check_positive_int(name, value)
    check_positive_int("n_outputs", n_outputs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        layers: list[nn.Module] = [nn.Linear(in_features, hidden, bias=bias)]
        if batchnorm:
            layers.append(nn.BatchNorm1d(hidden))
        layers += [nn.ReLU(), nn.Linear(hidden, n_outputs, bias=bias)]
        head = nn.Sequential(*layers)
    return head.double().eval()


def head_params(model: nn.Module) -> HeadParams:
    """Read the parameters of a 2-layer ReLU head from ``model``.

    Accepts any module whose leaf modules with parameters or buffers are, in order, a Linear,
    an optional BatchNorm1d and a Linear (dropout, ReLU and flatten layers are ignored, as in
    eval mode): :func:`ntk_head`, alkit's ``MLP`` with one hidden layer, an ``mlp_bn`` head.
    The forward pass of the extracted parameters is checked against ``model`` by the caller
    (:func:`check_head_params`); other architectures raise :class:`AlkitError`.
    """
    leaves = [
        m
        for m in model.modules()
        if not list(m.children()) and (list(m.parameters(False)) or list(m.buffers(False)))
    ]
    kinds = [type(m) for m in leaves]
    ok = (kinds in ([nn.Linear, nn.Linear], [nn.Linear, nn.BatchNorm1d, nn.Linear])) and all(
        isinstance(m, (nn.Linear, nn.BatchNorm1d)) for m in leaves
    )
    if not ok:
        names = [k.__name__ for k in kinds]
        raise AlkitError(
            "the closed-form NTK needs a head Linear → [BatchNorm1d] → ReLU → Linear, "
            f"got parameterised layers {names}; use kernel='empirical' for other models"
        )

    def f64(t):
        return None if t is None else t.detach().to("cpu", torch.float64).clone()

    lin1, lin2 = leaves[0], leaves[-1]
    params = HeadParams(
        W1=f64(lin1.weight), b1=f64(lin1.bias), W2=f64(lin2.weight), b2=f64(lin2.bias)
    )
    if len(leaves) == 3:
        bn = leaves[1]
        if bn.running_mean is None:
            raise AlkitError("the closed-form NTK needs BatchNorm running statistics (eval mode)")
        params.bn_mean, params.bn_var = f64(bn.running_mean), f64(bn.running_var)
        params.bn_eps = float(bn.eps)
        params.gamma, params.beta = f64(bn.weight), f64(bn.bias)
    return params


@dataclass
class PNTKFactors:
    """Per-row factors of the closed-form pNTK: ``Θ = P Pᵀ + (U Uᵀ)⊙(X̃ X̃ᵀ)`` (module doc).

    ``P_N_Q``, ``U_N_H`` and ``Xt_N_E`` are float64; ``outputs_N_C`` is the head's forward pass
    ``f(x)`` (its ``f_0`` when freshly initialised) and ``h_N_H`` the post-ReLU features.
    """

    P_N_Q: torch.Tensor
    U_N_H: torch.Tensor
    Xt_N_E: torch.Tensor
    outputs_N_C: torch.Tensor
    h_N_H: torch.Tensor

    def __len__(self) -> int:
        return len(self.P_N_Q)

    def rows(self, idx) -> PNTKFactors:
        """The factors of rows ``idx``."""
        idx = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.P_N_Q.device)
        return PNTKFactors(
            self.P_N_Q[idx],
            self.U_N_H[idx],
            self.Xt_N_E[idx],
            self.outputs_N_C[idx],
            self.h_N_H[idx],
        )

    def diag(self) -> torch.Tensor:
        """``Θ(x_i, x_i)``, shape ``N``."""
        return (self.P_N_Q**2).sum(1) + (self.U_N_H**2).sum(1) * (self.Xt_N_E**2).sum(1)


def pntk_factors(features_N_D, params: HeadParams, device=None) -> PNTKFactors:
    """The closed-form pNTK factors of every row of ``features_N_D`` (spec §2.2), float64.

    Memory ``O(N(D + 4H + C))``. ``params`` from :func:`head_params`.
    """
    x = torch.as_tensor(
        np.asarray(features_N_D) if not torch.is_tensor(features_N_D) else features_N_D
    )
    x = x.reshape(len(x), -1).to(device or params.W1.device, torch.float64)
    if x.shape[1] != params.in_features:
        raise AlkitError(
            f"features have {x.shape[1]} columns but the head expects {params.in_features}"
        )
    dev = x.device
    W1, W2 = params.W1.to(dev), params.W2.to(dev)
    C = params.n_outputs
    a = x @ W1.T
    if params.b1 is not None:
        a += params.b1.to(dev)
    terms = []
    if params.bn_mean is not None:
        inv_std = 1.0 / torch.sqrt(params.bn_var.to(dev) + params.bn_eps)
        x_hat = (a - params.bn_mean.to(dev)) * inv_std
        if params.gamma is not None:
            z = x_hat * params.gamma.to(dev) + params.beta.to(dev)
            s = params.gamma.to(dev) * inv_std
        else:
            z, s = x_hat, inv_std.expand_as(x_hat)
    else:
        x_hat, z, s = None, a, torch.ones_like(a)
    h = torch.relu(z)
    r = (z > 0).to(torch.float64)
    w_bar = W2.sum(0)
    u = w_bar * r * s
    v = w_bar * r
    root_c = math.sqrt(C)
    terms.append(h)
    if params.b2 is not None:
        terms.append(torch.ones(len(x), 1, dtype=torch.float64, device=dev))
    if x_hat is not None and params.gamma is not None:
        terms += [v * x_hat / root_c, v / root_c]
    Xt = x
    if params.b1 is not None:
        Xt = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64, device=dev)], 1)
    outputs = h @ W2.T
    if params.b2 is not None:
        outputs += params.b2.to(dev)
    return PNTKFactors(torch.cat(terms, 1), u / root_c, Xt, outputs, h)


def pntk_block(fa: PNTKFactors, fb: PNTKFactors, out: torch.Tensor | None = None) -> torch.Tensor:
    """``Θ(A, B)`` from two factor sets, ``|A| × |B|`` float64 (written into ``out`` if given)."""
    xx = fa.Xt_N_E @ fb.Xt_N_E.T
    xx.mul_(fa.U_N_H @ fb.U_N_H.T)
    if out is None:
        return torch.addmm(xx, fa.P_N_Q, fb.P_N_Q.T)
    return torch.addmm(xx, fa.P_N_Q, fb.P_N_Q.T, out=out)


def pntk_matrix(
    fa: PNTKFactors, fb: PNTKFactors, block_rows: int | None = None, out=None
) -> torch.Tensor:
    """``Θ(A, B)``, ``|A| × |B|`` float64, filled in row blocks of ``A`` (the output is the only
    ``|A| × |B|`` allocation; pass ``out`` to fill preallocated storage)."""
    rows = check_block_rows(block_rows, len(fb) + fb.Xt_N_E.shape[1])
    if out is None:
        out = torch.empty(len(fa), len(fb), dtype=torch.float64, device=fa.P_N_Q.device)

    def block(s, e):
        pntk_block(fa.rows(range(s, e)), fb, out=out[s:e])
        return e - s

    map_row_blocks(block, len(fa), rows)
    return out


def mlp_pntk(A_feats, B_feats, params: HeadParams, block_rows: int | None = None) -> torch.Tensor:
    """The closed-form traced NTK ``Θ(A, B)`` of the head ``params`` between two feature sets,
    ``|A| × |B|`` float64 (spec §2.2), computed in row blocks."""
    fa = pntk_factors(A_feats, params)
    fb = pntk_factors(B_feats, params, device=fa.P_N_Q.device)
    return pntk_matrix(fa, fb, block_rows)


def _model_jacobian(model: nn.Module, x_B, trace: bool):
    """Per-sample Jacobians of ``model`` w.r.t. all its parameters (``torch.func``):
    ``B × P`` for the traced output ``Σ_c f_c/√C``, else ``B × C × P``."""
    from torch.func import functional_call, jacrev, vmap

    names = [n for n, _ in model.named_parameters()]
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}

    def f(p, x):
        out = functional_call(model, (p, buffers), (x[None],))[0]
        return out.sum() / math.sqrt(out.shape[0]) if trace else out

    jac = vmap(jacrev(f), in_dims=(None, 0))(params, x_B)
    flat = [jac[n].reshape(len(x_B), *(() if trace else (jac[n].shape[1],)), -1) for n in names]
    return torch.cat(flat, dim=-1)


def empirical_ntk(
    model: nn.Module, X_A, X_B=None, trace: bool = True, block_rows: int | None = None
) -> torch.Tensor:
    """The empirical NTK of ``model`` in eval mode by ``torch.func`` (``jacrev`` + ``vmap``).

    ``trace=True`` gives the pNTK ``Θ(A, B)``, ``|A| × |B|``; ``trace=False`` the full kernel
    ``K[a, b, c, c'] = ∂f_c(x_a)/∂θ · ∂f_c'(x_b)/∂θ``, ``|A| × |B| × C × C`` (eq. 2). Jacobians are
    computed for ``block_rows`` rows of A at a time, while those of B are held (memory
    ``|B| × C × P``): the reference for :func:`mlp_pntk` and the kernel of small problems and
    of models that are not a 2-layer head (LookAhead's fallback). Runs in the model's dtype
    and device.
    """
    was_training = model.training
    model.eval()
    try:
        p0 = next(model.parameters())
        xa = torch.as_tensor(np.asarray(X_A) if not torch.is_tensor(X_A) else X_A)
        xa = xa.to(p0.device, p0.dtype)
        xb = (
            xa
            if X_B is None
            else torch.as_tensor(np.asarray(X_B) if not torch.is_tensor(X_B) else X_B).to(
                p0.device, p0.dtype
            )
        )
        n_params = sum(p.numel() for p in model.parameters())
        rows = check_block_rows(block_rows, n_params * (1 if trace else 16))
        jb = [_model_jacobian(model, xb[s : s + rows], trace) for s in range(0, len(xb), rows)]
        out = []
        for s in range(0, len(xa), rows):
            ja = _model_jacobian(model, xa[s : s + rows], trace)
            cols = []
            for j in jb:
                if trace:
                    cols.append(ja @ j.T)
                else:
                    cols.append(torch.einsum("acp,bdp->abcd", ja, j))
            out.append(torch.cat(cols, dim=1))
        return torch.cat(out, dim=0)
    finally:
        model.train(was_training)


BN_MODES = ("pool", "identity", "none")


def fresh_pntk_factors(
    features_N_D, n_outputs: int, hidden: int = 64, bn: str = "pool", seed: int = 0, rows=None
) -> PNTKFactors:
    """pNTK factors of a freshly initialised head (NTKCPL Alg. 1 line 9) on rows ``rows`` of
    ``features_N_D`` (all rows by default).

    ``bn="pool"``: BatchNorm in eval mode with the pre-activation mean and (biased) variance of
    all ``N`` rows (γ = 1, β = 0), so about half the ReLU gates are open on every row;
    ``"identity"``: running statistics 0 and 1; ``"none"``: no BatchNorm layer (spec §5).
    """
    if bn not in BN_MODES:
        raise AlkitError(f"bn must be one of {BN_MODES}, got {bn!r}")
    X = np.asarray(features_N_D, dtype=np.float64).reshape(len(features_N_D), -1)
    head = ntk_head(X.shape[1], hidden, n_outputs, batchnorm=bn != "none", seed=seed)
    if bn == "pool":
        lin = head[0]
        with torch.no_grad():
            a = torch.as_tensor(X) @ lin.weight.T + lin.bias
            head[1].running_mean.copy_(a.mean(0))
            head[1].running_var.copy_(a.var(0, unbiased=False))
    return pntk_factors(X if rows is None else X[np.asarray(rows)], head_params(head))


def check_head_params(model: nn.Module, params: HeadParams, x_B) -> None:
    """Raise unless the closed-form forward pass of ``params`` reproduces ``model(x)`` on a few
    rows (guards :func:`head_params` against a head whose layer order is not the assumed one)."""
    was_training = model.training
    model.eval()
    try:
        x = torch.as_tensor(np.asarray(x_B) if not torch.is_tensor(x_B) else x_B)[:8]
        p0 = next(model.parameters())
        with torch.no_grad():
            ref = model(x.to(p0.device, p0.dtype)).double().cpu()
        mine = pntk_factors(x, params).outputs_N_C.cpu()
    finally:
        model.train(was_training)
    if ref.shape != mine.shape or not torch.allclose(ref, mine, rtol=1e-4, atol=1e-4):
        raise AlkitError(
            "the model is not a Linear → [BatchNorm1d] → ReLU → Linear head (its outputs differ "
            "from the closed form); use kernel='empirical'"
        )
