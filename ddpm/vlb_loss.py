"""Training on the variational bound (Nichol & Dhariwal 2021, "Improved DDPM" §3):

    L_hybrid = L_simple + λ L_vlb,  λ = 0.001                                                     (§3.1)
    L_vlb    = L_0 + L_1 + … + L_{T−1} (+ L_T, constant)   with the terms of `ddpm.likelihood`    (eq. 4–6)

With t uniform on [0, T), T·L_t is an unbiased estimate of L_vlb, so λ L_vlb ≈ λ T L_t per sample (improved-
diffusion's "vb *= num_timesteps / 1000"). In the hybrid loss the VLB term sees the mean output through a stop-
gradient: it trains only the variance output v, L_simple trains the mean (§3.1). The pure VLB objective ("vlb")
trains both, with importance-sampled t (§3.3): p_t ∝ √E[L_t²] over the last 10 values of each L_t, uniform until
every t has 10, mixed with 0.1 % uniform; the sample is weighted 1/(T p_t) so the estimate stays unbiased.

The VLB terms (Gaussian KL, discretised decoder) are `ddpm.likelihood.vlb_term_bpd`'s, in bits/dim.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.distributed as dist
from torch import Tensor

from .coefficients import join_variance, split_variance
from .diffusion import LOSSES, GaussianDiffusion
from .formats.base import CheckpointError
from .messages import MessageError, msg
from .likelihood import vlb_term_bpd

HYBRID_LAMBDA = 0.001                 # λ of L_hybrid (Nichol & Dhariwal §3.1)
TRAIN_LOSSES = (*LOSSES, "vlb")       # mse / l1: L_simple (+ λ L_vlb with a learned variance); vlb: L_vlb alone
HISTORY = 10                          # values of L_t kept per t for the importance weights (§3.3)
UNIFORM_SHARE = 0.001                 # share of uniform t mixed in, so no t is ever starved (improved-diffusion)


@dataclass
class LossTerms:
    loss: Tensor                      # (B,) what is minimised: weighted L_simple (+ λ T L_t), or T L_t / (T p_t)
    vlb: Optional[Tensor] = None      # (B,) L_t in bits/dim, no weight (what the importance sampler records)


def training_losses(diffusion: GaussianDiffusion, model, x_start: Tensor, t: Tensor, y: Optional[Tensor] = None,
                    noise: Optional[Tensor] = None, loss_type: str = "mse", weighting: str = "simple",
                    min_snr_gamma: float = 5.0, importance: Optional[Tensor] = None) -> LossTerms:
    """The per-sample training loss for any network and TRAIN_LOSSES entry (see the module docstring).

    mse / l1 with a fixed-variance network: w(t)·L_simple, as GaussianDiffusion.simple_loss.
    mse / l1 with a learned variance (2C output channels): w(t)·L_simple + λ T L_t(mean output detached, v).
    vlb: T L_t · importance, importance = 1/(T p_t) of the t sampler (None: 1, uniform t); weighting unused.
    x_start: (B, C, H, W) in [-1, 1]; t: (B,) long; the VLB terms take x̂_0 unclipped (as improved-diffusion)."""
    if loss_type not in TRAIN_LOSSES:
        raise MessageError("choice.unknown", kind="loss", value=loss_type, choices=sorted(TRAIN_LOSSES))
    if noise is None:
        noise = torch.randn_like(x_start)
    x_t = diffusion.q_sample(x_start, t, noise)
    out = model(x_t, t, y)
    mean_out, v = split_variance(out, x_t)
    T = diffusion.T
    if loss_type == "vlb":
        vlb = _vlb(diffusion, out, x_start, x_t, t)
        weight = 1.0 if importance is None else importance.to(vlb)
        return LossTerms(T * vlb * weight, vlb.detach())
    loss = diffusion.simple_loss(mean_out, x_start, noise, t, loss_type, weighting, min_snr_gamma)
    if v is None:
        return LossTerms(loss)
    # the stop-gradient: λ L_vlb reaches v only, the mean is L_simple's alone (§3.1)
    vlb = _vlb(diffusion, join_variance(mean_out.detach(), v), x_start, x_t, t)
    return LossTerms(loss + HYBRID_LAMBDA * T * vlb, vlb.detach())


def _vlb(diffusion: GaussianDiffusion, out: Tensor, x_start: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
    """L_t in bits/dim per sample, in float32 whatever precision the network ran in; the model's own variance."""
    variance = "learned_range" if split_variance(out, x_t)[1] is not None else "fixed_small"
    return vlb_term_bpd(diffusion, out.float(), x_start.float(), x_t.float(), t, variance=variance,
                        clip_denoised=False)


