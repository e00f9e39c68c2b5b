"""Distribution-aware training of seed 003: the L_GMM regulariser (§3.3) and the GMM-fed
WGAN-GP alignment stage (§3.4, eq. 3). The gradient penalty is the one of seed 004's WGAN-GP
(:func:`alkit.generative.gradient_penalty`), imported here under its old name.

Both are trainer options (``TrainConfig.gmm_reg``, ``TrainConfig.gmm_align_steps``), off by
default, so they combine with any strategy (Table 1, "Reg" and "Reg + DA"). The alignment stage
leaves a :class:`GMMState` on the Learner (``learner.gmm_state``): ψ_L, ψ_UL and the critic,
which strategies read through ``QueryContext.gmm_state`` (I_Dis of §3.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from alkit.errors import AlkitError
from alkit.generative import gradient_penalty
from alkit.kernels.gmm import (
    VAR_FLOOR,
    GMMParams,
    class_statistics,
    component_log_prob,
    fit_gmm_batched,
    init_from_means,
)

#: Log-posteriors fed to the critic are clipped below at this value (far components would
#: otherwise give values of −10⁴ that swamp z).
LOG_FLOOR = -30.0


@dataclass
class GMMTrainOptions:
    """Further knobs of the two stages (``TrainConfig.gmm_options`` overrides the defaults).

    ``subset``: size of the class-balanced labelled subset X_s fitted per batch (A.1: 1,000).
    ``em_iters``: EM iterations for ψ_UL (A.1: 10). ``refresh_every``: M, iterations between ψ
    refreshes in the alignment stage (A.1: 500). ``batch_size``: labelled and unlabelled samples
    per alignment iteration (A.1: 100). ``critic_lr`` (A.1: 5e-4, ×0.1 for the last 20 %),
    ``critic_hidden`` (three linear layers, sigmoid output, §4.1), ``gp_weight`` (λ = 10, WGAN-GP),
    ``critic_steps`` per feature-extractor step (the paper alternates 1:1), ``dis_weight`` (β = 1),
    ``var_floor`` (the variance floor of ψ_s, ψ_L, ψ_UL; ReLU embeddings have near-constant
    dimensions, whose tiny class variances make L_GMM and the critic's GMM features huge:
    with 1e-6, α = 1e-4 collapsed a LeNet's embedding on Fashion-MNIST, 1e-2 did not).
    """

    subset: int = 1000
    em_iters: int = 10
    refresh_every: int = 500
    batch_size: int = 100
    critic_lr: float = 5e-4
    critic_hidden: int = 256
    gp_weight: float = 10.0
    critic_steps: int = 1
    dis_weight: float = 1.0
    var_floor: float = 1e-2

    @classmethod
    def from_dict(cls, options: dict | None) -> GMMTrainOptions:
        options = dict(options or {})
        allowed = set(cls.__dataclass_fields__)
        bad = sorted(set(options) - allowed)
        if bad:
            raise AlkitError(f"unknown gmm_options {bad}; valid: {sorted(allowed)}")
        return cls(**options)


@dataclass
class GMMState:
    """What the alignment stage leaves on the Learner: ψ_L, ψ_UL, the critic and a log.

    ``history`` holds per-iteration ``critic_loss``, ``gp`` and ``grad_norm`` (the mean critic
    gradient norm on interpolates, which the penalty drives toward 1).
    """

    psi_L: GMMParams
    psi_UL: GMMParams
    critic: torch.nn.Module
    history: dict[str, list[float]] = field(default_factory=dict)

    @torch.no_grad()
    def critic_scores(self, Z_N_D) -> np.ndarray:
        """I_Dis = D_φ([z, GMM features]) for each row (§3.5): ``N`` float64."""
        self.critic.eval()
        dev = next(self.critic.parameters()).device
        Z = torch.as_tensor(np.asarray(Z_N_D), dtype=torch.float32, device=dev)
        out = [
            self.critic(critic_features(Z[s : s + 4096], self.psi_L, self.psi_UL)).squeeze(1)
            for s in range(0, len(Z), 4096)
        ]
        return torch.cat(out).double().cpu().numpy()


def critic_features(Z_N_D: torch.Tensor, psi_L: GMMParams, psi_UL: GMMParams) -> torch.Tensor:
    """The critic's input (§3.4, Fig. 4): ``[z, log p(y|z;ψ_L), log p(y|z;ψ_UL),
    log p(z;ψ_L)/D, log p(z;ψ_UL)/D]``, shape ``N × (D + 2K + 2)``.

    Gradients flow to ``z`` but not to ψ (A.1 cuts the graph to ψ). Log-likelihoods are divided
    by ``D`` (per-dimension) and log-posteriors clipped at :data:`LOG_FLOOR` so that no block
    dominates by scale alone.
    """
    D = Z_N_D.shape[1]
    parts = [Z_N_D]
    likes = []
    for psi in (psi_L, psi_UL):
        logp_N_K = component_log_prob(Z_N_D, psi)
        log_like_N = torch.logsumexp(logp_N_K, dim=1, keepdim=True)
        parts.append((logp_N_K - log_like_N).clamp_min(LOG_FLOOR))
        likes.append(log_like_N / D)
    return torch.cat(parts + likes, dim=1)


def make_critic(in_features: int, hidden: int) -> torch.nn.Module:
    """D_φ: three linear layers with a sigmoid output (§4.1)."""
    return torch.nn.Sequential(
        torch.nn.Linear(in_features, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 1),
        torch.nn.Sigmoid(),
    )


def critic_step(critic, opt, feats_L, feats_UL, gp_weight: float) -> dict[str, float]:
    """One critic update: minimise ``E D(z_l) − E D(z_ul) + λ·GP`` (eq. 3, max side)."""
    feats_L, feats_UL = feats_L.detach(), feats_UL.detach()
    gp, norm = gradient_penalty(critic, feats_L, feats_UL)
    loss = critic(feats_L).mean() - critic(feats_UL).mean() + gp_weight * gp
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"critic_loss": loss.item(), "gp": gp.item(), "grad_norm": norm.mean().item()}


def balanced_subset(y_N: np.ndarray, size: int, n_classes: int, gen: torch.Generator) -> np.ndarray:
    """Indices of a class-balanced subset X_s (A.1): ``size // n_present`` per present class,
    drawn with replacement where a class has fewer samples (the paper augments instead)."""
    present = [c for c in range(n_classes) if (y_N == c).any()]
    per = max(1, size // max(1, len(present)))
    out = []
    for c in present:
        idx_c = np.flatnonzero(y_N == c)
        if len(idx_c) >= per:
            pick = torch.randperm(len(idx_c), generator=gen)[:per].numpy()
        else:
            pick = torch.randint(len(idx_c), (per,), generator=gen).numpy()
        out.append(idx_c[pick])
    return np.concatenate(out)


@torch.no_grad()
def _embed_eval(model, X: torch.Tensor, device, batch: int = 1024) -> torch.Tensor:
    was_training = model.training
    model.eval()
    out = torch.cat([model.embed(X[s : s + batch].to(device)) for s in range(0, len(X), batch)])
    model.train(was_training)
    return out


def with_regulariser(base_loss, Xt, yt, n_classes: int, alpha: float, opts, device):
    """``base_loss`` (an ``extra_loss`` or None) plus ``α · L_GMM`` (§3.3), as one ``extra_loss``
    for :meth:`Learner.fit`.

    Each batch draws a balanced subset X_s of the labelled set, embeds it without gradients,
    takes its closed-form class statistics ψ_s (A.1) and returns
    ``α · mean_i −log p(y = y_i | z_i; ψ_s)`` over the batch's embeddings ``z_i``.
    """
    y_np = yt.numpy()
    gen = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, (1,))))

    def extra_loss(model, xb, yb, logits, taps):
        rows = balanced_subset(y_np, opts.subset, n_classes, gen)
        z_s = _embed_eval(model, Xt[rows], device)
        psi_s = class_statistics(z_s, yt[rows].to(device), n_classes, opts.var_floor)
        log_post = torch.log_softmax(component_log_prob(taps["embedding"], psi_s), dim=1)
        loss = alpha * F.nll_loss(log_post, yb)
        return loss if base_loss is None else loss + base_loss(model, xb, yb, logits, taps)

    return extra_loss


def fit_psi(z_L, y_L, z_UL, n_classes: int, em_iters: int, var_floor: float = VAR_FLOOR):
    """ψ_L in closed form from the labels; ψ_UL by EM from ψ_L (absent classes seeded on the
    unlabelled points farthest from every labelled class mean), fitted in batches of 10,000."""
    psi_L = class_statistics(z_L, y_L, n_classes, var_floor)
    init = unlabelled_init(psi_L, z_L, y_L, z_UL)
    return psi_L, fit_gmm_batched(z_UL, init, 10_000, em_iters, var_floor=var_floor)


def unlabelled_init(psi_L: GMMParams, z_L, y_L, z_UL: torch.Tensor) -> GMMParams:
    """EM start for ψ_UL: the labelled class means, and for classes without labels the
    unlabelled points chosen farthest-first from the means already placed (A.4)."""
    K = psi_L.n_components
    present = torch.bincount(torch.as_tensor(y_L).long().cpu(), minlength=K) > 0
    present = present.to(psi_L.means_K_D.device)
    means = psi_L.means_K_D.clone()
    placed = means[present]
    if not present.all():
        d2 = torch.cdist(z_UL, placed).min(1).values
        for k in torch.nonzero(~present).flatten().tolist():
            far = int(d2.argmax())
            means[k] = z_UL[far]
            d2 = torch.minimum(d2, (z_UL - z_UL[far]).norm(dim=1))
    return init_from_means(z_UL, means)


def alignment_stage(learner, Xt, yt, X_unlabeled, steps: int, opts: GMMTrainOptions) -> GMMState:
    """The semi-supervised stage of §3.4 / Algorithm 1 step 2, ``steps`` iterations.

    Every ``refresh_every`` iterations ψ_L, ψ_UL are refitted on all data; each iteration draws
    ``batch_size`` labelled and unlabelled samples, updates the critic ``critic_steps`` times
    (WGAN-GP) and then the model on ``CE + β (E D(z_ul) − E D(z_l))``. The critic's learning
    rate drops ×0.1 for the last 20 % of the iterations (A.1).
    """
    model, device, cfg = learner.model, learner.device, learner.config
    K = model.head.out_features
    Xu = torch.as_tensor(np.asarray(X_unlabeled), dtype=torch.float32)
    if len(Xu) == 0:
        raise AlkitError("the alignment stage needs unlabelled samples, got none")
    D = model.head.in_features
    critic = make_critic(D + 2 * K + 2, opts.critic_hidden).to(device)
    c_opt = torch.optim.Adam(critic.parameters(), lr=opts.critic_lr, betas=(0.5, 0.9))
    c_sched = torch.optim.lr_scheduler.MultiStepLR(c_opt, [int(0.8 * steps)], 0.1)
    params = [p for p in model.parameters() if p.requires_grad]
    m_opt = (
        torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "sgd"
        else torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    )
    history = {"critic_loss": [], "gp": [], "grad_norm": [], "wasserstein": []}
    psi_L = psi_UL = None
    b = opts.batch_size
    for it in range(steps):
        if it % opts.refresh_every == 0:
            z_L, z_UL = _embed_eval(model, Xt, device), _embed_eval(model, Xu, device)
            psi_L, psi_UL = fit_psi(z_L, yt.to(device), z_UL, K, opts.em_iters, opts.var_floor)
        li = torch.randint(len(Xt), (b,))
        ui = torch.randint(len(Xu), (b,))
        xl, yl, xu = Xt[li].to(device), yt[li].to(device), Xu[ui].to(device)
        model.train()
        for _ in range(opts.critic_steps):
            with torch.no_grad():
                f_L = critic_features(model.embed(xl), psi_L, psi_UL)
                f_UL = critic_features(model.embed(xu), psi_L, psi_UL)
            log = critic_step(critic, c_opt, f_L, f_UL, opts.gp_weight)
        for key in ("critic_loss", "gp", "grad_norm"):
            history[key].append(log[key])
        logits_l, taps_l = model.forward_taps(xl)
        z_u = model.embed(xu)
        d_l = critic(critic_features(taps_l["embedding"], psi_L, psi_UL)).mean()
        d_u = critic(critic_features(z_u, psi_L, psi_UL)).mean()
        history["wasserstein"].append((d_u - d_l).item())
        loss = F.cross_entropy(logits_l, yl) + opts.dis_weight * (d_u - d_l)
        m_opt.zero_grad(set_to_none=True)
        loss.backward()
        m_opt.step()
        c_sched.step()
    model.eval()
    z_L, z_UL = _embed_eval(model, Xt, device), _embed_eval(model, Xu, device)
    psi_L, psi_UL = fit_psi(z_L, yt.to(device), z_UL, K, opts.em_iters, opts.var_floor)
    return GMMState(psi_L, psi_UL, critic.eval(), history)
