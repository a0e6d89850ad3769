"""Write a bundled model's measured quality into checkpoints/README.md from its diagnostics report — the numbers
are read from report.json, never typed in.

    python tools/model_card.py docs/report_mnist/report.json            # rewrites the block in checkpoints/README.md
    python tools/model_card.py docs/report_mnist/report.json --check    # exit 1 if the README's block differs

The block sits between `<!-- model-card:<name> begin -->` and `<!-- model-card:<name> end -->` (name: the report
folder's name, e.g. report_mnist): the report's overall verdict and the rows of its sample checks, then the
showcase's targets met, not met or not resolved, each decided here from the report's own numbers and intervals.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:                     # run as `python tools/model_card.py` from a checkout
    sys.path.insert(0, str(ROOT))
README = ROOT / "checkpoints" / "README.md"
SAMPLE_CHECKS = ("diversity", "sample_quality", "memorisation", "generalisation")

# The MNIST showcase's targets. Each is decided by the rule of diagnostics.intervals.target_verdict: met only when
# the whole 95% interval is on the right side, not met when the whole interval is on the wrong side, not resolved
# when it holds the target (or when the report gives no interval).
TARGET_ACCURACY = 0.98            # conditional accuracy ≥, by the report's feature network (Wilson interval)
TARGET_DIVERSITY = 0.9            # within-class pairwise distance ≥ this × the real data's (bootstrap interval)
TARGET_FID_OVER_FLOOR = 1.5       # FID ≤ this × its real-vs-real floor (bootstrap interval of the ratio)


def _word(verdict: str) -> str:
    return f"**{verdict}**"


def _interval(q: dict, key: str):
    from diagnostics.intervals import Interval
    raw = q.get(key)
    return Interval(**raw) if raw else Interval(float("nan"), reason="the report predates intervals")


def _targets(checks: dict) -> list[str]:
    from diagnostics.intervals import proportion_interval, target_verdict
    q, d, m = checks["sample_quality"]["numbers"], checks["diversity"]["numbers"], checks["memorisation"]["numbers"]
    n = q["n_generated"]
    acc = proportion_interval(round(q["conditional_accuracy"] * n), n)
    net_acc = re.search(r"test accuracy ([\d.]+%)", q.get("network", ""))
    per_class = [c["ratio"] for c in d.get("per_class", [])]
    low = min(d.get("per_class", []), key=lambda c: c["ratio"]) if per_class else None
    mean_ratio = sum(per_class) / len(per_class) if per_class else d["pairwise_ratio"]
    ratio = _interval(q, "fid_ratio")
    within = _interval(d, "within_class_ratio")
    diversity_text = (f"{within.estimate:.2f}×, 95% interval {within.low:.2f}–{within.high:.2f}× ({within.method})"
                      if within.known else f"{mean_ratio:.2f}× (no interval: {within.reason})")
    floor_std = q.get("fid_floor_std")
    floor = f"{q['fid_floor']:.3f}" + (f" ± {floor_std:.3f}" if floor_std is not None else "")
    lowest = f" (lowest class {low['class']}: {low['ratio']:.2f}×; all classes together {d['pairwise_ratio']:.2f}×)" \
        if low else ""
    ratio_text = (f"{ratio.estimate:.2f}×, 95% interval {ratio.low:.2f}–{ratio.high:.2f}× ({ratio.method})" if ratio.known
                  else f"{q['fid'] / q['fid_floor']:.2f}× (no interval: {ratio.reason})")
    return [
        "| target | measured by the report | verdict |",
        "|---|---|---|",
        f"| conditional accuracy ≥ {TARGET_ACCURACY:.0%} | {acc.estimate:.1%} of {n} samples, 95% interval "
        f"{acc.low:.1%}–{acc.high:.1%} ({acc.method})"
        + (f"; the feature network itself scores {net_acc.group(1)} on real held-out digits" if net_acc else "")
        + f" | {_word(target_verdict(acc, TARGET_ACCURACY, at_most=False))} |",
        f"| within-class diversity ≥ {TARGET_DIVERSITY}× real | mean over classes {diversity_text}{lowest} | "
        f"{_word(target_verdict(within, TARGET_DIVERSITY, at_most=False))} |",
        f"| FID ≤ {TARGET_FID_OVER_FLOOR}× its real-vs-real floor | FID {q.get('fid_matched', q['fid']):.3f} vs floor "
        f"{floor} at n = {q.get('n_floor', n)}: {ratio_text} | {_word(target_verdict(ratio, TARGET_FID_OVER_FLOOR))} |",
        f"| no memorisation | samples {m['nn_ratio']:.2f}× as far from their nearest training image as held-out "
        f"images are; {m['frac_near_copies']:.0%} near copies (real held-out: {m['heldout_frac_near_copies']:.0%}) | "
        f"{_word('met' if checks['memorisation']['verdict'] == 'ok' else 'not met')} |",
    ]


def card(report_json: Path) -> str:
    """The block's text (without its markers) for one report."""
    from diagnostics.report import load_report, to_markdown

    report = load_report(report_json)
    raw = json.loads(report_json.read_text())
    checks = {c["key"]: c for c in raw["checks"]}
    md = to_markdown(report).splitlines()
    head = [line for line in md[2:5] if line]                    # overall verdict line, model line
    table = [line for line in md if line.startswith("| ")][:1] + ["|---|---|---|---|"]
    rows = [line for line in md if line.startswith("| ") and any(
        line.startswith(f"| {c['title']} |") for c in raw["checks"] if c["key"] in SAMPLE_CHECKS)]
    try:
        where = report_json.resolve().relative_to(ROOT)
    except ValueError:
        where = report_json
    return "\n".join([
        f"From [`{where}`](../{where}) (written by `python tools/model_card.py {where}`):",
        "",
        *head[:1], "", *head[1:], "",
        *table, *rows, "",
        "Against the showcase's targets, each decided from the report's numbers by one rule: met only when the whole "
        "95% interval is on the right side of the target, not met when it is wholly on the wrong side, not resolved "
        "when it holds the target or when there is no interval:",
        "",
        *_targets(checks),
    ])


def replace_block(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- model-card:{name} begin -->", f"<!-- model-card:{name} end -->"
    if begin not in text or end not in text:
        raise SystemExit(f"{README} has no {begin} … {end} block: add the two markers where the card goes")
    pre, rest = text.split(begin, 1)
    _, post = rest.split(end, 1)
    return f"{pre}{begin}\n{body}\n{end}{post}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", type=Path, help="a diagnostics report.json (e.g. docs/report_mnist/report.json)")
    p.add_argument("--readme", type=Path, default=README)
    p.add_argument("--check", action="store_true", help="exit 1 if the README's block is not what the report gives")
    a = p.parse_args(argv)
    if not a.report.is_file():
        raise SystemExit(f"{a.report}: no such report; run `python -m diagnostics report CHECKPOINT --out DIR` first")
    name = a.report.resolve().parent.name
    text = a.readme.read_text()
    new = replace_block(text, name, card(a.report))
    if a.check:
        if new != text:
            print(f"{a.readme}: the model card for {name} differs from {a.report}; rerun without --check")
            return 1
        return 0
    a.readme.write_text(new)
    print(f"{a.readme}: model card for {name} written from {a.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
