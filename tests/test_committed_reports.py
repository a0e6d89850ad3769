"""The committed Chinese reports are what `python -m diagnostics render --lang zh` writes from their report.json
(the reports that store their messages; older ones are kept as they were made and say so in docs/diagnose.md)."""
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RENDERED = ("report_mnist", "report_mnist_w1", "report_emoji", "report_emoji_w2", "report_emoji_interval_1_542",
            "report_emoji_seed3")


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


def _trial_quoted(folder: str, paragraph: str):
    """A colour-card trial paragraph (whitespace joined) and its report's checks; asserts the numbers every trial
    paragraph quotes: FID/floor with its interval, conditional accuracy and the largest generalisation gap."""
    import json
    saved = json.loads((ROOT / "docs" / folder / "report.json").read_text(encoding="utf-8"))
    checks = {c["key"]: c for c in saved["checks"]}
    quality, gap = checks["sample_quality"]["numbers"], checks["generalisation"]["numbers"]
    card = (ROOT / "checkpoints" / "README.md").read_text(encoding="utf-8")
    trial = " ".join(card[card.index(paragraph):].split("\n\n")[0].split())
    r = quality["fid_ratio"]
    assert f"**{r['estimate']:.2f}×** (95% interval {r['low']:.2f}–{r['high']:.2f}×)" in trial
    assert f"Conditional accuracy {quality['conditional_accuracy']:.1%}" in trial
    assert f"the largest gap is {gap['max_gap_relative']:+.1%} ({gap['max_gap_band']})" in trial
    return trial, saved, checks


def test_the_dropout_trial_on_the_colour_card_quotes_its_report():
    """The colour model card's paragraph on the dropout trial quotes the trial report's FID/floor with its interval,
    its conditional accuracy and its largest generalisation gap."""
    trial, _, checks = _trial_quoted("report_emoji_dropout", "**A trial with network dropout")
    assert checks["generalisation"]["verdict"] == "ok" and "check passes" in trial


def test_the_colour_card_quotes_its_setting_runs_and_its_previous_report():
    """The colour model card's choice of w = 3 on (0.28, 5.42] quotes that row of the interval benchmark, and its
    plain reading quotes the previous setting's report (w = 2 at every step) and the new one's colour distance."""
    import json
    card = " ".join((ROOT / "checkpoints" / "README.md").read_text(encoding="utf-8").split())
    bench = json.loads((ROOT / "bench" / "results" / "guidance_emoji_interval.json").read_text(encoding="utf-8"))
    row = next(r for r in bench["rows"] if r["cfg_scale"] == 3.0)
    a, d, f = row["conditional_accuracy_interval"], row["within_class_diversity"], row["fid_ratio"]
    assert row["guidance_interval"] == [0.28, 5.42]
    assert (f"**w = 3 on (0.28, 5.42]**, with conditional accuracy {a['estimate']:.1%} ({100 * a['low']:.1f}–"
            f"{a['high']:.1%}), within-class diversity {d['estimate']:.2f}× ({d['low']:.2f}–{d['high']:.2f}×) and "
            f"FID/floor {f['estimate']:.2f}× ({f['low']:.2f}–{f['high']:.2f}×)") in card

    def numbers(name):
        saved = json.loads((ROOT / "docs" / name / "report.json").read_text(encoding="utf-8"))
        checks = {c["key"]: c["numbers"] for c in saved["checks"]}
        return checks["diversity"]["within_class_ratio"], checks["sample_quality"]["fid_ratio"], checks["colour"]
    (dw, fw, cw), (dn, fn, cn) = numbers("report_emoji_w2"), numbers("report_emoji")
    assert (f"within-class diversity {dw['estimate']:.2f}× ({dw['low']:.2f}–{dw['high']:.2f}×) and FID/floor "
            f"{fw['estimate']:.2f}× ({fw['low']:.2f}–{fw['high']:.2f}×), both not met") in card
    assert (f"**Not resolved: within-class diversity**, {dn['estimate']:.2f}× ({dn['low']:.2f}–"
            f"{dn['high']:.2f}×)") in card
    assert f"**Not resolved: FID**, {fn['estimate']:.2f}× its floor ({fn['low']:.2f}–{fn['high']:.2f}×)" in card
    width = fn["high"] / fn["estimate"]                  # the standard interval on the log scale: the same factor
    assert f"Its upper end is {width:.2f}× the estimate" in card and fn["low"] == pytest.approx(fn["estimate"] / width)
    assert f"met only by an estimate under {2 / width:.2f}×" in card
    quality = next(c for c in json.loads((ROOT / "docs" / "report_emoji" / "report.json").read_text(encoding="utf-8"))
                   ["checks"] if c["key"] == "sample_quality")["numbers"]
    floor_share = (quality["fid_floor_std"] / quality["fid_floor"]) ** 2 / (math.log(width) / 1.96) ** 2
    assert 0.4 < floor_share < 0.6 and quality["n_floor"] == 373            # "about half of that width (by variance)"
    assert (f"the floor's own noise, {quality['fid_floor']:.2f} ± {quality['fid_floor_std']:.2f} from only "
            f"{quality['n_floor']} held-out emoji") in card
    assert dn["low"] > dw["high"] and fn["low"] < fw["high"]      # "that gain is resolved; … that one is not"
    assert (f"mean saturation {cn['generated_mean_saturation']:.2f} against {cn['real_mean_saturation']:.2f}, a "
            f"distance of {cn['saturation_ratio']:.2f}× its real-vs-real floor") in card
    assert f"the same distance was {cw['saturation_ratio']:.2f}×" in card


