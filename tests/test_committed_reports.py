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


@pytest.mark.parametrize("name, samplers", [("mnist_10calls", ("dpmpp_2m_sde", "ddim η=0")),
                                            ("emoji_50calls", ("dpmpp_2m_sde", "ddim η=1", "ddim η=0"))])
def test_the_doctor_numbers_on_compare_samplers_are_their_json(name, samplers):
    import json
    rows = {r["sampler"]: r["fid_ratio"] for r in
            json.loads((ROOT / "docs" / "doctor" / f"{name}.json").read_text(encoding="utf-8"))["rows"]}
    page = (ROOT / "docs" / "compare-samplers.md").read_text(encoding="utf-8")
    bullet = next(line for line in page.split("\n- ") if f"doctor/{name}.json" in line)
    for s in samplers:
        r = rows[s]
        assert f"{r['estimate']:.2f}×" in bullet and f"{r['low']:.2f}–{r['high']:.2f}×" in bullet, s
