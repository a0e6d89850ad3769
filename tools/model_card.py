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
from typing import Optional

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
# The colour model's (report folders named report_emoji*): its samples recognised as their group at least as often
# as the feature network recognises held-out real images (the network's recorded held-out accuracy is the target),
# diversity as above, FID ≤ 2× its floor.
COLOUR_TARGETS = {"accuracy": None, "diversity": 0.9, "fid_over_floor": 2.0}


def targets_for(name: str) -> dict:
    """The targets of the model whose report folder is `name`: None for accuracy means the feature network's own
    held-out accuracy."""
    if name.startswith("report_emoji"):
        return dict(COLOUR_TARGETS)
    return {"accuracy": TARGET_ACCURACY, "diversity": TARGET_DIVERSITY, "fid_over_floor": TARGET_FID_OVER_FLOOR}


def _network_accuracy(q: dict):
    """(held-out accuracy of the report's feature network, its text) from a report's quality numbers: a message
    dict (reports that store messages) or the English text of older ones."""
    net = (q.get("texts") or {}).get("network") or q.get("network")
    if isinstance(net, dict):
        acc = (net.get("values") or {}).get("acc")
        return (float(acc), f"{float(acc):.1%}") if acc is not None else (None, None)
    found = re.search(r"test accuracy ([\d.]+)%", str(net or ""))
    return (float(found.group(1)) / 100, f"{found.group(1)}%") if found else (None, None)


def _plain(x) -> str:
    """A method or reason as text: a message (reports that store them) rendered in English, else as it is."""
    if isinstance(x, dict) and "key" in x:
        from ddpm.messages import Message, render
        import diagnostics  # noqa: F401  (registers the diagnostics catalogue)
        return render(Message.from_dict(x))
    return "" if x is None else str(x)


def _word(verdict: str) -> str:
    return f"**{verdict}**"


def _interval(q: dict, key: str):
    from diagnostics.intervals import Interval
    raw = q.get(key)
    return Interval(**raw) if raw else Interval(float("nan"), reason="the report predates intervals")


def _targets(checks: dict, targets: Optional[dict] = None) -> list[str]:
    from diagnostics.intervals import proportion_interval, target_verdict
    targets = targets or targets_for("report_mnist")
    q, d, m = checks["sample_quality"]["numbers"], checks["diversity"]["numbers"], checks["memorisation"]["numbers"]
    n = q["n_generated"]
    acc = proportion_interval(round(q["conditional_accuracy"] * n), n)
    net_value, net_text = _network_accuracy(q)
    acc_target = targets["accuracy"] if targets["accuracy"] is not None else net_value
    acc_label = (f"conditional accuracy ≥ {acc_target:.0%}" if targets["accuracy"] is not None else
                 f"conditional accuracy ≥ the feature network's on real held-out images ({net_text})")
    per_class = [c["ratio"] for c in d.get("per_class", [])]
    low = min(d.get("per_class", []), key=lambda c: c["ratio"]) if per_class else None
    mean_ratio = sum(per_class) / len(per_class) if per_class else d["pairwise_ratio"]
    ratio = _interval(q, "fid_ratio")
    within = _interval(d, "within_class_ratio")
    diversity_text = (f"{within.estimate:.2f}×, 95% interval {within.low:.2f}–{within.high:.2f}× ({_plain(within.method)})"
                      if within.known else f"{mean_ratio:.2f}× (no interval: {_plain(within.reason)})")
    floor_std = q.get("fid_floor_std")
    floor = f"{q['fid_floor']:.3f}" + (f" ± {floor_std:.3f}" if floor_std is not None else "")
    lowest = f" (lowest class {low['class']}: {low['ratio']:.2f}×; all classes together {d['pairwise_ratio']:.2f}×)" \
        if low else ""
    ratio_text = (f"{ratio.estimate:.2f}×, 95% interval {ratio.low:.2f}–{ratio.high:.2f}× ({_plain(ratio.method)})" if ratio.known
                  else f"{q['fid'] / q['fid_floor']:.2f}× (no interval: {_plain(ratio.reason)})")
    return [
        "| target | measured by the report | verdict |",
        "|---|---|---|",
        f"| {acc_label} | {acc.estimate:.1%} of {n} samples, 95% interval "
        f"{acc.low:.1%}–{acc.high:.1%} ({_plain(acc.method)})"
        + (f"; the feature network itself scores {net_text} on real held-out images" if net_text else "")
        + f" | {_word(target_verdict(acc, acc_target, at_most=False)) if acc_target is not None else '**not resolved**'} |",
        f"| within-class diversity ≥ {targets['diversity']}× real | mean over classes {diversity_text}{lowest} | "
        f"{_word(target_verdict(within, targets['diversity'], at_most=False))} |",
        f"| FID ≤ {targets['fid_over_floor']}× its real-vs-real floor | FID {q.get('fid_matched', q['fid']):.3f} vs "
        f"floor {floor} at n = {q.get('n_floor', n)}: {ratio_text} | "
        f"{_word(target_verdict(ratio, targets['fid_over_floor']))} |",
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
        "Against the model's targets, each decided from the report's numbers by one rule: met only when the whole "
        "95% interval is on the right side of the target, not met when it is wholly on the wrong side, not resolved "
        "when it holds the target or when there is no interval:",
        "",
        *_targets(checks, targets_for(report_json.resolve().parent.name)),
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