def test_the_colour_card_quotes_its_interval_sweep_and_its_confirmation():
    """The colour card's paragraph on choosing the interval's ends: the rows it quotes are the benchmark's, the row
    the rule chose is the one the rule picks from those files, and its confirming report and the current setting's
    report on the same seed are quoted as they measured; the rule's verdict (not adopted) follows from them."""
    import json
    from diagnostics.intervals import proportion_interval
    card = (ROOT / "checkpoints" / "README.md").read_text(encoding="utf-8")
    start = card.index("**Choosing the interval's ends (not adopted).**")
    text = " ".join(card[start:card.index("**A trial with network dropout")].split())
    rows = []
    for name in ("", "_028_2", "_028_15", "_1_542", "_1_15"):
        bench = json.loads((ROOT / "bench" / "results" / f"guidance_emoji_interval{name}.json").read_text("utf-8"))
        rows += [r for r in bench["rows"] if r["cfg_scale"] >= 3.0]
    assert len(rows) == 15 and all(r["n"] == 270 for r in rows)

    def cells(r):
        a, d, f = r["conditional_accuracy_interval"], r["within_class_diversity"], r["fid_ratio"]
        return (f"accuracy {a['estimate']:.1%} ({100 * a['low']:.1f}–{a['high']:.1%}), within-class diversity "
                f"{d['estimate']:.2f}× ({d['low']:.2f}–{d['high']:.2f}×), FID/floor {f['estimate']:.2f}× "
                f"({f['low']:.2f}–{f['high']:.2f}×)")
    qualifying = [r for r in rows if r["conditional_accuracy"] >= 0.74 and r["within_class_diversity"]["estimate"]
                  >= 0.925]
    chosen = min(qualifying, key=lambda r: r["fid_ratio"]["estimate"])
    assert sorted((r["cfg_scale"], tuple(r["guidance_interval"])) for r in qualifying) == \
        [(4.0, (0.28, 5.42)), (4.0, (1.0, 5.42)), (5.0, (0.28, 5.42)), (5.0, (1.0, 5.42))]
    assert (chosen["cfg_scale"], chosen["guidance_interval"]) == (4.0, [1.0, 5.42])
    assert f"**w = 4 on (1, 5.42]**: {cells(chosen)}" in text
    low_stop = [r for r in rows if r["guidance_interval"] == [0.28, 2.0]]
    best = min(low_stop, key=lambda r: r["fid_ratio"]["estimate"])
    f = best["fid_ratio"]
    assert f"down to {f['estimate']:.2f}× ({f['low']:.2f}–{f['high']:.2f}×) at w = {best['cfg_scale']:g}" in text
    a = max(low_stop, key=lambda r: r["conditional_accuracy"])["conditional_accuracy_interval"]
    assert f"{a['estimate']:.1%} ({100 * a['low']:.1f}–{a['high']:.1%}) at most" in text and a["estimate"] < 0.74
    high = [r for r in rows if r["guidance_interval"][1] == 15.0]
    divs = [r["within_class_diversity"]["estimate"] for r in high]
    assert f"up to {max(r['conditional_accuracy'] for r in high):.1%}" in text
    assert f"diversity {min(divs):.2f}–{max(divs):.2f}×" in text
    spread = [r["fid_ratio"]["estimate"] for r in qualifying]
    assert f"({min(spread):.2f}–{max(spread):.2f}×)" in text

    def report(name):
        saved = json.loads((ROOT / "docs" / name / "report.json").read_text(encoding="utf-8"))
        checks = {c["key"]: c for c in saved["checks"]}
        q = checks["sample_quality"]["numbers"]
        acc = proportion_interval(round(q["conditional_accuracy"] * q["n_generated"]), q["n_generated"])
        return saved["settings"], acc, checks["diversity"]["numbers"]["within_class_ratio"], q["fid_ratio"], checks
    for name, settings in (("report_emoji_interval_1_542", (4.0, [1.0, 5.42])),
                           ("report_emoji_seed3", (3.0, [0.28, 5.42]))):
        run, acc, d, f, checks = report(name)
        assert (run["guidance_scale"], run["guidance_interval"], run["seed"], run["n"]) == (*settings, 3, 900)
        assert f"accuracy {acc.estimate:.1%} ({100 * acc.low:.1f}–{acc.high:.1%})" in text, name
        assert f"within-class diversity {d['estimate']:.2f}× ({d['low']:.2f}–{d['high']:.2f}×)" in text, name
        assert f"FID/floor {f['estimate']:.2f}× ({f['low']:.2f}–{f['high']:.2f}×)" in text, name
    _, acc, d, f, checks = report("report_emoji_interval_1_542")
    _, _, _, current, _ = report("report_emoji")
    assert acc.low > 0.71 and checks["memorisation"]["verdict"] == "ok"                 # still met
    assert d["low"] < 0.9 < d["high"] and f["estimate"] > current["estimate"]          # so it failed the rule
    assert f"current setting's {current['estimate']:.2f}×" in text and "**failed** on diversity and FID" in text
    assert f"from {current['estimate']:.2f}× on seed 2 to {report('report_emoji_seed3')[3]['estimate']:.2f}×" in text


