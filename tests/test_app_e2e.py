"""End to end: `python app.py` on 127.0.0.1 and a free port, every endpoint driven through gradio_client.

The bundled checkpoint is replaced by an untrained tiny U-Net (8×8, T = 100) so DDPM's all-T-steps runs
take seconds; runs, uploads and gradio's cache go to a temporary folder. The server is stopped at the end.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

T = 100
TINY_TRAIN = dict(preset="tiny", schedule="linear", objective="eps", weighting="simple", batch_size=8, lr=1e-3,
                  label_dropout=0.1, sample_every=50, image_size=8, base_channels=16, T=T)


@pytest.fixture(scope="module")
def app(tmp_path_factory, write_tiny_checkpoint, app_server):
    tmp = tmp_path_factory.mktemp("app")
    ckpt = write_tiny_checkpoint(tmp / "tiny.safetensors", T=T)
    with app_server(tmp, {"DDPM_WORKBENCH_CHECKPOINT": str(ckpt),
                          "DDPM_WORKBENCH_BENCH": str(tmp / "no_bench.json")}) as url:
        yield url, tmp


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client
    return Client(app[0], verbose=False)


SAMPLE = dict(checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0, sampler="DDIM", steps=5, eta=0.0,
              temperature=1.0, noise_temperature=1.0, seed=0, n=4)


def test_every_public_endpoint_is_named(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/sample", "/compare", "/compare_samplers", "/quality", "/quality_plot", "/diagnose", "/train_start",
            "/train_status", "/train_stop"} <= names


def test_sample(client):
    grid, info, files, slider, xt, x0 = client.predict(**dict(SAMPLE, classes=["3", "7"], guidance_scale=2.0),
                                                       api_name="/sample")
    assert Path(grid).exists() and "5 network calls per image" in info and "classes 3, 7" in info
    assert [Path(f).suffix for f in files] == [".png", ".npz"]
    assert Path(xt["value"]).exists() and Path(x0["value"]).exists()


def test_sample_with_the_few_step_options(client):
    """The few-step samplers' options are named parameters of /sample; a bad one comes back as the core's message."""
    from gradio_client.exceptions import AppError
    *_, info, files, slider, xt, x0 = client.predict(**dict(SAMPLE, sampler="Restart", steps=12, restart_k=2,
                                                             restart_steps=1, restart_ode="euler", eps_scaling=1.01),
                                                     api_name="/sample")
    assert "12 network calls per image" in info and "K = 2 restarts of 1 euler steps" in info and "ε̂/1.01" in info
    with pytest.raises(AppError, match=r"S_noise must be in \[1, 1\.1\]"):
        client.predict(**dict(SAMPLE, sampler="EDM Heun", steps=9, s_noise=2), api_name="/sample")


def test_compare(client):
    ddpm, ddim, ddpm_txt, ddim_txt, numbers = client.predict(
        checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0, steps=5, eta=0.5, seed=1, n=2,
        api_name="/compare")
    assert Path(ddpm).exists() and Path(ddim).exists()
    assert numbers["ddpm"]["network_calls"] == T and numbers["ddim"]["network_calls"] == 5
    assert f"{T} network calls" in ddpm_txt and "5 network calls" in ddim_txt


def test_compare_on_a_guidance_interval(client):
    """/compare takes the guidance interval by name, last, as /sample does; both grids ran on it and say so."""
    *_, ddpm_txt, ddim_txt, numbers = client.predict(
        checkpoint="bundled", upload=None, classes=["3"], guidance_scale=2.0, steps=5, eta=0.0, seed=1, n=2,
        guidance_s_lo="0.28", guidance_s_hi="5.42", api_name="/compare")
    assert numbers["guidance_interval"] == [0.28, 5.42] and numbers["guidance_scale"] == 2.0
    assert "guidance 2 on s ∈ (0.28, 5.42] only" in ddpm_txt and "on s ∈ (0.28, 5.42] only" in ddim_txt


def test_compare_samplers(client, tmp_path, randomize_unet):
    """Three samplers from one x_T through the API, on an uploaded model whose output is not zero (the app's
    stand-in checkpoint predicts ε̂ = 0, with which every deterministic sampler ends at the same images)."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from ddpm import DiffusionConfig, UNet, preset_config, save_checkpoint
    model = randomize_unet(UNet(preset_config("tiny", image_size=8, base_channels=16, num_classes=10)))
    ckpt = tmp_path / "random.safetensors"
    save_checkpoint(ckpt, model=model, ema_model=None, diffusion_config=DiffusionConfig(T=T),
                    class_names=[str(i) for i in range(10)], step=0,
                    data={"name": "digits", "source": "digits", "image_size": 8, "channels": 1})
    args = dict(checkpoint="bundled", upload=handle_file(str(ckpt)), classes=[], guidance_scale=1.0,
                samplers=["DDIM", "DPM-Solver++", "UniPC"], calls=5, seed=1, n=2)
    gallery, table, info = client.predict(**args, api_name="/compare_samplers")
    assert len(gallery) == 3 and all(Path(g["image"]).exists() for g in gallery)
    assert [g["caption"].split(" · ")[0] for g in gallery] == ["DDIM", "DPM-Solver++", "UniPC"]
    rows = table["data"]
    assert [r[0] for r in rows] == ["DDIM", "DPM-Solver++", "UniPC"] and [r[1] for r in rows] == [5, 5, 5]
    assert rows[0][3] == 0 and rows[1][3] > 0 and rows[2][3] > 0 and "same x_T" in info and "**DDIM**" in info
    with pytest.raises(AppError, match="pick at least two samplers"):
        client.predict(**dict(args, samplers=["UniPC"]), api_name="/compare_samplers")


