"""Issue 22: the per-request work budget and the one training slot are decided before any expensive work, from
what the model and the request declare.

- The FLOPs of one network call come from the model's configuration (its architecture on the meta device under
  FlopCounterMode): equal to a direct count of a real forward pass (attention through its plain matrix products,
  which torch's counter sees), with each attention layer's 4·L²·C + 8·L·C², and no real forward pass run.
- A refusal offers only what fits: N images with N · calls · FLOPs ≤ the budget, or the calls one image may take.
- A request past its wall time stops at the next network call, saying how long it ran.
- A training start is refused as busy before its upload is read; of two at once, only one reads its upload.
- A file being loaded holds no lock that a request for a loaded model waits on.

The models are untrained: FLOPs and limits do not depend on the weights.
"""
from __future__ import annotations

import re
import threading
import time
import types
import warnings
from pathlib import Path

import gradio as gr
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from ddpm.unet import UNet, UNetConfig, attention_heads
from demo import common, guard, limits, model_cache
from demo.jobs import JobBusyError, TrainingJobs, _Job
from demo.model_cache import ModelCache, flop_per_image
from demo.tabs import sample, train

T = 100     # the tiny checkpoints' T (conftest's write_tiny_checkpoint)


@pytest.fixture(autouse=True)
def app_env(tmp_path, monkeypatch, write_tiny_checkpoint):
    """Its own runs folder and a tiny bundled model; torch's thread count given back afterwards."""
    threads = torch.get_num_threads()
    ckpt = write_tiny_checkpoint(tmp_path / "tiny.safetensors")
    monkeypatch.setenv("DDPM_WORKBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DDPM_WORKBENCH_CHECKPOINT", str(ckpt))
    monkeypatch.setenv("DDPM_WORKBENCH_BENCH", str(tmp_path / "no_bench.json"))
    yield
    train._JOBS.pop(str((tmp_path / "runs").resolve()), None)
    torch.set_num_threads(threads)
    guard._clock.set(None)            # a handler called here (not in a gradio request) left its clock running


def as_checkpoint(model: torch.nn.Module, image_shape: tuple, num_classes: int = 0):
    """What flop_per_image reads of a LoadedCheckpoint."""
    return types.SimpleNamespace(model=model, image_shape=image_shape, num_classes=num_classes)


def direct_count(model: torch.nn.Module, image_shape: tuple, num_classes: int = 0) -> int:
    """FLOPs of a real forward pass on one image, with attention run as its plain matrix products (the math
    backend), which torch's FlopCounterMode counts (the CPU's fused kernel it does not)."""
    x = torch.randn((1, *image_shape))
    t = torch.full((1,), 3, dtype=torch.long)
    y = torch.zeros(1, dtype=torch.long) if num_classes else None
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model.eval()(x, t, y)
    return counter.get_total_flops()


def attention_layer_flops(resolution: int, channels: int) -> int:
    """One self-attention layer on L = h·w tokens of C channels: QKᵀ and AV, 2·(2·L²·C), and its 1×1 projections
    (q, k, v and out: 4 · 2·L·C²)."""
    L = resolution ** 2
    return 2 * 2 * L * L * channels + 4 * 2 * L * channels ** 2


def our_unet(**kw) -> UNet:
    return UNet(UNetConfig(**{**dict(image_size=16, base_channels=16, channel_mult=(1, 2), num_res_blocks=1,
                                     attention_resolutions=(), num_heads=2), **kw}))


# ------------------------------------------------------------------------------------------------- FLOPs
@pytest.mark.parametrize("kw", [
    dict(),                                                       # only the middle block's attention
    dict(attention_resolutions=(16, 8)),                          # attention at both levels
    dict(image_size=32, attention_resolutions=(32,), num_classes=10, learn_sigma=True, in_channels=3),
], ids=["mid-attention-only", "attention-everywhere", "conditional-rgb-learned-variance"])
def test_our_unets_count_from_config_equals_a_direct_count(kw):
    model = our_unet(**kw)
    cfg = model.config
    shape = (cfg.in_channels, cfg.image_size, cfg.image_size)
    counted = flop_per_image(as_checkpoint(model, shape, cfg.num_classes))
    assert counted == pytest.approx(direct_count(model, shape, cfg.num_classes), rel=0.01)


