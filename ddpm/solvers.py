"""Multistep solvers of the diffusion ODE in its data-prediction form: DPM-Solver++(2M) (and its SDE form) and
UniPC (bh2), behind the samplers' one-step interface.

Notation of Lu et al. 2022b (DPM-Solver++, arXiv:2211.01095): x = α x_0 + σ ε, λ = log(α/σ). The solver walks
the noise levels 0 … S (level S is σ = 0, the clean image), calling the network once per level i < S;
m_i = x̂_0(x_i, t_i) is its data prediction and h_i = λ_{i+1} − λ_i the step in λ.

Multistep solvers remember earlier predictions: that state lives in the sampler object, `sample_loop` calls
`reset()` before every loop, and `step` refuses to be called out of order.
"""
from __future__ import annotations

import math
from typing import Optional

from torch import Tensor

from .coefficients import NoiseLevel, split_output
from .diffusion import GaussianDiffusion
from .messages import MessageError, msg
from .steps import Step, solver_schedule

SOLVER_ORDERS = (1, 2)


def dpmpp_update(x: Tensor, D: Tensor, s: NoiseLevel, nxt: NoiseLevel, noise: Optional[Tensor] = None,
                 sde: bool = False) -> Tensor:
    """One DPM-Solver++ step from level s to nxt with data term D (Lu et al. 2022b, eq. 9 / Alg. 2):

        ODE: x' = (σ'/σ) x − α' (e^{−h} − 1) D
        SDE: x' = (σ'/σ) e^{−h} x + α' (1 − e^{−2h}) D + σ' √(1 − e^{−2h}) z      (SDE-DPM-Solver++)

    h = λ' − λ; at σ' = 0, h = ∞ and x' = D.
    """
    h = nxt.lam - s.lam
    if not sde:
        return (nxt.sigma / s.sigma) * x - (nxt.alpha * math.expm1(-h)) * D
    e2 = math.exp(-2.0 * h)
    out = (nxt.sigma / s.sigma * math.exp(-h)) * x + (nxt.alpha * (1.0 - e2)) * D
    if noise is not None and nxt.sigma > 0:
        out = out + (nxt.sigma * math.sqrt(1.0 - e2)) * noise
    return out


class MultistepSolver:
    """Timesteps, noise levels and the per-loop memory shared by the multistep solvers."""

    name = "multistep"

    def __init__(self, diffusion: GaussianDiffusion, steps: int = 20, order: int = 2, spacing: Optional[str] = None,
                 karras: bool = False, clip_denoised: bool = False, clip_range: float = 1.0):
        if order not in SOLVER_ORDERS:
            raise MessageError("solver.order", orders=list(SOLVER_ORDERS), name=self.name, order=order)
        sched = solver_schedule(diffusion.coefficients, steps, spacing or "linspace", karras)
        if order > len(sched.timesteps):
            raise MessageError("solver.order_steps", order=order, steps=steps, hi=min(steps, max(SOLVER_ORDERS)))
        self.diffusion = diffusion
        self.order = order
        self.spacing = None if karras else (spacing or "linspace")
        self.karras = bool(karras)
        self.clip_denoised = clip_denoised
        self.clip_range = float(clip_range)
        self.timesteps = sched.timesteps
        self.network_calls = len(sched.timesteps)   # one per timestep: UniPC's corrector reuses the next call
        self.levels = sched.levels             # S + 1: levels[i] for timesteps[i], levels[S] the clean image
        self.reset()

    def reset(self) -> None:
        """Forget the previous loop: the next call must be the first timestep."""
        self._i = 0
        self._outputs: list[Tensor] = []       # m_{i−1}, m_{i−2}: the last data predictions (newest first)

    def _position(self, t: int) -> int:
        i = self._i
        if i >= len(self.timesteps) or self.timesteps[i] != t:
            expected = self.timesteps[i] if i < len(self.timesteps) else msg("solver.loop_over")
            raise MessageError("solver.out_of_order", name=self.name, t=t, i=i, n=len(self.timesteps),
                               expected=expected)
        return i

    def _data_prediction(self, model_out: Tensor, x: Tensor, level: NoiseLevel) -> Tensor:
        """m_i = x̂_0 at the solver's own noise level, clamped to the data range [−r, r] (r = clip_range, 1 for
        our models) if clip_denoised: static thresholding (Saharia et al. 2022), as Lu et al. 2022b §4 recommend
        for pixel-space models; diffusers' thresholding with sample_max_value = r does the same."""
        x0 = split_output(self.diffusion.objective, model_out, x, level.alpha, level.sigma).pred_xstart
        return x0.clamp(-self.clip_range, self.clip_range) if self.clip_denoised else x0

    def _second_order(self, i: int) -> bool:
        """Order 2 needs one earlier prediction (not at i = 0) and is lowered to 1 at the final step to σ = 0."""
        return self.order == 2 and 0 < i < len(self.timesteps) - 1

    def _data_term(self, i: int, m: Tensor) -> Tensor:
        """D_i = m_i, or (1 + 1/(2r_i)) m_i − 1/(2r_i) m_{i−1} with r_i = h_{i−1}/h_i  (Lu et al. 2022b, Alg. 2)."""
        if not self._second_order(i):
            return m
        lv = self.levels
        r = (lv[i].lam - lv[i - 1].lam) / (lv[i + 1].lam - lv[i].lam)
        return m + (m - self._outputs[0]) / (2.0 * r)

    def _advance(self, m: Tensor) -> None:
        self._outputs = [m] + self._outputs[:1]
        self._i += 1
        if self._i == len(self.timesteps):
            self.reset()


