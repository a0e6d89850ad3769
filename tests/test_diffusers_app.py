"""The app takes a diffusers pipeline .zip in every tab's checkpoint upload, says why guidance is not possible on a
model without a null class, and the Diagnostics tab takes a reference-image upload (handlers called directly)."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from demo.tabs import compare, diagnose, sample
from tests.diffusers_fixtures import digits_8x8, train_pipeline
from tests.test_diffusers_format import zip_folder


@pytest.fixture(scope="module")
def pipeline_zips(tmp_path_factory):
    """(unconditional pipeline .zip, class-conditional one without a null class), made by diffusers alone."""
    root = tmp_path_factory.mktemp("app_diffusers")
    train_pipeline(root / "uncond", steps=5, T=50)           # T = 50: the Compare tab's DDPM runs all T steps
    train_pipeline(root / "cond", steps=2, T=50, num_class_embeds=3)
    return zip_folder(root / "uncond", root / "uncond.zip"), zip_folder(root / "cond", root / "cond.zip")


@pytest.fixture(autouse=True)
def app_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DDPM_WORKBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DDPM_WORKBENCH_CACHE", str(tmp_path / "cache"))
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_sample_and_compare_tabs_take_a_diffusers_zip(pipeline_zips):
    uncond, cond = pipeline_zips
    view = sample.sample(None, str(uncond), None, 1.0, "DDIM", 10, 0.0, 1.0, 1.0, 0, 4)
    assert view.grid is not None and "upload uncond.zip" in view.info
    view = sample.sample(None, str(cond), ["0", "2"], 1.0, "DDIM", 5, 0.0, 1.0, 1.0, 0, 4)
    assert view.grid is not None and "classes 0, 2" in view.info
    with pytest.raises(Exception) as e:        # gr.Error, with the reason
        sample.sample(None, str(cond), ["0"], 2.0, "DDIM", 5, 0.0, 1.0, 1.0, 0, 2)
    assert "guidance scale must be 1 for this checkpoint" in str(e.value) and "no null label" in str(e.value)
    cmp = compare.compare(None, str(uncond), None, 1.0, 5, 0.0, 0, 2)
    assert cmp is not None


def _reference_zip(path: Path, per_class: int = 20) -> Path:
    """The 8×8 digits as <class>/<i>.png: the labelled reference a user would upload."""
    images = ((digits_8x8() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)[:, 0].numpy()
    from sklearn.datasets import load_digits
    labels = load_digits().target
    counts: dict[int, int] = {}
    with zipfile.ZipFile(path, "w") as zf:
        for img, y in zip(images, labels):
            if counts.get(int(y), 0) >= per_class:
                continue
            counts[int(y)] = counts.get(int(y), 0) + 1
            buf = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG")
            zf.writestr(f"{y}/{counts[int(y)]}.png", buf.getvalue())
    return path


@pytest.mark.slow
def test_diagnostics_tab_takes_a_reference_upload(pipeline_zips, tmp_path):
    uncond, _ = pipeline_zips
    ref = _reference_zip(tmp_path / "reference.zip")
    view = diagnose.diagnose(None, str(uncond), "quick", 0, str(ref), True)
    report = json.loads(Path(view.files[1]).read_text())
    checks = {c["key"]: c for c in report["checks"]}
    assert report["settings"]["real_data"].startswith("reference: 200 images")
    for key in ("smoothness", "memorisation", "sample_quality"):
        assert checks[key]["verdict"] != "skip", checks[key]["summary"]
    with pytest.raises(Exception) as e:        # a reference that is not a zip of images: the loader's message
        bad = tmp_path / "bad.zip"
        bad.write_text("not a zip")
        diagnose.diagnose(None, str(uncond), "quick", 0, str(bad), False)
    assert "zip" in str(e.value)