def test_the_attention_term_is_the_formula_and_grows_with_the_square_of_the_tokens():
    """A model with attention at its top level minus the same model without it: three attention layers there (one
    down, two up, num_res_blocks = 1) of 4·L²·C + 8·L·C² each. Doubling the resolution multiplies L by 4, so
    the quadratic term by 16, and the counted difference follows."""
    diffs = {}
    for size in (16, 32):
        with_attn = our_unet(image_size=size, attention_resolutions=(size,))
        without = our_unet(image_size=size)
        shape = (1, size, size)
        diffs[size] = flop_per_image(as_checkpoint(with_attn, shape)) - flop_per_image(as_checkpoint(without, shape))
        assert diffs[size] == 3 * attention_layer_flops(size, 16)
    quadratic = {s: 3 * 2 * 2 * (s * s) ** 2 * 16 for s in diffs}
    assert quadratic[32] == 16 * quadratic[16]
    assert 13 < diffs[32] / diffs[16] < 16                        # the L² term dominates: near ×16, not ×4


def test_the_attention_heads_do_not_change_the_count():
    """Heads split C, they do not multiply it: 2·2·L²·C whatever the number of heads."""
    counts = {h: flop_per_image(as_checkpoint(our_unet(attention_resolutions=(16,), num_heads=h), (1, 16, 16)))
              for h in (1, 2)}
    assert attention_heads(16, 2) == 2 and counts[1] == counts[2]


def _diffusers_pipeline(folder: Path, **unet_kw) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
        from diffusers_fixtures import UNET_KW
        torch.manual_seed(0)
        unet = UNet2DModel(**{**UNET_KW, **unet_kw}).eval()
        DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=T)).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("unet_kw", [
    dict(),                                                       # the fixtures' 8×8 model, attention at 4×4
    dict(sample_size=16, in_channels=3, out_channels=3, down_block_types=("AttnDownBlock2D", "AttnDownBlock2D"),
         up_block_types=("AttnUpBlock2D", "AttnUpBlock2D"), num_class_embeds=11),
], ids=["unconditional", "conditional-rgb-attention-everywhere"])
def test_a_diffusers_unet_loaded_from_a_pipeline_counts_from_config_as_directly(tmp_path, unet_kw):
    ckpt = ModelCache(device="cpu").get(_diffusers_pipeline(tmp_path / "pipe", **unet_kw))
    counted = flop_per_image(ckpt)
    assert counted == pytest.approx(direct_count(ckpt.model, ckpt.image_shape, ckpt.num_classes), rel=0.01)