def test_the_checks_page_quotes_the_colour_models_generalisation_gap_on_two_seeds():
    """docs/reference/checks.md's example of a gap near the line, and the colour card's: the colour model's largest
    gap in its reports at one setting on seeds 2 and 3, one a warning and the other not."""
    import json
    page = " ".join((ROOT / "docs" / "reference" / "checks.md").read_text(encoding="utf-8").split())
    gaps = []
    for name in ("report_emoji", "report_emoji_seed3"):
        saved = json.loads((ROOT / "docs" / name / "report.json").read_text(encoding="utf-8"))
        check = next(c for c in saved["checks"] if c["key"] == "generalisation")
        gaps.append((check["numbers"]["max_gap_relative"], check["verdict"]))
    assert [v for _, v in gaps] == ["warn", "ok"]
    assert f"the largest gap was {gaps[0][0]:+.0%} on one seed and {gaps[1][0]:+.0%} on another" in page
    card = " ".join((ROOT / "checkpoints" / "README.md").read_text(encoding="utf-8").split())
    assert f"+{100 * gaps[0][0]:.0f}% at t ∈ [150, 349]" in card
    assert f"on seed 3 ([that report](../docs/report_emoji_seed3/README.md)) the largest gap was {gaps[1][0]:+.0%}" \
        " and the check passed" in card


@pytest.mark.parametrize("readme, times", [("README.md", "×"), ("README.zh-CN.md", " 倍")])
def test_the_readmes_colour_paragraph_quotes_the_colour_report(readme, times):
    """Both READMEs' colour-model paragraph quote its report at its setting: accuracy, within-class diversity and
    FID/floor as the report rounds them, the setting it ran, and the feature network's score on real emoji."""
    import json
    saved = json.loads((ROOT / "docs" / "report_emoji" / "report.json").read_text(encoding="utf-8"))
    checks = {c["key"]: c["numbers"] for c in saved["checks"]}
    q, d = checks["sample_quality"], checks["diversity"]["within_class_ratio"]
    text = " ".join((ROOT / readme).read_text(encoding="utf-8").split())
    assert f"{q['conditional_accuracy']:.0%}" in text and f"{q['fid_ratio']['estimate']:.2f}{times}" in text
    assert f"{d['estimate']:.2f}{times}" in text
    assert saved["settings"]["guidance_interval"] == [0.28, 5.42] and saved["settings"]["guidance_scale"] == 3.0
    assert "(0.28, 5.42]" in text and "w = 3" in text


def test_the_wider_trial_on_the_colour_card_quotes_its_report():
    """The colour model card's paragraph on the wider-network trial quotes its report's FID/floor with its interval,
    its within-class diversity, its conditional accuracy and its largest generalisation gap."""
    trial, saved, checks = _trial_quoted("report_emoji_b48", "**A trial with a wider network")
    within = checks["diversity"]["numbers"]["within_class_ratio"]
    assert f"Within-class diversity {within['estimate']:.2f}× against 0.81×" in trial
    assert saved["settings"]["guidance_scale"] == 2.0 and saved["settings"]["guidance_interval"] is None
    assert saved["model"]["parameters"] == 2_389_203