# ---------------------------------------------------------------------------------------------- sampling t
class UniformTimesteps:
    """t ~ U{0, …, T−1}: torch.randint on the run's noise generator (the same draws as before this option)."""

    def __init__(self, T: int):
        self.T = T

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Optional[Tensor]]:
        return torch.randint(self.T, (n,), generator=generator), None

    def update(self, t: Tensor, losses: Optional[Tensor]) -> None:
        """Uniform sampling keeps no history."""

    def state_dict(self) -> dict[str, Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Nothing to restore."""


class ImportanceTimesteps:
    """p_t ∝ √E[L_t²] over the last HISTORY values of L_t, uniform until every t has them (Nichol & Dhariwal §3.3;
    improved-diffusion's LossSecondMomentResampler). sample() returns t and the unbiasing weights 1/(T p_t)."""

    def __init__(self, T: int, history: int = HISTORY, uniform_share: float = UNIFORM_SHARE):
        self.T, self.history, self.uniform_share = T, history, uniform_share
        self.losses = torch.zeros(T, history, dtype=torch.float64)   # the last `history` L_t of each t, oldest first
        self.counts = torch.zeros(T, dtype=torch.long)               # how many of them are filled

    @property
    def warmed_up(self) -> bool:
        return bool((self.counts == self.history).all())

    def probabilities(self) -> Tensor:  # (T,) float64, sums to 1
        if not self.warmed_up:
            return torch.full((self.T,), 1.0 / self.T, dtype=torch.float64)
        w = self.losses.pow(2).mean(1).sqrt()
        w = w / w.sum()
        return w * (1 - self.uniform_share) + self.uniform_share / self.T

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        p = self.probabilities()
        t = torch.multinomial(p, n, replacement=True, generator=generator)
        return t, (1.0 / (self.T * p[t])).float()

    def update(self, t: Tensor, losses: Optional[Tensor]) -> None:
        """Record L_t for each sample (under torchrun every rank's, so that all ranks keep the same history)."""
        if losses is None:
            return
        t, losses = t.detach().cpu().long(), losses.detach().double().cpu()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            t, losses = _gather(t, losses)
        for ti, li in zip(t.tolist(), losses.tolist()):
            k = int(self.counts[ti])
            if k == self.history:
                self.losses[ti, :-1] = self.losses[ti, 1:].clone()
                self.losses[ti, -1] = li
            else:
                self.losses[ti, k] = li
                self.counts[ti] = k + 1

    def state_dict(self) -> dict[str, Tensor]:
        return {"vlb_losses": self.losses.clone(), "vlb_counts": self.counts.clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if "vlb_losses" not in state:   # a run that did not sample t by importance before: start its history now
            return
        if tuple(state["vlb_losses"].shape) != (self.T, self.history):
            raise MessageError("train.loss_history_shape", saved=tuple(state["vlb_losses"].shape),
                               needed=(self.T, self.history))
        self.losses = state["vlb_losses"].double().clone()
        self.counts = state["vlb_counts"].long().clone()


def _gather(t: Tensor, losses: Tensor) -> tuple[Tensor, Tensor]:
    """Every rank's (t, L_t), in rank order (the per-rank batch has the same size on every rank)."""
    world = dist.get_world_size()
    ts, ls = [None] * world, [None] * world
    dist.all_gather_object(ts, t)
    dist.all_gather_object(ls, losses)
    return torch.cat(ts), torch.cat(ls)


def timestep_sampler(loss_type: str, T: int):
    """Importance-sampled t for the pure VLB objective, uniform t otherwise (§3.3: it helps L_vlb only)."""
    return ImportanceTimesteps(T) if loss_type == "vlb" else UniformTimesteps(T)


def check_resume_variance(saved_model: dict, learn_sigma: bool, path) -> None:
    """A run resumes only with the variance option it was trained with: the output layer differs in size."""
    saved = bool(saved_model.get("learn_sigma", False))
    if saved != learn_sigma:
        had = msg("train.variance_learned" if saved else "train.variance_fixed")
        flag = "--learn-sigma" if saved else "--no-learn-sigma"
        raise CheckpointError("train.resume_variance", path=str(path), had=had, flag=flag)
