"""Few-step samplers that call the network more than once per timestep, on the model's own discrete schedule:
EDM's stochastic Heun sampler (Karras et al. 2022, Algorithm 2) and Restart sampling (Xu et al. 2023); and ε scaling
(Ning et al. 2024), which `ddpm.sampling.GuidedModel` applies for every sampler.

Coordinates. The loop's x is variance-preserving, x_t = α_t x_0 + σ_t ε (ddpm.coefficients). EDM works with the same
point in variance-exploding form, x̃ = x_t/α_t at noise level s_t = σ_t/α_t = √((1 − ᾱ_t)/ᾱ_t), where the
probability-flow ODE is dx̃/ds = (x̃ − D(x̃; s))/s with D the denoiser x̂_0 (Karras et al. eq. 3 and 4 with s(t) = 1,
σ(t) = t). An Euler step of it, x̃' = x̃ + (s' − s)(x̃ − D)/s, is exactly DDIM with η = 0 (their §3).

The network is only ever called at the model's integer timesteps t ∈ [0, T), as EDM does for its discrete-time
(iDDPM) models: a raised noise level is rounded to the nearest level of the schedule (their `round_sigma`).

These samplers drive the network themselves: they have `calls_model = True` and a
`step_model(model_fn, t, t_prev, x_t, draw_noise) -> Step` that `ddpm.sampling.sample_loop` calls instead of `step`,
with the guided model (guidance, ε scaling, call counting) and a function drawing the next N(0, I) noise from the
loop's generator (None when the noise temperature is 0). `network_calls` is the exact number of network calls of
one loop; `steps` in the constructors is that budget, as for every other sampler.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

from .coefficients import StepCoefficients, split_output
from .diffusion import GaussianDiffusion
from .messages import MessageError
from .steps import Step, ddim_timesteps

ModelFn = Callable[[Tensor, Tensor], Tensor]        # (x_t (B, C, H, W), t (B,) long) -> the network's output
NoiseFn = Callable[[], Optional[Tensor]]            # the next z ~ N(0, I) shaped like x_t, or None (temperature 0)
RESTART_ODES = ("heun", "euler")
RESTART_SIGMAS = (0.1, 2.0)   # the default interval in s = σ/α: the Restart authors' automatic setting (their
                              # A1111/k-diffusion sampler: restart at the main step nearest s = 0.1, jump to s = 2)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# --------------------------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Churn:
    """EDM's stochastic churn (Karras et al. 2022, Alg. 2, lines 4–6): before step i,
    γ_i = min(S_churn/N, √2 − 1) if S_tmin ≤ s_i ≤ S_tmax else 0,  ŝ_i = s_i (1 + γ_i) (rounded to the schedule),
    x̃̂_i = x̃_i + √(ŝ_i² − s_i²) S_noise z. S_churn = 0 is the deterministic Heun sampler (their Alg. 1)."""
    s_churn: float = 0.0            # total churn S_churn ≥ 0 (EDM's ImageNet-64 setting: 40 with 256 steps)
    s_tmin: float = 0.0             # the churn window in the noise level s = σ/α: S_tmin ≤ s_i ≤ S_tmax
    s_tmax: float = math.inf
    s_noise: float = 1.0            # S_noise in [1, 1.1]: inflates the added noise (EDM's best: 1.003–1.007)

    def __post_init__(self):
        if not _finite(self.s_churn) or not 0 <= self.s_churn <= 1e4:
            raise MessageError("sampler.churn_range", value=self.s_churn)
        tmax_ok = isinstance(self.s_tmax, (int, float)) and not isinstance(self.s_tmax, bool) \
            and not math.isnan(self.s_tmax)
        if not _finite(self.s_tmin) or self.s_tmin < 0 or not tmax_ok or self.s_tmax < self.s_tmin:
            raise MessageError("sampler.churn_window", tmin=self.s_tmin, tmax=self.s_tmax)
        if not _finite(self.s_noise) or not 1.0 <= self.s_noise <= 1.1:
            raise MessageError("sampler.churn_noise", value=self.s_noise)

    def gamma(self, s: float, n_steps: int) -> float:
        """γ_i at noise level s for a sampler of N = n_steps steps."""
        if self.s_churn == 0 or not self.s_tmin <= s <= self.s_tmax:
            return 0.0
        return min(self.s_churn / n_steps, math.sqrt(2.0) - 1.0)

    def as_dict(self) -> dict:
        """JSON-ready (an open window's S_tmax = ∞ as None)."""
        return {"s_churn": self.s_churn, "s_tmin": self.s_tmin,
                "s_tmax": None if math.isinf(self.s_tmax) else self.s_tmax, "s_noise": self.s_noise}

    def __str__(self) -> str:   # how a sweep's series names it
        window = "" if (self.s_tmin, self.s_tmax) == (0.0, math.inf) else \
            f", S_t∈[{self.s_tmin:g}, {self.s_tmax:g}]"
        noise = "" if self.s_noise == 1.0 else f", S_noise={self.s_noise:g}"
        return f"S_churn={self.s_churn:g}{window}{noise}"


@dataclass(frozen=True)
class RestartSpec:
    """One Restart interval (Xu et al. 2023, Alg. 1): on reaching t_min, K times: jump forward to t_max with
    q(x_{t_max} | x_{t_min}) (fresh noise), then solve the ODE back to t_min in `steps` steps. None: the main
    timestep whose noise level s = σ/α is nearest 0.1, and the level nearest s = 2 (the authors' default interval)."""
    t_min: Optional[int] = None     # where the restarts start; the main timestep nearest it is moved onto it
    t_max: Optional[int] = None     # how far each restart re-noises, t_min < t_max ≤ T − 1
    k: int = 1                      # K: how many restarts (0: none, the plain ODE sampler)
    steps: int = 2                  # ODE steps of each restart from t_max back to t_min
    ode: str = "heun"               # the ODE step, main path and restarts: heun (2 calls, the paper's) | euler (1: DDIM)

    def __post_init__(self):
        for name in ("t_min", "t_max"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise MessageError("sampler.restart_int", name=name, value=v)
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not 0 <= self.k <= 100:
            raise MessageError("sampler.restart_k", value=self.k)
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or not 1 <= self.steps <= 1000:
            raise MessageError("sampler.restart_steps", value=self.steps)
        if self.ode not in RESTART_ODES:
            raise MessageError("sampler.restart_ode", value=self.ode, options=list(RESTART_ODES))

    @property
    def calls_per_restart(self) -> int:
        return self.steps * (2 if self.ode == "heun" else 1)

    def __str__(self) -> str:
        lo = "s=0.1" if self.t_min is None else self.t_min
        hi = "s=2" if self.t_max is None else self.t_max
        where = f"[{lo}, {hi}]"
        return f"K={self.k}×{self.steps} {self.ode} on {where}"


def heun_plan(calls: int) -> tuple[int, int]:
    """(levels L, Heun steps H) of a Heun path with exactly `calls` network calls: L levels are L steps (the last to
    the clean image); a Heun step costs 2 calls, an Euler step 1, and the step to the clean image is always Euler.
    Odd calls: H = L − 1 with L = (calls + 1)/2 (EDM's 2N − 1); even calls: the last two steps Euler, H = L − 2."""
    if calls % 2:
        levels = (calls + 1) // 2
        return levels, levels - 1
    levels = calls // 2 + 1
    return levels, levels - 2


def nearest_timestep(table_ratios: Tensor, s: float) -> int:
    """The integer t whose s_t = σ_t/α_t is nearest s (EDM's round_sigma for a discrete schedule)."""
    return int((table_ratios - s).abs().argmin())


def restart_jump(x: Tensor, lo: StepCoefficients, hi: StepCoefficients, z: Optional[Tensor]) -> Tensor:
    """x_{t_max} ~ q(x_{t_max} | x_{t_min}) = N(√(ᾱ_max/ᾱ_min) x_{t_min}, (1 − ᾱ_max/ᾱ_min) I): the forward process
    over the gap (Ho et al. eq. 2 composed), i.e. x̃_max = x̃_min + √(s_max² − s_min²) z in EDM's coordinates
    (Xu et al. Alg. 1, line 5). It keeps q(x_t | x_0)'s marginal: x_{t_min} ~ N(√ᾱ_min x_0, 1 − ᾱ_min) becomes
    N(√ᾱ_max x_0, 1 − ᾱ_max)."""
    ratio = hi.alpha_bar / lo.alpha_bar
    out = math.sqrt(ratio) * x
    return out if z is None else out + math.sqrt(1.0 - ratio) * z


# --------------------------------------------------------------------------------------------- samplers
class _CallsModel:
    """Shared by the samplers that call the network themselves: the denoiser D at an integer timestep, and the
    Euler / Heun step between two levels of the schedule, in EDM's x̃ = x/α coordinates."""

    calls_model = True

    def __init__(self, diffusion: GaussianDiffusion, clip_denoised: bool, clip_range: float, spacing: str):
        self.diffusion = diffusion
        self.table = diffusion.coefficients
        self.ratios = self.table.sigma_ratios()             # (T,) float64: s_t for every t
        self.clip_denoised = bool(clip_denoised)
        self.clip_range = float(clip_range)
        self.spacing = spacing

    def reset(self) -> None:
        """Nothing is carried from one loop to the next."""

    def _denoise(self, model_fn: ModelFn, x_ve: Tensor, t: int) -> tuple[Tensor, Tensor]:
        """(D(x̃; s_t) as used, clamped to [−r, r] if clip_denoised; the raw x̂_0): the network sees x_t = α_t x̃."""
        c = self.table.at(t)
        x_t = x_ve * c.alpha
        tt = torch.full((x_t.shape[0],), t, device=x_t.device, dtype=torch.long)
        raw = split_output(self.diffusion.objective, model_fn(x_t, tt), x_t, c.alpha, c.sigma).pred_xstart
        return (raw.clamp(-self.clip_range, self.clip_range) if self.clip_denoised else raw), raw

    def _s(self, t: int) -> float:
        return 0.0 if t < 0 else self.table.at(t).sigma_ratio

    def _ode_step(self, model_fn: ModelFn, x_ve: Tensor, t: int, t_next: int, heun: bool,
                  first: Optional[Tensor] = None) -> Tensor:
        """x̃ at t → x̃ at t_next (−1: the clean image) (Karras et al. Alg. 1, lines 3–8):
        d = (x̃ − D(x̃; s))/s,  x̃' = x̃ + (s' − s) d;  Heun (s' > 0): x̃' = x̃ + (s' − s)(d + d')/2,
        d' = (x̃' − D(x̃'; s'))/s'. `first`: D(x̃; s) when already computed."""
        s, s_next = self._s(t), self._s(t_next)
        d = (x_ve - (self._denoise(model_fn, x_ve, t)[0] if first is None else first)) / s
        x_next = x_ve + (s_next - s) * d
        if heun and t_next >= 0:
            d2 = (x_next - self._denoise(model_fn, x_next, t_next)[0]) / s_next
            x_next = x_ve + (s_next - s) * (0.5 * (d + d2))
        return x_next

    def _main_grid(self, levels: int) -> list[int]:
        T = self.diffusion.T
        if not 1 <= levels <= T:
            raise MessageError("sampler.levels_range", sampler=self.name, levels=levels, T=T)
        return ddim_timesteps(T, levels, self.spacing)


class EDMHeun(_CallsModel):
    """EDM's stochastic sampler (Karras et al. 2022, Algorithm 2) on the model's discrete schedule, for N levels
    s_0 > … > s_{N−1} (the timesteps of `spacing`) and s_N = 0:

        γ_i = min(S_churn/N, √2 − 1) if S_tmin ≤ s_i ≤ S_tmax else 0;  ŝ_i = round(s_i (1 + γ_i))   (a level t̂_i)
        x̃̂_i = x̃_i + √(ŝ_i² − s_i²) S_noise z_i
        d_i = (x̃̂_i − D(x̃̂_i; ŝ_i))/ŝ_i;   x̃_{i+1} = x̃̂_i + (s_{i+1} − ŝ_i) d_i
        if s_{i+1} ≠ 0:  d'_i = (x̃_{i+1} − D(x̃_{i+1}; s_{i+1}))/s_{i+1};  x̃_{i+1} = x̃̂_i + (s_{i+1} − ŝ_i)(d_i + d'_i)/2

    with x̃ = x/α and D the (clipped, if clip_denoised) x̂_0. With S_churn = 0 it is the deterministic Heun sampler
    (Alg. 1), which diffusers' HeunDiscreteScheduler implements at integer timesteps. `steps` is the network-call
    budget B and `network_calls` equals it: odd B = 2N − 1 (Heun on every step but the last, EDM's count), even B
    = 2N − 2 (the last two steps Euler).
    """

    name = "edm_heun"

    def __init__(self, diffusion: GaussianDiffusion, steps: int = 19, spacing: str = "trailing",
                 churn: Churn = Churn(), clip_denoised: bool = True, clip_range: float = 1.0):
        super().__init__(diffusion, clip_denoised, clip_range, spacing)
        T = diffusion.T
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 2 * T - 1:
            raise MessageError("sampler.calls_range", sampler=self.name, value=steps, hi=2 * T - 1)
        self.churn = churn
        levels, self.heun_steps = heun_plan(steps)
        self.timesteps = self._main_grid(levels)
        self.network_calls = steps

    def step_model(self, model_fn: ModelFn, t: int, t_prev: int, x_t: Tensor, draw_noise: NoiseFn) -> Step:
        i = self.timesteps.index(t)
        c = self.table.at(t)
        x_ve = x_t / c.alpha
        # 1. churn: raise the noise level to ŝ (a level of the schedule) with fresh noise (Alg. 2, lines 4–6)
        s = c.sigma_ratio
        t_hat = t
        gamma = self.churn.gamma(s, len(self.timesteps))
        if gamma > 0:
            t_hat = max(t, nearest_timestep(self.ratios, s * (1.0 + gamma)))
            z = draw_noise() if t_hat > t else None
            if z is not None:
                s_hat = self.table.at(t_hat).sigma_ratio
                x_ve = x_ve + (math.sqrt(s_hat ** 2 - s ** 2) * self.churn.s_noise) * z
        # 2. Euler from ŝ to s_{i+1}, then Heun's correction unless s_{i+1} = 0 (lines 7–11)
        first, raw = self._denoise(model_fn, x_ve, t_hat)
        x_next = self._ode_step(model_fn, x_ve, t_hat, t_prev, heun=i < self.heun_steps, first=first)
        return Step(x_next * self.table.at(t_prev).alpha, first, raw)


class Restart(_CallsModel):
    """Restart sampling (Xu et al. 2023, Algorithm 1) on the model's discrete schedule. The main path solves the ODE
    (Heun or Euler = DDIM η = 0, `RestartSpec.ode`) over the timesteps of `spacing`, the one nearest a given t_min
    moved onto it (by default t_min is the main timestep whose s is nearest 0.1). On reaching t_min, K times:

        x_{t_max} = √(ᾱ_max/ᾱ_min) x_{t_min} + √(1 − ᾱ_max/ᾱ_min) z      (forward jump: q(x_{t_max} | x_{t_min}))
        x_{t_min} = ODE(x_{t_max}; t_max → t_min) in `steps` steps at round(linspace(t_max, t_min, steps + 1))

    then the main path goes on from t_min. The re-noising contracts the error the ODE accumulated above t_min
    (their Theorem 2). `steps` is the whole network-call budget B: the restarts cost K · steps · (2 for Heun, 1 for
    Euler) and the main path gets the rest (a Heun main path as EDMHeun's: 2N − 1 or 2N − 2 calls); network_calls = B.
    """

    name = "restart"

    def __init__(self, diffusion: GaussianDiffusion, steps: int = 19, spacing: str = "trailing",
                 restart: RestartSpec = RestartSpec(), clip_denoised: bool = True, clip_range: float = 1.0):
        super().__init__(diffusion, clip_denoised, clip_range, spacing)
        T = diffusion.T
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 4 * T:
            raise MessageError("sampler.calls_range", sampler=self.name, value=steps, hi=4 * T)
        heun = restart.ode == "heun"
        spent = restart.k * restart.calls_per_restart
        main_min = 3 if heun else 2                     # the main path needs a timestep above t_min
        if steps - spent < main_min:
            raise MessageError("sampler.restart_budget", k=restart.k, n=restart.steps, ode=restart.ode, cost=spent,
                               steps=steps, k_max=max(0, (steps - main_min) // restart.calls_per_restart),
                               need=spent + main_min)
        levels, self.heun_steps = heun_plan(steps - spent) if heun else (steps - spent, 0)
        grid = self._main_grid(levels)
        if restart.t_min is None:     # the authors' rule: restart at the main timestep whose s is nearest 0.1
            t_min = min(grid[1:], key=lambda t: abs(self._s(t) - RESTART_SIGMAS[0]))
        else:
            t_min = restart.t_min
        t_max = nearest_timestep(self.ratios, RESTART_SIGMAS[1]) if restart.t_max is None else restart.t_max
        if not 0 <= t_min < grid[0] or not t_min < t_max <= T - 1:
            raise MessageError("sampler.restart_interval", t_min=t_min, t_max=t_max, first=grid[0], last=T - 1)
        if restart.steps > t_max - t_min:
            raise MessageError("sampler.restart_substeps", n=restart.steps, t_min=t_min, t_max=t_max,
                               hi=t_max - t_min)
        j = 1 + min(range(len(grid) - 1), key=lambda k: abs(grid[k + 1] - t_min))  # never the first timestep
        grid[j] = t_min                                   # (already there when t_min is the default)
        self.timesteps = grid
        self.restart = RestartSpec(t_min, t_max, restart.k, restart.steps, restart.ode)
        ts = torch.linspace(t_max, t_min, restart.steps + 1, dtype=torch.float64).round().long().tolist()
        self.restart_timesteps = [int(t) for t in ts]          # t_max … t_min, strictly decreasing
        self.network_calls = steps

    def step_model(self, model_fn: ModelFn, t: int, t_prev: int, x_t: Tensor, draw_noise: NoiseFn) -> Step:
        spec, heun = self.restart, self.restart.ode == "heun"
        c = self.table.at(t)
        if t == spec.t_min:
            hi = self.table.at(spec.t_max)
            for _ in range(spec.k):
                # 1. re-noise t_min → t_max with the forward process, 2. the ODE back down to t_min
                x_ve = restart_jump(x_t, c, hi, draw_noise()) / hi.alpha
                for a, b in zip(self.restart_timesteps, self.restart_timesteps[1:]):
                    x_ve = self._ode_step(model_fn, x_ve, a, b, heun)
                x_t = x_ve * c.alpha
        # 3. the main path's step t → t_prev
        i = self.timesteps.index(t)
        x_ve = x_t / c.alpha
        first, raw = self._denoise(model_fn, x_ve, t)
        x_next = self._ode_step(model_fn, x_ve, t, t_prev, heun=heun and i < self.heun_steps, first=first)
        return Step(x_next * self.table.at(t_prev).alpha, first, raw)


# --------------------------------------------------------------------------------------------- ε scaling
@dataclass(frozen=True)
class EpsScaling:
    """Epsilon scaling (Ning et al. 2024, "Elucidating the Exposure Bias in Diffusion Models", §5):
    sample with ε̂_θ(x_t, t)/λ_t instead of ε̂_θ, λ_t = b + k · t/T (b = 1, k = 0: off). λ_t > 1 shrinks the
    predicted noise, which the authors show is over-estimated at sampling time (exposure bias); their ADM settings are
    b ≈ 1.005–1.02. The network's other parameterisations are rescaled through ε: x̂_0 = (x_t − σ_t ε̂/λ_t)/α_t."""
    b: float = 1.0                  # λ at t = 0, in [0.5, 2]
    k: float = 0.0                  # slope over the schedule: λ_T = b + k, also in [0.5, 2]

    def __post_init__(self):
        if not _finite(self.b) or not _finite(self.k) or not (0.5 <= self.b <= 2 and 0.5 <= self.b + self.k <= 2):
            raise MessageError("sampler.eps_scaling", b=self.b, k=self.k)

    @property
    def off(self) -> bool:
        return self.b == 1.0 and self.k == 0.0

    def factor(self, t: Tensor, T: int) -> Tensor:  # (B,) float64
        """λ_t per sample."""
        return self.b + self.k * t.to(torch.float64) / T

    def __str__(self) -> str:
        return f"λ={self.b:g}" + (f"+{self.k:g}t/T" if self.k else "")