class DPMSolverPP(MultistepSolver):
    """DPM-Solver++(2M) (Lu et al. 2022b, Algorithm 2), data-prediction form:

        x_{i+1} = (σ_{i+1}/σ_i) x_i − α_{i+1} (e^{−h_i} − 1) D_i,   D_i = (1 + 1/(2r_i)) m_i − 1/(2r_i) m_{i−1},
        r_i = h_{i−1}/h_i;

    first order (D_i = m_i: DDIM with η = 0) at the first step and at the final step to σ = 0 (lower order final,
    as diffusers does with final_sigmas_type="zero"). With sde=True, the SDE-DPM-Solver++(2M) update of
    `dpmpp_update` with the same D_i, its noise z being the loop's per-step noise.
    """

    name = "dpmpp_2m"

    def __init__(self, diffusion: GaussianDiffusion, steps: int = 20, order: int = 2, spacing: Optional[str] = None,
                 karras: bool = False, clip_denoised: bool = False, clip_range: float = 1.0, sde: bool = False):
        self.sde = bool(sde)
        self.name = "dpmpp_2m_sde" if sde else "dpmpp_2m"
        super().__init__(diffusion, steps, order, spacing, karras, clip_denoised, clip_range)

    def step(self, model_out: Tensor, t: int, t_prev: int, x_t: Tensor, noise: Optional[Tensor]) -> Step:
        i = self._position(t)
        # 1. the data prediction m_i at this level
        m = self._data_prediction(model_out, x_t, self.levels[i])
        # 2. the multistep data term D_i, then the exponential-integrator step to level i+1
        x_next = dpmpp_update(x_t, self._data_term(i, m), self.levels[i], self.levels[i + 1], noise, self.sde)
        self._advance(m)
        return Step(x_next, m)


class UniPC(MultistepSolver):
    """UniPC with B(h) = e^h − 1 ("bh2"), order 2 (Zhao et al. 2023, Algorithms 1–3), data-prediction form.

    Each network call m_i first corrects the sample it was made at (UniC, order p of the last predictor):

        x_i^c = (σ_i/σ_{i−1}) x_{i−1}^c − α_i (e^{−h} − 1) m_{i−1} − α_i B(h) (Σ_{k<p} a_k D_k + a_p (m_i − m_{i−1})),
        h = λ_i − λ_{i−1},  D_k = (m_{i−1−k} − m_{i−1})/r_k,  r_k = (λ_{i−1−k} − λ_{i−1})/h,

    with a solving R a = b, R_{jk} = r_k^{j−1} (r_p = 1), b_j = j! (−h) φ_{j+1}(−h) / B(−h), φ_1(x) = (e^x − 1)/x,
    φ_{j+1}(x) = (φ_j(x) − 1/j!)/x; for p = 1, a_1 = ½ (the authors' simplification). Then UniP predicts the next
    sample; with bh2 and order ≤ 2 (a_1 = ½) UniP is exactly the DPM-Solver++(2M) step, lowered to first order at
    the first and the final step. No corrector follows the final step, so the network is called S times.
    """

    name = "unipc"

    def reset(self) -> None:
        super().reset()
        self._last_sample: Optional[Tensor] = None   # x_{i−1}^c, where the last predictor started
        self._last_order = 1                         # p of the last predictor

    def _correct(self, i: int, m: Tensor) -> Tensor:
        """UniC: x_i^c from x_{i−1}^c, the earlier predictions and the new one (the class docstring's equation)."""
        lv = self.levels
        s_prev, s = lv[i - 1], lv[i]
        h = s.lam - s_prev.lam
        b_of_h = math.expm1(-h)                                            # B(−h) = e^{−h} − 1
        m_prev = self._outputs[0]
        x = (s.sigma / s_prev.sigma) * self._last_sample - (s.alpha * math.expm1(-h)) * m_prev
        if self._last_order == 1:
            corr = 0.5 * (m - m_prev)
        else:
            r1 = (lv[i - 2].lam - s_prev.lam) / h
            d1 = (self._outputs[1] - m_prev) / r1
            hphi2 = math.expm1(-h) / -h - 1.0                              # (−h) φ_2(−h)
            b1 = hphi2 / b_of_h
            b2 = 2.0 * (hphi2 / -h - 0.5) / b_of_h                         # 2! (−h) φ_3(−h) / B
            a1 = (b1 - b2) / (1.0 - r1)                                    # R = [[1, 1], [r1, 1]]
            a2 = b1 - a1
            corr = a1 * d1 + a2 * (m - m_prev)
        return x - (s.alpha * b_of_h) * corr

    def step(self, model_out: Tensor, t: int, t_prev: int, x_t: Tensor, noise: Optional[Tensor]) -> Step:
        i = self._position(t)
        # 1. the data prediction m_i at the predicted sample x_t
        m = self._data_prediction(model_out, x_t, self.levels[i])
        # 2. UniC: correct x_t with m_i (it costs no extra network call)
        x_c = x_t if i == 0 else self._correct(i, m)
        # 3. UniP: predict the next sample from the corrected one (the DPM-Solver++(2M) step for bh2, order ≤ 2)
        x_next = dpmpp_update(x_c, self._data_term(i, m), self.levels[i], self.levels[i + 1])
        order = 2 if self._second_order(i) else 1
        self._advance(m)
        if self._i:                      # not reset by the final step
            self._last_sample, self._last_order = x_c, order
        return Step(x_next, m)
