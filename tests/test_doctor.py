"""The sampler doctor: its verdict follows the intervals (a stochastic sampler wins only when its whole interval lies
below the ODE's), it refuses what it cannot measure, and it runs end to end on the bundled digits model from the
CLI, in both languages."""
import json

import pytest

from ddpm.messages import render
from diagnostics.doctor import ODE, DoctorRow, _decide, sampler_doctor
from diagnostics.intervals import Interval
from diagnostics.sampler_doctor import ExposureCurve


def _row(name, est, low, high, vs_ode=None):
    return DoctorRow(name, 10, est, Interval(est, low, high), 0.0, 0.0, 1.0, vs_ode)


CURVE = ExposureCurve([999, 500, 99], [1.0, 1.0, 0.8], [1.0, 1.0, 1.0], [0.0, 0.0, -0.2], [0.01, 0.01, 0.01], 100)


@pytest.mark.parametrize("best_high, verdict", [(0.99, "warn"), (1.01, "ok")])
def test_a_stochastic_sampler_wins_only_when_its_paired_interval_lies_below_one(best_high, verdict):
    """The decision is on FID / FID(ODE) from the same starts (paired interval), not on the floor ratios: here the
    floor ratios overlap wholly, and the paired interval alone decides."""
    rows = [_row(ODE, 2.4, 1.0, 5.0), _row("ddim η=1", 1.2, 0.5, 3.0, Interval(0.5, 0.3, best_high)),
            _row("restart", 1.5, 0.7, 3.5, Interval(0.62, 0.4, best_high + 0.05))]
    r = _decide(rows, {ODE: CURVE}, 10, 200, 0, 1.0, 0.3, None, 1.0)
    assert r.verdict == verdict and r.best == "ddim η=1" and r.onset == 99     # the lowest upper end of the pairs
    if verdict == "warn":
        assert render(r.fix) == "sample with ddim η=1 at 10 network calls"
        assert "from t = 99 on" in render(r.summary) and "t = 99" in render(r.summary, "zh")
        assert f"0.50 (95% interval 0.30–{best_high:.2f}) times the ODE's" in render(r.summary)
    else:
        assert r.fix is None and "any of them will do" in render(r.summary) and "1.01" in render(r.summary)


def test_the_doctor_refuses_what_it_cannot_measure():
    from ddpm import load_checkpoint
    from ddpm.data import load_dataset
    ck, real = load_checkpoint("digits"), load_dataset("digits")
    with pytest.raises(ValueError, match=r"calls must be an integer in \[4, 200\]"):
        sampler_doctor(ck, real, calls=2)
    with pytest.raises(ValueError, match="at least 50"):
        sampler_doctor(ck, real, n=20)
    with pytest.raises(ValueError, match="must include the deterministic path"):
        sampler_doctor(ck, real, candidates={"ddim η=1": dict(sampler="ddim", eta=1.0)})


@pytest.mark.slow
def test_the_doctor_cli_on_the_bundled_digits_model(tmp_path, capsys):
    from diagnostics.__main__ import main
    out = tmp_path / "doctor.json"
    assert main(["doctor", "digits", "--calls", "8", "--n", "60", "--json", str(out), "--lang", "zh",
                 "--threads", "1"]) == 0
    text = capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert [r["sampler"] for r in saved["rows"]] == [ODE, "ddim η=0.5", "ddim η=1", "dpmpp_2m_sde", "restart"]
    assert saved["rows"][0]["vs_ode"] is None and all(r["vs_ode"]["low"] < r["vs_ode"]["high"] for r in saved["rows"][1:])
    assert all(r["calls"] == 8 for r in saved["rows"])            # equal calls: the comparison is fair
    assert saved["verdict"] in ("ok", "warn") and saved["n"] == 60
    assert set(saved["curves"]) == {ODE, "ddim η=1"} and len(saved["curves"][ODE]["delta"]) == 8
    assert "网络调用" in text and "灰色像素" in text and "grey pixels" not in text
    assert ("正常：" in text) != ("警告：" in text)                  # the verdict, in Chinese, once


@pytest.mark.slow
def test_the_compare_tab_s_doctor_in_both_languages():
    from demo import i18n
    from demo.tabs import compare
    v = compare.doctor("bundled", None, calls=6, n=50, guidance_scale=1.0)
    assert v.table["headers"] == ["sampler", "network calls", "FID", "FID / floor (95% interval)",
                                  "FID / the ODE's FID (paired 95% interval)", "grey pixels − real"]
    assert v.table["data"][0][4] == "—" and all("×" in row[4] for row in v.table["data"][1:])
    assert [row[0] for row in v.table["data"]] == [ODE, "ddim η=0.5", "ddim η=1", "dpmpp_2m_sde"]   # restart:
    assert all(row[1] == 6 for row in v.table["data"])                                               # no room
    assert "restart not run" in v.verdict and "n = 50 per sampler" in v.verdict
    assert len(v.plot.data) == 2                                   # the ODE's and DDIM η=1's δ_t curves
    with i18n.use("zh"):
        zh = compare.doctor("bundled", None, calls=6, n=50, guidance_scale=1.0)
    assert zh.table["headers"][0] == "采样器" and "每种采样器 50 张" in zh.verdict
    assert [r[2] for r in zh.table["data"]] == [r[2] for r in v.table["data"]]   # the same numbers
    for kw, match in ((dict(calls=2), r"network calls"), (dict(n=10), "number of images")):
        with pytest.raises(Exception, match=match):
            compare.doctor("bundled", None, **{**dict(calls=6, n=50), **kw})
