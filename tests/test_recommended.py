"""A model's recommended sampling setting: the bundled models carry the setting their card's report measured, a file
records its own (weights untouched), bad records are refused with the valid range, and `python -m ddpm.sample`
starts from it (flags given win)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ddpm import load_checkpoint
from ddpm.messages import MessageError
from ddpm.paths import bundled_model
from ddpm.recommend import main, record_setting
from ddpm.recommended import DEFAULT, META_KEY, SamplingSetting, check_setting

ROOT = Path(__file__).resolve().parents[1]
REPORTS = {"mnist": "docs/report_mnist/report.json", "digits": "docs/report/report.json",
           "emoji": "docs/report_emoji/report.json"}


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_a_bundled_model_s_setting_is_the_one_its_card_s_report_measured(name):
    ck = load_checkpoint(name)
    rec = ck.recommended
    assert rec.source == "bundled" and REPORTS[name] in rec.why
    settings = json.loads((ROOT / REPORTS[name]).read_text())["settings"]
    assert (rec.sampler, rec.steps, rec.eta, rec.guidance_scale) == (
        settings["sampler"], settings["steps"], settings.get("eta", 0.0), settings["guidance_scale"])
    interval = settings.get("guidance_interval")
    assert rec.guidance_interval == (None if interval is None else tuple(interval))
    assert load_checkpoint(str(bundled_model(name))).recommended == rec      # by path as by name: the file's hash


def test_an_unmeasured_model_starts_from_the_default_and_records_its_own(tmp_path, write_tiny_checkpoint):
    path = write_tiny_checkpoint(tmp_path / "m.safetensors")
    assert load_checkpoint(path).recommended == DEFAULT and DEFAULT.source == "default"
    before = load_file(str(path))
    record_setting(str(path), SamplingSetting("ddim", 10, 0.5, 1.5, why="docs/x/report.json"))
    after = load_file(str(path))
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    rec = load_checkpoint(path).recommended
    assert rec == SamplingSetting("ddim", 10, 0.5, 1.5, "checkpoint", "docs/x/report.json")
    assert rec.generate_kwargs() == {"sampler": "ddim", "steps": 10, "eta": 0.5, "guidance_scale": 1.5}
    assert "10 steps" in rec.describe() and "η = 0.5" in rec.describe() and "10 步" in rec.describe("zh")


def test_an_unconditional_model_is_never_told_to_guide(tmp_path, write_tiny_checkpoint):
    path = write_tiny_checkpoint(tmp_path / "u.safetensors", num_classes=0)
    record_setting(str(path), SamplingSetting("ddim", 20, 0.0, 2.0))
    assert load_checkpoint(path).recommended.guidance_scale == 1.0


@pytest.mark.parametrize("bad, field", [
    ({"sampler": "euler"}, "sampler"), ({"steps": 0}, "steps"), ({"steps": 2.5}, "steps"), ({"eta": 1.5}, "eta"),
    ({"guidance_scale": float("nan")}, "guidance_scale"), ({"guidance_scale": 11}, "guidance_scale"),
    ({"why": "x" * 501}, "why")])
def test_a_bad_record_is_refused_with_the_valid_range(bad, field):
    with pytest.raises(MessageError) as e:
        check_setting(bad, "m.safetensors")
    assert e.value.message.key == "recommended.bad" and e.value.message.values["field"] == field
    assert "valid:" in str(e.value)


def test_a_file_with_a_corrupt_record_says_which_field(tmp_path, write_tiny_checkpoint):
    from ddpm.checkpoint import atomic_write, read_metadata
    from safetensors.torch import save_file
    path = write_tiny_checkpoint(tmp_path / "c.safetensors")
    meta = read_metadata(path)
    meta[META_KEY] = {"sampler": "ddim", "steps": -3}
    tensors = load_file(str(path))
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"ddpm": json.dumps(meta)}))
    with pytest.raises(MessageError, match="steps is -3"):
        load_checkpoint(path).recommended


def test_the_cli_prints_records_and_keeps_bundled_files_as_shipped(tmp_path, capsys):
    assert main(["mnist"]) == 0
    assert "η = 0.5, guidance w = 1.25" in capsys.readouterr().out
    shipped = bundled_model("digits")
    digest = shipped.read_bytes()
    assert main([str(shipped), "--sampler", "ddim", "--steps", "10"]) == 2
    assert "bundled model" in capsys.readouterr().err and shipped.read_bytes() == digest
    copy = tmp_path / "digits_copy.safetensors"
    shutil.copy(shipped, copy)
    assert main([str(copy), "--sampler", "ddim", "--steps", "10", "--eta", "1", "--why", "my run", "--lang", "zh"]) == 0
    assert "10 步" in capsys.readouterr().out
    assert load_checkpoint(copy).recommended == SamplingSetting("ddim", 10, 1.0, 1.0, "checkpoint", "my run")
    assert main([str(copy), "--sampler", "ddim", "--eta", "2"]) == 2
    assert "eta is 2.0" in capsys.readouterr().err


def test_sample_cli_starts_from_the_recommended_setting_and_flags_win(tmp_path, write_tiny_checkpoint, capsys):
    from ddpm.sample import main as sample
    path = write_tiny_checkpoint(tmp_path / "m.safetensors")
    record_setting(str(path), SamplingSetting("ddim", 7, 0.5, 1.5, why="a test"))

    def settings(*flags):
        out = tmp_path / "g.png"
        assert sample(["--ckpt", str(path), "--n", "2", "--labels", "1", "--out", str(out), *flags]) == 0
        return json.loads(str(np.load(out.with_suffix(".npz"))["settings"]))

    s = settings()
    assert (s["sampler"], s["steps"], s["eta"], s["guidance_scale"]) == ("ddim", 7, 0.5, 1.5)
    assert "sampling with ddim, 7 steps, η = 0.5, guidance w = 1.5" in capsys.readouterr().err
    s = settings("--eta", "0", "--guidance-scale", "1")
    assert (s["steps"], s["eta"], s["guidance_scale"]) == (7, 0.0, 1.0)
    s = settings("--sampler", "dpmpp_2m")          # another sampler: its own steps, not DDIM's recorded ones
    assert s["sampler"] == "dpmpp_2m" and s["steps"] != 7 and s["guidance_scale"] == 1.5
