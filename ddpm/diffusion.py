"""The Gaussian diffusion process: forward q(x_t | x_0), posterior q(x_{t-1} | x_t, x_0), conversions
between the ε / x_0 / v parameterisations and the training loss.

Names follow improved-diffusion: `x_start` = x_0, `x_t`, `pred_xstart` = x̂_0, `eps` = ε.
t is 0-based: t ∈ [0, T) where t = 0 is the paper's first step.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import torch
from torch import Tensor

from .coefficients import OBJECTIVES, CoefficientTable, Prediction, output_from, split_output, split_variance
from .messages import MessageError
from .schedules import DEFAULT_T, make_betas
LOSSES = ("mse", "l1")
WEIGHTINGS = ("simple", "snr", "min_snr", "importance")


def _check_choice(kind: str, value: str, choices) -> None:
    if value not in choices:
        raise MessageError("choice.unknown", kind=kind, value=value, choices=sorted(choices))


@dataclass(frozen=True)
class DiffusionConfig:
    schedule: str = "linear"          # linear | cosine | quadratic | sigmoid | custom
    T: int = DEFAULT_T                # number of diffusion steps
    objective: str = "eps"            # what the network predicts: eps | x0 | v
    betas: Optional[tuple] = None     # only for schedule="custom": the T betas

    def __post_init__(self):
        _check_choice("objective", self.objective, OBJECTIVES)
        if self.schedule == "custom":
            if self.betas is None:
                raise MessageError("schedule.custom_needs_betas")
            object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
            object.__setattr__(self, "T", len(self.betas))
        make_betas(self.schedule, self.T, **({"betas": self.betas} if self.schedule == "custom" else {}))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = list(self.betas) if self.betas is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DiffusionConfig":
        d = dict(d)
        if d.get("betas") is not None:
            d["betas"] = tuple(d["betas"])
        return cls(**d)


@dataclass(frozen=True)
class SamplingDefaults:
    """How the samplers treat this model unless the caller says otherwise. Ours: the values below; a diffusers
    model: its scheduler config (timestep_spacing, clip_sample / clip_sample_range, variance_type)."""
    spacing: str = "trailing"         # DDIM timestep spacing: trailing | linspace | leading
    clip_denoised: bool = True        # clamp x̂_0 to [-clip_range, clip_range] before the posterior mean
    clip_range: float = 1.0           # the data range of x_0
    variance: str = "fixed_small"     # DDPM reverse variance: fixed_small (β̃_t) | fixed_large (β_t) | learned_range
                                      # (the network's v, Improved DDPM eq. 15: a model trained with --learn-sigma)
    eps_from_clipped: bool = True     # DDIM with clipping: recompute ε̂ from the clipped x̂_0 (ours, as improved-
                                      # diffusion does); a foreign diffusers model: False, as diffusers' DDIMPipeline
                                      # samples (DDIMScheduler's use_clipped_model_output=False)
    convention: str = "workbench"     # whose sampling defaults the samplers follow (ddpm.samplers.conventions):
                                      # "workbench" (ours) | "diffusers" (a pipeline's, as its schedulers' from_config)


def extract(arr: Tensor, t: Tensor, x: Tensor) -> Tensor:
    """arr[t] reshaped to broadcast against x: (T,) , (B,) -> (B, 1, 1, 1)."""
    out = arr.to(device=t.device)[t].to(x.dtype)
    return out.reshape(t.shape[0], *([1] * (x.dim() - 1)))


class GaussianDiffusion:
    """All schedule-derived quantities, computed in float64 then stored as `dtype` (float32 by default).

    Every tensor attribute is (T,). Pass dtype=torch.float64 to test the equations exactly.
    """

    def __init__(self, config: DiffusionConfig = DiffusionConfig(), dtype: torch.dtype = torch.float32,
                 sampling_defaults: SamplingDefaults = SamplingDefaults()):
        self.config = config
        self.sampling_defaults = sampling_defaults
        self.T = config.T
        self.objective = config.objective
        kw = {"betas": config.betas} if config.schedule == "custom" else {}
        b = make_betas(config.schedule, config.T, **kw)                    # float64
        a = 1.0 - b
        ab = torch.cumprod(a, 0)
        ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])  # ᾱ_{-1} = 1
        post_var = b * (1.0 - ab_prev) / (1.0 - ab)                         # β̃_t (eq. 7)
        q = {
            "betas": b,
            "alphas": a,
            "alphas_cumprod": ab,
            "alphas_cumprod_prev": ab_prev,
            "sqrt_alphas_cumprod": ab.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - ab).sqrt(),
            "log_one_minus_alphas_cumprod": torch.log(1.0 - ab),
            "sqrt_recip_alphas_cumprod": (1.0 / ab).sqrt(),
            "sqrt_recipm1_alphas_cumprod": (1.0 / ab - 1.0).sqrt(),
            "posterior_variance": post_var,
            # β̃_0 = 0, so the log is clipped by repeating β̃_1 (as the official code does)
            "posterior_log_variance_clipped": torch.log(torch.cat([post_var[1:2], post_var[1:]])),
            "posterior_mean_coef1": b * ab_prev.sqrt() / (1.0 - ab),
            "posterior_mean_coef2": (1.0 - ab_prev) * a.sqrt() / (1.0 - ab),
            "snr": ab / (1.0 - ab),
        }
        self.float64 = q                     # the exact values, for diagnostics and tests
        # the same values as typed per-t Python floats: what every sampler reads (one t for the whole batch)
        self.coefficients = CoefficientTable(q)
        for name, value in q.items():
            setattr(self, name, value.to(dtype))
        self.dtype = dtype

    # ---- forward process -------------------------------------------------------------------
    def q_mean_variance(self, x_start: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I)  (Ho et al. eq. 4). Returns mean, variance, log-variance."""
        mean = extract(self.sqrt_alphas_cumprod, t, x_start) * x_start
        var = extract(1.0 - self.alphas_cumprod, t, x_start).expand_as(x_start)
        log_var = extract(self.log_one_minus_alphas_cumprod, t, x_start).expand_as(x_start)
        return mean, var, log_var

    def q_sample(self, x_start: Tensor, t: Tensor, noise: Optional[Tensor] = None) -> Tensor:
        """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε.  x_start: (B, C, H, W); t: (B,) long in [0, T)."""
        if noise is None:
            noise = torch.randn_like(x_start)
        return (extract(self.sqrt_alphas_cumprod, t, x_start) * x_start
                + extract(self.sqrt_one_minus_alphas_cumprod, t, x_start) * noise)

    def q_posterior_mean_variance(self, x_start: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I),
        μ̃_t = √ᾱ_{t−1} β_t/(1−ᾱ_t) x_0 + √α_t (1−ᾱ_{t−1})/(1−ᾱ_t) x_t  (Ho et al. eq. 7)."""
        mean = (extract(self.posterior_mean_coef1, t, x_t) * x_start
                + extract(self.posterior_mean_coef2, t, x_t) * x_t)
        var = extract(self.posterior_variance, t, x_t).expand_as(x_t)
        log_var = extract(self.posterior_log_variance_clipped, t, x_t).expand_as(x_t)
        return mean, var, log_var

    def posterior_mean_from_eps(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """μ̃_t = 1/√α_t · (x_t − β_t/√(1−ᾱ_t) ε)  (Ho et al. eq. 11)."""
        coef = extract(self.betas, t, x_t) / extract(self.sqrt_one_minus_alphas_cumprod, t, x_t)
        return (x_t - coef * eps) / extract(self.alphas, t, x_t).sqrt()

    # ---- conversions between ε, x_0 and v: all through coefficients.split_output / output_from -------------
    def alpha_sigma(self, t: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """(α_t, σ_t) = (√ᾱ_t, √(1−ᾱ_t)) per sample, shaped to broadcast against x: (B, 1, 1, 1)."""
        return extract(self.sqrt_alphas_cumprod, t, x), extract(self.sqrt_one_minus_alphas_cumprod, t, x)

    def predict_xstart_from_eps(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t  (Ho et al. eq. 15)."""
        return split_output("eps", eps, x_t, *self.alpha_sigma(t, x_t)).pred_xstart

    predict_x0_from_eps = predict_xstart_from_eps

    def predict_eps_from_xstart(self, x_t: Tensor, t: Tensor, pred_xstart: Tensor) -> Tensor:
        """ε = (x_t − √ᾱ_t x̂_0)/√(1−ᾱ_t)."""
        return split_output("x0", pred_xstart, x_t, *self.alpha_sigma(t, x_t)).eps

    def get_v(self, x_start: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """v = √ᾱ_t ε − √(1−ᾱ_t) x_0  (Salimans & Ho 2022)."""
        return output_from("v", eps, x_start, *self.alpha_sigma(t, x_start))

    def predict_xstart_from_v(self, x_t: Tensor, t: Tensor, v: Tensor) -> Tensor:
        """x_0 = √ᾱ_t x_t − √(1−ᾱ_t) v."""
        return split_output("v", v, x_t, *self.alpha_sigma(t, x_t)).pred_xstart

    def predict_eps_from_v(self, x_t: Tensor, t: Tensor, v: Tensor) -> Tensor:
        """ε = √(1−ᾱ_t) x_t + √ᾱ_t v."""
        return split_output("v", v, x_t, *self.alpha_sigma(t, x_t)).eps

    def split_model_output(self, model_out: Tensor, x_t: Tensor, t: Tensor) -> Prediction:
        """Turn whatever the network predicts (config.objective) into (ε̂, x̂_0); t: (B,) long."""
        return split_output(self.objective, model_out, x_t, *self.alpha_sigma(t, x_t))

    def split_model_output_at(self, model_out: Tensor, x_t: Tensor, t: int) -> Prediction:
        """split_model_output for one timestep t shared by the batch, with Python-float coefficients."""
        return self.coefficients.at(t).split(self.objective, model_out, x_t)

    def model_output_from_eps(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """The inverse of split_model_output: express ε in the network's own parameterisation."""
        alpha, sigma = self.alpha_sigma(t, x_t)
        x0 = split_output("eps", eps, x_t, alpha, sigma).pred_xstart
        return output_from(self.objective, eps, x0, alpha, sigma)

    def training_target(self, x_start: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """What the network is trained to output: ε, x_0 or v = √ᾱ_t ε − √(1−ᾱ_t) x_0."""
        return output_from(self.objective, noise, x_start, *self.alpha_sigma(t, x_start))

    # ---- loss ---------------------------------------------------------------------------------
    def loss_weights(self, t: Tensor, weighting: str = "simple", min_snr_gamma: float = 5.0) -> Tensor:
        """Per-sample weight w(t) of the loss, (B,), for the chosen weighting (SPEC §4):

        simple: 1;  snr: 1/(1+SNR_t);  min_snr: min(SNR_t, γ)/SNR_t for ε (÷1 for x_0, ÷(SNR_t+1) for v);
        importance: β_t² / (2σ_t² α_t (1−ᾱ_t)) with σ_t² = β̃_t (the ELBO weight of Ho et al. eq. 12),
        normalised to mean 1 over t so the learning rate keeps its meaning. At t = 0 β̃ = 0, so σ_0² := β_0.
        """
        return self.weighting_table(weighting, min_snr_gamma).to(t.device)[t]

    def weighting_table(self, weighting: str = "simple", min_snr_gamma: float = 5.0) -> Tensor:  # (T,) float32
        """w(t) for every t, computed in float64 (what seed 001 §3.4.3 prints min/max/mean/std of)."""
        _check_choice("weighting", weighting, WEIGHTINGS)
        q = self.float64
        snr = q["snr"]
        if weighting == "simple":
            w = torch.ones_like(snr)
        elif weighting == "snr":
            w = 1.0 / (1.0 + snr)
        elif weighting == "min_snr":
            if min_snr_gamma <= 0:
                raise MessageError("diffusion.min_snr_gamma", value=min_snr_gamma)
            # Hang et al. 2023: the ε-loss weight is min(SNR, γ)/SNR; the same weight on x_0 is reached by
            # min(SNR, γ) on the x_0 loss and min(SNR, γ)/(SNR + 1) on the v loss (their eq. 9 and §3.3)
            denom = {"eps": snr, "x0": torch.ones_like(snr), "v": snr + 1.0}[self.objective]
            w = torch.clamp(snr, max=min_snr_gamma) / denom
        else:
            sigma2 = q["posterior_variance"].clone()
            sigma2[0] = q["betas"][0]
            w = q["betas"] ** 2 / (2 * sigma2 * q["alphas"] * (1 - q["alphas_cumprod"]))
            w = w / w.mean()
        return w.to(torch.float32)

    def weighting_stats(self, weighting: str = "simple", min_snr_gamma: float = 5.0) -> dict[str, float]:
        """min / max / mean / std (unbiased) of w(t) over all t, as seed 001 §3.4.3 prints them."""
        w = self.weighting_table(weighting, min_snr_gamma).double()
        return {"min": w.min().item(), "max": w.max().item(), "mean": w.mean().item(), "std": w.std().item()}

    def training_losses(self, model, x_start: Tensor, t: Tensor, y: Optional[Tensor] = None,
                        noise: Optional[Tensor] = None, loss_type: str = "mse",
                        weighting: str = "simple", min_snr_gamma: float = 5.0) -> Tensor:
        """Per-sample weighted loss, (B,): w(t)·‖target − model(x_t, t, y)‖ averaged over pixels.

        x_start: (B, C, H, W) in [-1, 1]; t: (B,) long; y: (B,) long labels or None. A network that learns its
        variance is trained by `ddpm.vlb_loss.training_losses` (L_simple + λ L_vlb) instead.
        """
        if noise is None:
            noise = torch.randn_like(x_start)
        x_t = self.q_sample(x_start, t, noise)
        out = model(x_t, t, y)
        if split_variance(out, x_t)[1] is not None:
            raise MessageError("diffusion.use_vlb_loss")
        return self.simple_loss(out, x_start, noise, t, loss_type, weighting, min_snr_gamma)

    def simple_loss(self, out: Tensor, x_start: Tensor, noise: Tensor, t: Tensor, loss_type: str = "mse",
                    weighting: str = "simple", min_snr_gamma: float = 5.0) -> Tensor:
        """w(t)·‖target − out‖² (mse) or w(t)·|target − out| (l1), averaged over pixels: (B,). out: the network's
        output at x_t = q_sample(x_start, t, noise), in its own parameterisation (mean part only, C channels)."""
        _check_choice("loss", loss_type, LOSSES)
        target = self.training_target(x_start, noise, t)
        err = (out - target) ** 2 if loss_type == "mse" else (out - target).abs()
        per_sample = err.float().flatten(1).mean(1)
        return per_sample * self.loss_weights(t, weighting, min_snr_gamma)