def test_a_diffusers_unets_attention_term_is_the_formula(tmp_path):
    """AttnDownBlock2D / AttnUpBlock2D at the 4×4 level (32 channels) against plain blocks: 1 + 2 attention
    layers of 4·L²·C + 8·L·C² (its to_q, to_k, to_v, to_out linear layers)."""
    plain = dict(down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"))
    cache = ModelCache(device="cpu")
    with_attn = flop_per_image(cache.get(_diffusers_pipeline(tmp_path / "attn")))
    without = flop_per_image(cache.get(_diffusers_pipeline(tmp_path / "plain", **plain)))
    assert with_attn - without == 3 * attention_layer_flops(4, 32)


def test_the_estimate_runs_no_forward_pass_even_for_the_largest_model_the_cache_admits(monkeypatch):
    real_forward = UNet.forward

    def meta_only(self, x, *args, **kwargs):
        if x.device.type != "meta":
            raise AssertionError("the estimate ran the network on real tensors")
        return real_forward(self, x, *args, **kwargs)
    monkeypatch.setattr(UNet, "forward", meta_only)
    small = our_unet(attention_resolutions=(8,), num_classes=10)
    assert flop_per_image(as_checkpoint(small, (1, 16, 16), 10)) > 0          # a real model: counted, never run
    with pytest.raises(AssertionError, match="real tensors"):
        small(torch.zeros(1, 1, 16, 16), torch.zeros(1, dtype=torch.long))    # (the patch does catch a real pass)

    # ~112 M parameters, 450 MB in float32: about the largest the default 512 MB cache admits; built on the meta
    # device here too, so the test allocates nothing. (The first meta call in a process loads torch's meta
    # kernels, ~1 s: the app pays it at start, when it loads its default model; the small count above paid it.)
    big_cfg = UNetConfig(image_size=128, in_channels=3, base_channels=128, channel_mult=(1, 2, 3, 4),
                         num_res_blocks=3, attention_resolutions=(32, 16), num_heads=4)
    with torch.device("meta"):
        big = UNet(big_cfg)
    params = sum(p.numel() for p in big.parameters())
    assert 100e6 < params and 4 * params < limits.MODEL_CACHE_MB * 2**20
    flops = flop_per_image(as_checkpoint(big, (3, 128, 128)))     # meta tensors only (forward patched above);
    assert flops > 1e11                                            # ~0.1 TFLOP per image per call: a real cost


def test_a_model_being_loaded_does_not_block_a_request_for_a_loaded_one(tmp_path, monkeypatch, write_tiny_checkpoint):
    cache = ModelCache(device="cpu")
    loaded_path = write_tiny_checkpoint(tmp_path / "a.safetensors")
    loaded = cache.get(loaded_path)
    slow_path = write_tiny_checkpoint(tmp_path / "b.safetensors", seed=1)
    entered, release = threading.Event(), threading.Event()
    real_load = model_cache.load_checkpoint

    def slow_load(*args, **kwargs):
        entered.set()
        release.wait(30)
        return real_load(*args, **kwargs)
    monkeypatch.setattr(model_cache, "load_checkpoint", slow_load)
    loader = threading.Thread(target=cache.get, args=(slow_path,))
    loader.start()
    try:
        assert entered.wait(30)
        t0 = time.perf_counter()
        assert cache.get(loaded_path) is loaded and cache.flop_per_image(loaded) > 0
        assert time.perf_counter() - t0 < 10.0      # blocked, it would wait the 30 s the load is held
    finally:
        release.set()
        loader.join(30)
    assert cache.loads == 2 and len(cache) == 2


# ------------------------------------------------------------------------------------------------ refusals
def _fits(message: str) -> int:
    return int(re.search(r"at most ([\d,]+) fit", message).group(1).replace(",", ""))


def test_a_refused_requests_suggestion_fits_the_budget(monkeypatch):
    ckpt = common.load_model("bundled")
    flop = common.get_cache().flop_per_image(ckpt)
    # DDIM-25 with guidance (w = 2 doubles each batch), 64 images, against a budget of ~10 such images
    monkeypatch.setenv("DDPM_WORKBENCH_WORK_TFLOP", repr(10.5 * 25 * 2 * flop / 1e12))
    with pytest.raises(gr.Error) as e:
        sample.sample("bundled", None, [], 2.0, "DDIM", 25, 0.0, 1.0, 1.0, 0, 64)
    n = _fits(e.value.message)
    budget = limits.work_limit_flop()
    assert n == 10 and n * 25 * 2 * flop <= budget < (n + 1) * 25 * 2 * flop
    sample.sample("bundled", None, [], 2.0, "DDIM", 25, 0.0, 1.0, 1.0, 0, n)         # and the suggestion runs
    # DDPM runs all T = 100 steps: the images offered are the ones DDPM fits, never more
    with pytest.raises(gr.Error) as e:
        sample.sample("bundled", None, [], 1.0, "DDPM", 25, 0.0, 1.0, 1.0, 0, 64)
    n = _fits(e.value.message)
    assert n * T * flop <= budget < (n + 1) * T * flop and "use DDIM with fewer steps" in e.value.message


def test_when_not_even_one_image_fits_the_refusal_offers_the_calls_that_do(monkeypatch):
    ckpt = common.load_model("bundled")
    flop = common.get_cache().flop_per_image(ckpt)
    monkeypatch.setenv("DDPM_WORKBENCH_WORK_TFLOP", repr(40.5 * flop / 1e12))       # 40 calls of one image
    with pytest.raises(gr.Error) as e:
        sample.sample("bundled", None, [], 1.0, "DDPM", 25, 0.0, 1.0, 1.0, 0, 4)    # DDPM: 100 calls each
    msg = e.value.message
    assert "at most 0" not in msg and "fit these settings" not in msg
    calls = int(re.search(r"at most ([\d,]+) network calls here", msg).group(1))
    assert calls == 40 and calls * flop <= limits.work_limit_flop() and f"T = {T}" in msg
    sample.sample("bundled", None, [], 1.0, "DDIM", calls, 0.0, 1.0, 1.0, 0, 1)       # which runs
    # not even one call fits: a smaller model, never a number that does not fit
    monkeypatch.setenv("DDPM_WORKBENCH_WORK_TFLOP", repr(0.5 * flop / 1e12))
    with pytest.raises(gr.Error) as e:
        sample.sample("bundled", None, [], 1.0, "DDIM", 5, 0.0, 1.0, 1.0, 0, 1)
    assert "One network call of this model on one image costs" in e.value.message
    assert re.search(r"at most [\d,]+ (fit|network calls here)", e.value.message) is None


def test_over_the_calls_in_a_row_no_number_of_images_is_offered(monkeypatch):
    monkeypatch.setenv("DDPM_WORKBENCH_MAX_CALLS", "50")
    with pytest.raises(gr.Error) as e:
        sample.sample("bundled", None, [], 1.0, "DDPM", 25, 0.0, 1.0, 1.0, 0, 1)    # T = 100 calls in a row
    msg = e.value.message
    assert "100 network calls in a row" in msg and "fit these settings" not in msg
    assert "at most 50 network calls here" in msg


# ---------------------------------------------------------------------------------------------- wall time
def test_the_wall_time_limit_stops_a_sampling_request(monkeypatch):
    assert limits.max_request_seconds() == limits.MAX_REQUEST_SECONDS
    monkeypatch.setenv("DDPM_WORKBENCH_MAX_SECONDS", "1e-6")
    ckpt = common.load_model("bundled")
    calls = []
    hook = ckpt.model.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        with pytest.raises(gr.Error) as e:
            sample.sample("bundled", None, [], 1.0, "DDIM", 20, 0.0, 1.0, 1.0, 0, 2)
    finally:
        hook.remove()
    msg = e.value.message
    assert re.search(r"stopped after [\d.,]+ s: a request may run at most 1e-06 s", msg), msg
    assert "Lower the number of images or the steps" in msg
    assert 1 <= len(calls) < 20                                    # stopped at the first network call past it


def test_the_wall_time_is_per_request_and_a_request_within_it_runs(monkeypatch):
    monkeypatch.setenv("DDPM_WORKBENCH_MAX_SECONDS", "60")
    sample.sample("bundled", None, [], 1.0, "DDIM", 5, 0.0, 1.0, 1.0, 0, 2)
    clock = guard._clock.get()
    assert clock is not None and clock.limit_s == 60
    guard.start_clock(1e-6)
    time.sleep(0.01)
    with pytest.raises(gr.Error):
        guard.check("somewhere")
    sample.sample("bundled", None, [], 1.0, "DDIM", 5, 0.0, 1.0, 1.0, 0, 2)         # a new request, a new clock


def test_a_bad_wall_time_in_the_environment_says_what_to_set(monkeypatch):
    monkeypatch.setenv("DDPM_WORKBENCH_MAX_SECONDS", "-3")
    with pytest.raises(ValueError, match="DDPM_WORKBENCH_MAX_SECONDS='-3' must be a positive number"):
        limits.max_request_seconds()


# ---------------------------------------------------------------------------------------------- training
TINY = dict(preset="tiny", schedule="linear", objective="eps", weighting="simple", batch_size=8, lr=1e-3,
            label_dropout=0.1, sample_every=0, image_size=8, base_channels=16, T=T)




@pytest.fixture
def reads(monkeypatch):
    """Every time the Train tab reads an upload (its .zip check, the data loader): the paths, in order."""
    seen = []
    check_zip, load_dataset = train._check_zip, train.load_dataset
    monkeypatch.setattr(train, "_check_zip", lambda path, *a, **k: seen.append(("check", path)) or
                        check_zip(path, *a, **k))
    monkeypatch.setattr(train, "load_dataset", lambda path, *a, **k: seen.append(("load", path)) or
                        load_dataset(path, *a, **k))
    return seen


def test_a_start_while_a_run_trains_is_refused_before_its_upload_is_read(tmp_path, monkeypatch, reads,
                                                                               write_image_zip):
    jobs = train.get_jobs()
    run_dir = tmp_path / "runs" / "run-1"
    run_dir.mkdir(parents=True)
    jobs._job = _Job("run-1", run_dir, time.time(), pid=-1, request={"steps": 500})
    monkeypatch.setattr(_Job, "alive", lambda self: True)                  # a run trains
    with pytest.raises(gr.Error) as e:
        train.train_start(data="zip", zip_file=str(write_image_zip(tmp_path / "up.zip")), steps=20, **TINY)
    assert "run run-1" in e.value.message and "only one training job runs at a time" in e.value.message
    assert reads == []


def test_of_two_simultaneous_starts_only_one_reads_its_upload(tmp_path, monkeypatch, reads, write_image_zip):
    spawned, barrier = [], threading.Barrier(2)

    def slow_load(path, *a, **k):                       # the upload's decoding takes a while
        reads.append(("load", path))
        time.sleep(2.0)
        raise ValueError(f"no images found in {path} (it is empty): expected …")
    monkeypatch.setattr(train, "load_dataset", slow_load)
    monkeypatch.setattr(TrainingJobs, "_spawn", lambda self, *a, **k: spawned.append(a))
    uploads = [write_image_zip(tmp_path / f"up{i}.zip") for i in range(2)]
    errors = []

    def start(upload):
        barrier.wait()
        try:
            train.train_start(data="zip", zip_file=str(upload), steps=20, **TINY)
        except gr.Error as e:
            errors.append(e.message)
    threads = [threading.Thread(target=start, args=(u,)) for u in uploads]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert [kind for kind, _ in reads] == ["check", "load"] and spawned == []
    assert sorted("only one training job" in m for m in errors) == [False, True], errors
    # the slot is free again once the first request ended (here: its data was refused)
    with train.get_jobs().reserve(20) as slot:
        assert slot.step == 0 and slot.total == 20
        with pytest.raises(JobBusyError):
            with train.get_jobs().reserve(20):
                pass


@pytest.mark.slow
def test_through_a_real_server_the_wall_time_stops_a_request_and_the_next_gets_its_own_clock(tmp_path, app_server):
    """In gradio each request runs in its own copy of the context: the clock check_work starts is that request's."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    bundled = Path(__file__).resolve().parents[1] / "checkpoints" / "digits_tiny.safetensors"   # 16×16, T = 1000
    long = dict(checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0, sampler="DDPM", steps=25, eta=0.0,
                temperature=1.0, noise_temperature=1.0, seed=0, n=16)                         # 1,000 calls × 16
    env = {"DDPM_WORKBENCH_CHECKPOINT": str(bundled), "DDPM_WORKBENCH_CONCURRENCY": "1",
           "DDPM_WORKBENCH_MAX_SECONDS": "2", "DDPM_WORKBENCH_BENCH": str(tmp_path / "none.json")}
    with app_server(tmp_path, env) as url:
        client = Client(url, verbose=False)
        t0 = time.monotonic()
        with pytest.raises(AppError) as e:
            client.predict(**long, api_name="/sample")
        assert re.search(r"stopped after [\d.]+ s: a request may run at most 2 s", str(e.value)), str(e.value)
        assert time.monotonic() - t0 < 60
        client.predict(**dict(long, sampler="DDIM", steps=2, n=1), api_name="/sample")      # a fresh clock
        client.close()
        log = (tmp_path / "app.log").read_text(errors="replace")
        line = next(ln for ln in log.splitlines() if "refused sample:" in ln)           # one log line, no traceback
        assert "stopped after" in line and "Traceback" not in log
