"""The committed Chinese reports are what `python -m diagnostics render --lang zh` writes from their report.json
(the reports that store their messages; older ones are kept as they were made and say so in docs/diagnose.md)."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RENDERED = ("report_mnist", "report_mnist_w1", "report_emoji")


@pytest.mark.parametrize("name", RENDERED)
def test_the_chinese_report_is_its_report_json_rendered(name, tmp_path):
    from diagnostics.__main__ import main
    folder = ROOT / "docs" / name
    assert main(["render", str(folder / "report.json"), "--out", str(tmp_path), "--lang", "zh"]) == 0
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == \
        (folder / "zh" / "report.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name, samplers, paired", [
    ("mnist_10calls", ("dpmpp_2m_sde", "ddim η=0"), ("dpmpp_2m_sde",)),
    ("digits_150steps_10calls", ("ddim η=1", "ddim η=0"), ("ddim η=1", "restart")),
    ("emoji_50calls", ("dpmpp_2m_sde", "ddim η=1", "ddim η=0"), ("dpmpp_2m_sde",))])
def test_the_doctor_numbers_on_compare_samplers_are_their_json(name, samplers, paired):
    """Every FID/floor ratio and paired FID/FID(ODE) the page quotes for a doctor run is its JSON's, and so is the
    verdict it states."""
    import json
    saved = json.loads((ROOT / "docs" / "doctor" / f"{name}.json").read_text(encoding="utf-8"))
    rows = {r["sampler"]: r for r in saved["rows"]}
    page = (ROOT / "docs" / "compare-samplers.md").read_text(encoding="utf-8")
    bullet = " ".join(next(line for line in page.split("\n- ") if f"doctor/{name}.json" in line).split())
    for s in samplers:
        r = rows[s]["fid_ratio"]
        assert f"{r['estimate']:.2f}×" in bullet and f"{r['low']:.2f}–{r['high']:.2f}×" in bullet, s
    for s in paired:
        r = rows[s]["vs_ode"]
        assert f"{r['low']:.2f}–{r['high']:.2f}×" in bullet, s
    said = f"sample with {saved['best']} at {saved['calls']} network calls"
    assert (said in bullet) == (saved["verdict"] == "warn")


@pytest.mark.parametrize("name, page, pattern", [
    ("digits", "reference/checks.md", r"features_digits\.safetensors`, ([\d.]+)% held-out accuracy"),
    ("mnist", "compare-samplers.md", r"the width-32 network, ([\d.]+)% held-out accuracy"),
    ("emoji", "bring-your-own.md", r"\(([\d.]+)% on the 373 held-out emoji\)")])
def test_the_feature_networks_accuracies_in_the_docs_are_their_files(name, page, pattern):
    """Each shipped feature network's held-out accuracy quoted in the docs is the one its file records, at the
    precision shown."""
    import re
    from diagnostics.features import load_feature_net
    quoted = re.search(pattern, (ROOT / "docs" / page).read_text(encoding="utf-8")).group(1)
    recorded = load_feature_net(ROOT / "checkpoints" / f"features_{name}.safetensors").test_accuracy
    decimals = len(quoted.split(".")[1]) if "." in quoted else 0
    assert f"{100 * recorded:.{decimals}f}" == quoted


def test_the_mnist_n1000_paragraph_quotes_its_json():
    """The plain-words reading of the MNIST run at n = 1,000 on Compare samplers: every paired ratio, interval and FID
    it quotes is its JSON's, and so are the two verdicts it states."""
    import json
    saved = json.loads((ROOT / "bench" / "results" / "quality_vs_steps_mnist_n1000.json").read_text(encoding="utf-8"))
    page = (ROOT / "docs" / "compare-samplers.md").read_text(encoding="utf-8")
    start = page.index("Plainly: **at ≤ 20 calls")
    text = " ".join(page[start:page.index("## The earlier n = 200 runs")].split())
    rows = {(r["series"], r["network_calls"]): r for r in saved["rows"]}
    quoted = [("DDIM η=0.5", 20), ("SDE-DPM-Solver++(2M)", 20), ("DDIM η=0", 20), ("SDE-DPM-Solver++(2M)", 10),
              ("DDIM η=0", 10), ("EDM Heun (S_churn=40)", 19), ("EDM Heun (S_churn=0)", 19)]
    for key in quoted:
        r = rows[key]["ratio_to_ddpm"]
        assert f"{r['estimate']:.2f}×" in text, key
        if key != ("EDM Heun (S_churn=0)", 19):
            assert f"{r['low']:.2f}–{r['high']:.2f}×" in text, key
    for r in (r for r in saved["rows"] if r["sampler"] == "restart"):
        assert f"{r['ratio_to_ddpm']['estimate']:.2f}×" in text, r["network_calls"]
    base = saved["baseline"]
    ddpm = next(r for r in saved["rows"] if r["sampler"] == "ddpm")
    assert f"FID {ddpm['fid']:.3f}" in text and f"{ddpm['fid_floor']:.3f} ± {ddpm['fid_floor_std']:.3f}" in text
    iv = ddpm["fid_ratio"]
    assert f"({iv['estimate']:.2f}×, {iv['low']:.2f}–{iv['high']:.2f}×)" in text
    for series, calls in (("DDIM η=0", 10), ("DDIM η=0", 20), ("DDIM η=0.5", 10), ("DDIM η=0.5", 20)):
        assert f"{rows[series, calls]['fid']:.3f}" in text, (series, calls)
    verdicts = {t["calls"]: (t["verdict"], t["best"], t["best_calls"]) for t in saved["targets"]}
    assert verdicts == {10: ("not resolved", "SDE-DPM-Solver++(2M)", 10), 20: ("met", "DDIM η=0.5", 20)}
    assert base["series"] == ddpm["series"] and f"bound of {saved['targets'][1]['bound']:.2f}×" in text
    assert "at ≤ 20 calls the target is met; at ≤ 10 calls it is not resolved" in text
    assert f"{saved['duration_seconds']:,.0f} s" in text and f"{ddpm['seconds']:,.0f} s of it DDPM-1000" in text


def test_the_dropout_trial_on_the_colour_card_quotes_its_report():
    """The colour model card's paragraph on the dropout trial quotes the trial report's FID/floor with its interval,
    its conditional accuracy and its largest generalisation gap."""
    import json
    saved = json.loads((ROOT / "docs" / "report_emoji_dropout" / "report.json").read_text(encoding="utf-8"))
    checks = {c["key"]: c for c in saved["checks"]}
    quality, gap = checks["sample_quality"]["numbers"], checks["generalisation"]["numbers"]
    card = (ROOT / "checkpoints" / "README.md").read_text(encoding="utf-8")
    trial = " ".join(card[card.index("**A trial with network dropout"):].split("\n\n")[0].split())
    r = quality["fid_ratio"]
    assert f"**{r['estimate']:.2f}×** (95% interval {r['low']:.2f}–{r['high']:.2f}×)" in trial
    assert f"Conditional accuracy {quality['conditional_accuracy']:.1%}" in trial
    assert f"the largest gap is {gap['max_gap_relative']:+.1%} ({gap['max_gap_band']})" in trial
    assert checks["generalisation"]["verdict"] == "ok" and "check passes" in trial