def test_quality_plot(client):
    plot, note = client.predict(checkpoint="bundled", upload=None, api_name="/quality_plot")
    assert "Measure quality now" in note


def test_bad_inputs_come_back_as_clear_errors(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError
    pickle = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(2)}, pickle)
    with pytest.raises(AppError, match="pickle"):
        client.predict(**dict(SAMPLE, upload=handle_file(str(pickle))), api_name="/sample")
    # the sliders' bounds (the bundled model's T, the image limit) are checked by the handlers, with what to do
    with pytest.raises(AppError, match=f"more than this model's T = {T}"):
        client.predict(**dict(SAMPLE, steps=T + 50), api_name="/sample")
    with pytest.raises(AppError, match="at most 64 per request"):
        client.predict(**dict(SAMPLE, n=65), api_name="/sample")
    with pytest.raises(AppError, match="whole number"):
        client.predict(**dict(SAMPLE, n=2.5), api_name="/sample")
    with pytest.raises(AppError, match="unknown checkpoint 'nope'"):
        client.predict(**dict(SAMPLE, checkpoint="nope"), api_name="/sample")
    with pytest.raises(AppError, match="nothing to stop"):
        client.predict(api_name="/train_stop")


def test_ten_simultaneous_sample_requests_all_complete(client):
    jobs = [client.submit(**dict(SAMPLE, seed=i), api_name="/sample") for i in range(10)]
    results = [j.result(timeout=600) for j in jobs]
    assert len(results) == 10 and all(Path(r[0]).exists() for r in results)
    assert len({Path(r[0]).read_bytes() for r in results}) == 10          # ten different seeds, ten grids


def test_diagnose_quick(client):
    summary, page, files = client.predict(checkpoint="bundled", upload=None, mode="quick", seed=0,
                                          api_name="/diagnose")
    assert summary.startswith("# Diagnostics") and "<iframe" in page
    assert sorted(Path(f).suffix for f in files) == [".html", ".json"]


