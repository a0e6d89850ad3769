"""Tests for ddpm.schedules: properties of every schedule, the exact formulas, custom betas and errors.

Reference values are recomputed here with numpy / math (never taken from the code under test).
"""
import math

import numpy as np
import pytest
import torch

from ddpm.schedules import DEFAULT_T, SCHEDULES, custom_betas, make_betas


TS = (2, 10, 1000)


def _rescaled(T, beta_start=1e-4, beta_end=0.02):
    """The documented improved-diffusion rescaling: endpoints × 1000/T, β_end capped at 0.999."""
    scale = 1000 / T
    return beta_start * scale, min(beta_end * scale, 0.999)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("T", TS)
def test_schedule_properties(name, T):
    b = make_betas(name, T)
    assert b.shape == (T,)
    assert b.dtype == torch.float64
    assert torch.isfinite(b).all()
    assert (b > 0).all() and (b < 1).all(), f"{name} T={T}: β outside (0, 1): {b.min()}..{b.max()}"
    ab = np.cumprod(1.0 - b.numpy())
    assert (np.diff(ab) < 0).all(), f"{name} T={T}: ᾱ not strictly decreasing"
    assert 0 < ab[-1] < ab[0] < 1


def test_registry_and_default_T():
    assert set(SCHEDULES) == {"linear", "cosine", "quadratic", "sigmoid"}
    assert DEFAULT_T == 1000
    assert make_betas("linear").shape == (1000,)


def test_linear_T1000_is_exactly_ho_et_al():
    b = make_betas("linear", 1000)
    assert torch.equal(b, torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64))
    # numpy computes linspace independently; equal up to the last bit or two
    np.testing.assert_allclose(b.numpy(), np.linspace(1e-4, 0.02, 1000), rtol=1e-14, atol=0)
    assert b[0].item() == 1e-4 and abs(b[-1].item() - 0.02) < 1e-17


@pytest.mark.parametrize("T", (2, 10, 250))
def test_linear_rescaled_for_other_T(T):
    lo, hi = _rescaled(T)
    np.testing.assert_allclose(make_betas("linear", T).numpy(), np.linspace(lo, hi, T), rtol=1e-13)


@pytest.mark.parametrize("T", TS)
def test_quadratic_formula(T):
    lo, hi = _rescaled(T)
    ref = np.linspace(math.sqrt(lo), math.sqrt(hi), T) ** 2
    np.testing.assert_allclose(make_betas("quadratic", T).numpy(), ref, rtol=1e-13)


@pytest.mark.parametrize("T", TS)
def test_sigmoid_formula(T):
    # SPEC §1: β_start + (β_end − β_start)·σ(linspace(−6, 6, T)), endpoints rescaled like linear
    lo, hi = _rescaled(T)
    x = np.linspace(-6, 6, T)
    ref = lo + (hi - lo) / (1 + np.exp(-x))
    np.testing.assert_allclose(make_betas("sigmoid", T).numpy(), ref, rtol=1e-13)
    if T == 1000:  # no rescaling at the default T: exactly the SPEC's 1e-4 / 0.02
        np.testing.assert_allclose(make_betas("sigmoid", T).numpy(),
                                   1e-4 + (0.02 - 1e-4) / (1 + np.exp(-x)), rtol=1e-13)


def _cosine_reference(T, s=0.008):
    """Nichol & Dhariwal eq. 17 with math.cos, one β at a time, clipped to [1e-4, 0.9999] (SPEC §1)."""
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    return np.array([min(max(1 - f(i + 1) / f(i), 1e-4), 0.9999) for i in range(T)])


@pytest.mark.parametrize("T", TS)
def test_cosine_formula_clipping_and_end(T):
    b = make_betas("cosine", T)
    np.testing.assert_allclose(b.numpy(), _cosine_reference(T), rtol=1e-10, atol=1e-15)
    assert b.min() >= 1e-4 and b.max() <= 0.9999
    assert b[-1].item() == pytest.approx(0.9999)           # f(T) = cos²(π/2) ≈ 0, so β_T is clipped
    ab_T = np.prod(1 - b.numpy())
    assert ab_T < 1e-4, f"cosine ᾱ_T = {ab_T}: x_T is not pure noise"


def test_cosine_low_clip_active_at_T1000():
    # unclipped β_1 = 1 − f(1/1000)/f(0) ≈ 4e-5 (math.cos above), under the 1e-4 floor
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2
    assert 1 - f(1) / f(0) < 1e-4
    assert make_betas("cosine", 1000)[0].item() == 1e-4


def test_custom_betas():
    vals = [0.1, 0.2, 0.5, 0.9]
    b = make_betas("custom", betas=vals)
    assert b.dtype == torch.float64 and b.tolist() == vals
    assert make_betas("custom", T=999, betas=torch.tensor(vals, dtype=torch.float64)).tolist() == vals   # T is ignored
    assert custom_betas(np.array(vals)).tolist() == vals


@pytest.mark.parametrize("bad", ([0.1, 0.0], [0.1, 1.0], [0.1, -0.2], [0.1, 1.5], [0.1, float("nan")],
                                 [0.1, float("inf")]))
def test_custom_betas_outside_open_interval(bad):
    with pytest.raises(ValueError, match=r"strictly inside \(0, 1\)"):
        make_betas("custom", betas=bad)


def test_custom_betas_need_two_values_and_the_argument():
    with pytest.raises(ValueError, match="at least 2"):
        make_betas("custom", betas=[0.1])
    with pytest.raises(ValueError, match="needs betas"):
        make_betas("custom", 10)


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError) as e:
        make_betas("cosin", 10)
    msg = str(e.value)
    assert "'cosin'" in msg
    for name in list(SCHEDULES) + ["custom"]:
        assert name in msg


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("T", (1, 0, -5, 2.5, "10"))
def test_bad_T(name, T):
    with pytest.raises(ValueError, match="T must be an integer >= 2"):
        make_betas(name, T)
