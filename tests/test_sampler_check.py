"""The sampler doctor as a report check: it runs in full mode, compares the samplers at equal calls with their
intervals, draws its figures, and skips with the reason where it cannot measure."""
import pytest

from ddpm import load_checkpoint
from ddpm.data import load_dataset
from ddpm.messages import render
from diagnostics.checks.runner import mode_settings
from diagnostics.checks.sampler import check_sampler
from diagnostics.doctor import ODE
from diagnostics.plots import draw_figures


@pytest.fixture(scope="module")
def digits():
    return load_checkpoint("digits"), load_dataset("digits")


def test_the_check_compares_every_candidate_at_equal_calls_and_draws_it(digits):
    ck, real = digits
    r = check_sampler(ck, real, calls=6, n=50, seed=0)
    assert r.key == "sampler" and r.verdict in ("ok", "warn") and r.n == 50
    rows = r.numbers["samplers"]
    assert [x["sampler"] for x in rows] == [ODE, "ddim η=0.5", "ddim η=1", "dpmpp_2m_sde"]   # restart: no room
    assert all(x["calls"] == 6 and x["fid_ratio_low"] < x["fid_ratio"] < x["fid_ratio_high"] for x in rows)
    assert "restart" in " ".join(render(n) for n in r.notes)
    assert set(r.numbers["exposure"]) == {ODE, "ddim η=1"} and len(r.numbers["exposure"][ODE]["delta"]) == 6
    assert r.numbers["best"] in [x["sampler"] for x in rows]
    assert (r.fix is not None) == (r.verdict == "warn")
    figs = draw_figures(r)
    assert len(figs.figures) == 2 and not figs.not_drawn
    assert "网络调用" in render(r.threshold, "zh")


def test_quick_mode_skips_it_and_full_mode_runs_it():
    quick, full = mode_settings(True, 1000), mode_settings(False, 1000)
    assert quick.doctor_n == 0 and (full.doctor_n, full.doctor_calls) == (200, 10)
    assert mode_settings(False, 1000, n=60).doctor_n == 60


def test_it_skips_with_the_reason_where_it_cannot_measure(digits):
    ck, real = digits
    few = check_sampler(ck, real, calls=6, n=20)
    assert few.verdict == "skip" and "at least 50" in render(few.summary)
    none = check_sampler(ck, None, calls=6, n=50)
    assert none.verdict == "skip" and "real images" in render(none.summary)
