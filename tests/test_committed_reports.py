"""The committed Chinese reports are what `python -m diagnostics render --lang zh` writes from their report.json
(the reports that store their messages; older ones are kept as they were made and say so in docs/diagnose.md)."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RENDERED = ("report_mnist", "report_mnist_w1")


@pytest.mark.parametrize("name", RENDERED)
def test_the_chinese_report_is_its_report_json_rendered(name, tmp_path):
    from diagnostics.__main__ import main
    folder = ROOT / "docs" / name
    assert main(["render", str(folder / "report.json"), "--out", str(tmp_path), "--lang", "zh"]) == 0
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == \
        (folder / "zh" / "report.md").read_text(encoding="utf-8")
