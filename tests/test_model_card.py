"""checkpoints/README.md's MNIST model card is what tools/model_card.py writes from the shipped report.json (the
numbers are read, not typed in), and each target's verdict follows the report's numbers."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import model_card  # noqa: E402
import pytest  # noqa: E402

REPORT = ROOT / "docs" / "report_mnist" / "report.json"


def test_the_shipped_card_is_the_report_rendered():
    assert model_card.main([str(REPORT), "--check"]) == 0


def _card_lines(raw: dict, tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "report_mnist"
    folder.mkdir(exist_ok=True)
    (folder / "report.json").write_text(json.dumps(raw))
    lines = model_card.card(folder / "report.json").splitlines()
    return {key: next(line for line in lines if line.startswith(start)) for key, start in
            (("accuracy", "| conditional accuracy"), ("fid", "| FID ≤"), ("diversity", "| within-class"))}


def test_the_targets_are_the_showcases_and_say_so():
    assert (model_card.TARGET_ACCURACY, model_card.TARGET_FID_OVER_FLOOR, model_card.TARGET_DIVERSITY) == (0.98, 1.5, 0.9)
    card = model_card.card(REPORT)
    assert "| conditional accuracy ≥ 98% |" in card and "| FID ≤ 1.5× its real-vs-real floor |" in card


@pytest.mark.parametrize("low, high, want", [(1.0, 1.49, "met"), (1.2, 1.51, "not resolved"), (1.4, 2.4, "not resolved"),
                                             (1.51, 2.2, "not met")])
def test_the_fid_target_is_decided_by_its_interval_on_both_sides_of_the_line(tmp_path, low, high, want):
    raw = json.loads(REPORT.read_text())
    q = next(c for c in raw["checks"] if c["key"] == "sample_quality")["numbers"]
    q["fid_ratio"] = dict(q["fid_ratio"], estimate=(low + high) / 2, low=low, high=high)
    fid = _card_lines(raw, tmp_path)["fid"]
    assert fid.endswith(f"**{want}** |") and f"95% interval {low:.2f}–{high:.2f}×" in fid


@pytest.mark.parametrize("accuracy, n, want", [(0.995, 1000, "met"), (0.985, 1000, "not resolved"),
                                               (0.99, 100, "not resolved"), (0.965, 1000, "not met")])
def test_the_accuracy_target_is_decided_by_its_wilson_interval(tmp_path, accuracy, n, want):
    raw = json.loads(REPORT.read_text())
    q = next(c for c in raw["checks"] if c["key"] == "sample_quality")["numbers"]
    q["conditional_accuracy"], q["n_generated"] = accuracy, n
    acc = _card_lines(raw, tmp_path)["accuracy"]
    assert acc.endswith(f"**{want}** |") and f"{accuracy:.1%} of {n} samples" in acc


def test_a_report_without_intervals_meets_no_numeric_target(tmp_path):
    raw = json.loads(REPORT.read_text())
    q = next(c for c in raw["checks"] if c["key"] == "sample_quality")["numbers"]
    q.pop("fid_ratio")
    lines = _card_lines(raw, tmp_path)
    assert lines["fid"].endswith("**not resolved** |") and "no interval: the report predates intervals" in lines["fid"]
    d = next(c for c in raw["checks"] if c["key"] == "diversity")["numbers"]
    d.pop("within_class_ratio", None)
    lines = _card_lines(raw, tmp_path)
    assert lines["diversity"].endswith("**not resolved** |") and "no interval" in lines["diversity"]


@pytest.mark.parametrize("low, high, want", [(0.91, 1.1, "met"), (0.85, 1.0, "not resolved"), (0.7, 0.89, "not met")])
def test_the_diversity_target_is_decided_by_its_interval(tmp_path, low, high, want):
    raw = json.loads(REPORT.read_text())
    d = next(c for c in raw["checks"] if c["key"] == "diversity")["numbers"]
    d["within_class_ratio"] = {"estimate": (low + high) / 2, "low": low, "high": high, "level": 0.95,
                               "method": "bootstrap standard interval", "reason": None}
    line = _card_lines(raw, tmp_path)["diversity"]
    assert line.endswith(f"**{want}** |") and f"95% interval {low:.2f}–{high:.2f}×" in line


def test_a_readme_without_markers_is_refused_with_what_to_do(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no card here\n")
    try:
        model_card.main([str(REPORT), "--readme", str(readme)])
    except SystemExit as e:
        assert "add the two markers" in str(e)
    else:
        raise AssertionError("a README without the card's markers was accepted")
    assert readme.read_text() == "# no card here\n"
