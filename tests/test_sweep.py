"""The one quality sweep (diagnostics.sweep) that the benchmark, the guidance benchmark, the recipes and the app's
quick measurement share: the checkpoint's recorded split, the report's refusals, one x_T for every row, the
network calls per image as the cost axis, and the floor that matches each row's class mix.

Models are untrained tiny U-Nets (T = 20): the plumbing, not the quality, is under test.
"""
import dataclasses

import numpy as np
import pytest
import torch

from ddpm import DiffusionConfig, GaussianDiffusion, UNet, preset_config
from ddpm.checkpoint import LoadedCheckpoint
from ddpm.data import load_dataset
from diagnostics.metrics import sample_quality
from diagnostics.sweep import QualitySweep, SweepRefused, SweepSetting

T = 20


def loaded(image_size=16, num_classes=10, data=None) -> LoadedCheckpoint:
    torch.manual_seed(0)
    model = UNet(preset_config("tiny", image_size=image_size, base_channels=8, num_classes=num_classes)).eval()
    dcfg = DiffusionConfig(T=T)
    meta = {"data": data if data is not None else {"name": "digits", "source": "digits", "image_size": image_size,
                                                    "channels": 1, "holdout": 0.3, "split_seed": 1}}
    return LoadedCheckpoint(model=model, diffusion=GaussianDiffusion(dcfg), unet_config=model.config,
                            diffusion_config=dcfg, class_names=[str(i) for i in range(num_classes)], step=0,
                            weights="raw", meta=meta, path="test.safetensors")


@pytest.fixture(scope="module")
def real():
    return load_dataset("digits", image_size=16)


def test_sweep_refuses_what_the_report_refuses(real, extractor):
    with pytest.raises(SweepRefused, match="16×16 images, the model makes 8×8"):
        QualitySweep(loaded(image_size=8), n=8, feature_net=extractor)          # upscaled 8×8 would be scored
    with pytest.raises(SweepRefused, match="could not be loaded"):
        QualitySweep(loaded(data={"name": "gone", "source": "/nonexistent/gone"}), n=8,
                     feature_net=dataclasses.replace(extractor, dataset="gone"))
    with pytest.raises(ValueError, match="n must be"):
        QualitySweep(loaded(), n=1, real=real, feature_net=extractor)


def test_rows_share_x_T_and_the_recorded_split_and_count_network_calls(real, extractor):
    sweep = QualitySweep(loaded(), n=20, seed=3, real=real, feature_net=extractor)
    assert len(sweep.reference) == len(real.split(0.3, seed=1)[0])             # the checkpoint's record, not 20%
    assert "holdout 0.3, seed 1" in " ".join(sweep.notes)
    seen = []
    settings = [SweepSetting("ddim", 2, {"eta": 0.0}), SweepSetting("ddim", 5, {"eta": 1.0}),
                SweepSetting("ddpm", None, {"variance": "fixed_large"})]
    rows = sweep.run(settings, progress=lambda f, label: seen.append(f))
    assert [r.series for r in rows] == ["DDIM η=0", "DDIM η=1", "DDPM (fixed_large)"]
    assert [(r.steps, r.network_calls) for r in rows] == [(2, 2), (5, 5), (T, T)]
    assert seen == sorted(seen) and seen[-1] == 1.0
    d = rows[0].as_dict()
    assert (d["sampler"], d["eta"], d["variance"], d["network_calls"], d["n"]) == ("ddim", 0.0, None, 2, 20)
    # same x_T and labels for every row: a setting measured again gives the very same images and numbers
    again = QualitySweep(loaded(), n=20, seed=3, real=real, feature_net=extractor)
    assert torch.equal(again.x_T, sweep.x_T)
    a, b = sweep.sample(settings[0]), again.sample(settings[0])
    assert torch.equal(a.images, b.images) and again.score(settings[0], b).fid == rows[0].fid


def test_unguided_rows_get_a_random_class_mix_floor(real, extractor):
    sweep = QualitySweep(loaded(), n=20, seed=0, real=real, feature_net=extractor)
    unguided = SweepSetting("ddim", 2, {"eta": 0.0, "guidance_scale": 0.0})
    guided = SweepSetting("ddim", 2, {"eta": 0.0, "guidance_scale": 2.0})
    assert not sweep.conditioned(unguided) and sweep.conditioned(guided)
    res = sweep.sample(unguided)
    row = sweep.score(unguided, res)
    assert row.floor_classes == "random" and row.conditional_accuracy is not None   # accuracy still reported
    random_floor = sample_quality(res.images, None, sweep.reference, sweep.heldout, extractor, seed=0)
    matched_floor = sample_quality(res.images, res.labels, sweep.reference, sweep.heldout, extractor, seed=0)
    assert row.fid_floor == pytest.approx(random_floor.fid_floor)
    assert not np.isclose(row.fid_floor, matched_floor.fid_floor)