def test_training_start_status_refusal_and_stop(client):
    from gradio_client.exceptions import AppError
    md, bar, plot, sample, st = client.predict(data="digits", zip_file=None, steps=5000, **TINY_TRAIN,
                                               api_name="/train_start")
    run_id = st["run_id"]
    assert st["state"] in ("starting", "running") and run_id in md
    with pytest.raises(AppError, match="only one training job runs at a time"):
        client.predict(data="digits", zip_file=None, steps=20, **TINY_TRAIN, api_name="/train_start")
    deadline = time.monotonic() + 300
    while True:                           # a second visitor (a fresh client) sees the same run
        st = client.predict(api_name="/train_status")[-1]
        if st["step"] >= 2 or time.monotonic() > deadline:
            break
        assert st["state"] in ("starting", "running"), st["message"]
        time.sleep(1)
    assert st["run_id"] == run_id and st["step"] >= 2
    st = client.predict(api_name="/train_stop")[-1]
    assert st["state"] == "stopping"
    deadline = time.monotonic() + 300
    while st["state"] == "stopping" and time.monotonic() < deadline:
        time.sleep(1)
        st = client.predict(api_name="/train_status")[-1]
    assert st["state"] == "stopped" and st["checkpoint"], st
    # the stopped run's checkpoint is usable from the Sample endpoint at once
    grid, info, *_ = client.predict(**dict(SAMPLE, checkpoint=run_id), api_name="/sample")
    assert run_id in info


@pytest.fixture(scope="module")
def diffusers_zips(tmp_path_factory):
    """(a diffusers DDPMPipeline .zip made by diffusers alone, T = 50; the same pipeline with its U-Net weights as a
    pickled diffusion_pytorch_model.bin instead of safetensors)."""
    import zipfile

    from safetensors.torch import load_file

    from tests.diffusers_fixtures import train_pipeline
    from tests.test_diffusers_format import zip_folder
    root = tmp_path_factory.mktemp("diffusers")
    train_pipeline(root / "pipe", steps=5, T=50)
    good = zip_folder(root / "pipe", root / "my_pipeline.zip")
    weights = root / "pipe" / "unet" / "diffusion_pytorch_model.safetensors"
    pickled = root / "diffusion_pytorch_model.bin"
    torch.save(load_file(str(weights)), pickled)
    bad = root / "pickled_pipeline.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        for p in sorted((root / "pipe").rglob("*")):
            if p.is_file() and p != weights:
                zf.write(p, str(p.relative_to(root / "pipe")))
        zf.write(pickled, "unet/diffusion_pytorch_model.bin")
    return good, bad


def test_diffusers_zip_upload(client, diffusers_zips):
    """A diffusers pipeline .zip through the upload (gradio_client's handle_file): /sample and /compare_samplers
    make images of the model's shape and name the diffusers source; a pickled-weights zip is refused."""
    import numpy as np
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError
    good, bad = diffusers_zips
    grid, info, files, slider, xt, x0 = client.predict(**dict(SAMPLE, upload=handle_file(str(good)), steps=5, n=4),
                                                       api_name="/sample")
    assert Path(grid).exists() and "upload my_pipeline.zip (diffusers DDPMPipeline .zip, T=50" in info, info
    assert "5 network calls per image" in info and "8×8" in info
    npz = np.load(next(f for f in files if f.endswith(".npz")))
    assert npz["images"].shape == (4, 1, 8, 8) and npz["x_T"].shape == (4, 1, 8, 8)   # 1 channel, 8×8, as saved
    gallery, table, cmp_info = client.predict(
        checkpoint="bundled", upload=handle_file(str(good)), classes=[], guidance_scale=1.0,
        samplers=["DDIM", "DPM-Solver++"], calls=5, seed=1, n=2, api_name="/compare_samplers")
    assert [g["caption"].split(" · ")[0] for g in gallery] == ["DDIM", "DPM-Solver++"]
    assert all(Path(g["image"]).exists() for g in gallery) and [r[1] for r in table["data"]] == [5, 5]
    with pytest.raises(AppError) as e:
        client.predict(**dict(SAMPLE, upload=handle_file(str(bad))), api_name="/sample")
    msg = str(e.value)
    assert "pickle (diffusion_pytorch_model.bin)" in msg and "never opened" in msg, msg
    assert "safe_serialization=True" in msg and "Traceback" not in msg, msg
