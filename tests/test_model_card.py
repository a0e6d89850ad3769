"""checkpoints/README.md's MNIST model card is what tools/model_card.py writes from the shipped report.json (the
numbers are read, not typed in), and each target's verdict follows the report's numbers."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import model_card  # noqa: E402

REPORT = ROOT / "docs" / "report_mnist" / "report.json"


def test_the_shipped_card_is_the_report_rendered():
    assert model_card.main([str(REPORT), "--check"]) == 0


def test_the_targets_follow_the_numbers(tmp_path):
    raw = json.loads(REPORT.read_text())
    q = next(c for c in raw["checks"] if c["key"] == "sample_quality")
    for accuracy, fid_over_floor, want in ((0.99, 1.2, "**met**"), (0.5, 3.0, "**not met**")):
        q["numbers"]["conditional_accuracy"] = accuracy
        q["numbers"]["fid"] = fid_over_floor * q["numbers"]["fid_floor"]
        folder = tmp_path / "report_mnist"
        folder.mkdir(exist_ok=True)
        (folder / "report.json").write_text(json.dumps(raw))
        lines = model_card.card(folder / "report.json").splitlines()
        acc = next(line for line in lines if line.startswith("| conditional accuracy"))
        fid = next(line for line in lines if line.startswith("| FID ≤"))
        assert f"{accuracy:.1%}" in acc and acc.endswith(f"{want} |")
        assert f"{fid_over_floor:.1f}×" in fid and fid.endswith(f"{want} |")


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
