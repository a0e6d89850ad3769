"""Safe to host publicly: the model cache is bounded in bytes, each request has a work budget checked before
it starts, work stops when the client goes away, and two app instances on one checkout keep to their own training
runs, which can be resumed after a stop or a crash. (Bad requests, each refused with its own message and one log
line, no traceback: tests/test_hostile.py, which runs tools/hostile_requests.py against its own server.)

The models here are untrained tiny U-Nets (8×8, base 16): the limits do not depend on what the weights learned.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import save_file

from ddpm import CheckpointError, DiffusionConfig, UNet, preset_config, save_checkpoint
from demo import limits
from demo.jobs import CannotResumeError, NoJobRunningError, TrainingJobs, TrainRequest
from demo.model_cache import ModelCache, ModelTooLargeError, estimate_size, measured_size
from demo.runs import listed_runs, read_metrics, read_run

T = 100


def edit_header(src: Path, dst: Path, edit) -> Path:
    """A copy of a checkpoint with its JSON config edited (the tensors unchanged), as a hostile user would."""
    with safe_open(str(src), framework="pt") as f:
        meta = json.loads(f.metadata()["ddpm"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    edit(meta)
    save_file(tensors, str(dst), metadata={"ddpm": json.dumps(meta)})
    return dst


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


# --------------------------------------------------------------------------------------------- the cache
def test_size_is_estimated_from_the_header_before_loading(tmp_path, write_tiny_checkpoint):
    ckpt_path = write_tiny_checkpoint(tmp_path / "m.safetensors")
    est = estimate_size(ckpt_path)
    loaded = ModelCache(max_bytes=2**30, device="cpu").get(ckpt_path)
    params = sum(p.numel() for p in loaded.model.parameters())
    assert est == measured_size(loaded) and est.total == loaded.nbytes >= 4 * params + est.tables


def test_cache_is_bounded_in_bytes_and_evicts_the_least_recently_used(tmp_path, write_tiny_checkpoint):
    paths = [write_tiny_checkpoint(tmp_path / f"m{i}.safetensors", seed=i) for i in range(3)]
    one = estimate_size(paths[0]).total
    cache = ModelCache(max_bytes=int(2.5 * one), device="cpu")
    a = cache.get(paths[0])
    cache.get(paths[1])
    assert cache.get(paths[0]) is a                  # 0 is now the most recently used
    cache.get(paths[2])                               # a third does not fit: 1 goes
    assert len(cache) == 2 and cache.bytes <= cache.max_bytes
    loads = cache.loads
    assert cache.get(paths[0]) is a and cache.loads == loads
    cache.get(paths[1])
    assert cache.loads == loads + 1                   # 1 was evicted, so it is read again


# within the file format's own limits (ddpm.formats.limits), but more than this cache may hold
@pytest.mark.parametrize("edit, budget_mb, words", [
    (lambda m: m["diffusion"].update(T=20_000), 8, "schedule tables for T = 20,000"),
    (lambda m: m["model"].update(base_channels=512), 64, "parameters and buffers"),
])
def test_a_model_larger_than_the_cache_is_refused_before_anything_is_allocated(tmp_path, edit, budget_mb, words,
                                                                               write_tiny_checkpoint):
    src = write_tiny_checkpoint(tmp_path / "m.safetensors")
    bad = edit_header(src, tmp_path / "edited.safetensors", edit)
    cache = ModelCache(max_bytes=budget_mb * 2**20, device="cpu")
    before, t0 = rss_mb(), time.perf_counter()
    with pytest.raises(ModelTooLargeError) as e:
        cache.get(bad)
    seconds, grown = time.perf_counter() - t0, rss_mb() - before
    msg = str(e.value)
    assert words in msg and f"keeps at most {budget_mb:.1f} MB" in msg and "Use a smaller model" in msg
    assert str(tmp_path) not in msg                   # the file's name, never its server path
    assert cache.loads == 0 and len(cache) == 0
    assert seconds < 2 and grown < 200, (seconds, grown)


def test_a_header_that_does_not_build_is_a_checkpoint_error_naming_the_file(tmp_path, write_tiny_checkpoint):
    bad = edit_header(write_tiny_checkpoint(tmp_path / "m.safetensors"), tmp_path / "bad.safetensors",
                      lambda m: m["diffusion"].update(T="abc"))
    with pytest.raises(CheckpointError) as e:
        ModelCache(device="cpu").get(bad)
    assert "bad.safetensors" in str(e.value) and str(tmp_path) not in str(e.value)


def test_the_cache_counts_the_flops_of_one_network_call(tmp_path, write_tiny_checkpoint):
    cache = ModelCache(device="cpu")
    small = cache.get(write_tiny_checkpoint(tmp_path / "s.safetensors"))
    wide_model = UNet(preset_config("tiny", image_size=8, base_channels=32, num_classes=10))
    save_checkpoint(tmp_path / "w.safetensors", model=wide_model, ema_model=None, diffusion_config=DiffusionConfig(T=T),
                    class_names=[str(i) for i in range(10)], step=0)
    wide = cache.get(tmp_path / "w.safetensors")
    # twice the channels: about four times the convolution FLOPs
    assert 3.0 < cache.flop_per_image(wide) / cache.flop_per_image(small) < 4.5


# --------------------------------------------------------------------------------------------- the budget
def test_work_budget_refuses_before_the_work_and_says_what_to_lower(monkeypatch):
    monkeypatch.setenv("DDPM_WORKBENCH_WORK_TFLOP", "1")
    ddpm = limits.Pass("DDPM, 1,000 steps", 1000, 64)
    with pytest.raises(limits.WorkLimitError) as e:
        limits.check_work([ddpm], flop_per_image=123e6, image_size=16, lower="work.lower_sample")
    msg = str(e.value)
    assert "1,000 network calls × 64 images" in msg and "7.87 TFLOP" in msg and "over the 1 TFLOP" in msg
    assert msg.endswith("Lower the number of images (at most 8 fit these settings) or the steps.")
    assert limits.max_images_within([limits.Pass("DDPM", 1000, 1)], 123e6) == 8       # 8 × 0.123 TFLOP ≤ 1
    ok = limits.check_work([limits.Pass("DDIM", 25, 64)], 123e6, 16, "")
    assert ok.image_calls == 25 * 64 and ok.flop == pytest.approx(25 * 64 * 123e6)
    # guidance doubles the batch: counted twice
    assert limits.Pass("DDIM", 10, 4, batch_factor=2).image_calls == 80


def test_sequential_network_calls_are_bounded_whatever_the_batch():
    with pytest.raises(limits.WorkLimitError) as e:
        limits.check_work([limits.Pass("DDPM, 100,000 steps", 100_000, 1)], 1e6, 8, "work.lower_sample_ddpm")
    assert "100,000 network calls in a row" in str(e.value) and f"at most {limits.MAX_NETWORK_CALLS:,}" in str(e.value)


def test_a_bad_limit_in_the_environment_says_what_to_set(monkeypatch):
    monkeypatch.setenv("DDPM_WORKBENCH_MODEL_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="DDPM_WORKBENCH_MODEL_CACHE_MB='lots' is not a number"):
        limits.model_cache_bytes()


# ------------------------------------------------------------------------------ two instances, one checkout
def fake_run(runs: Path, run_id: str, instance: str, state: str, step: int = 4, total: int = 10,
             checkpoint: Path | None = None, pid: int = 999_999) -> Path:
    """A run folder as the trainer and the job manager leave it (state None: the trainer never said it ended)."""
    d = runs / run_id
    d.mkdir(parents=True)
    (d / "job.json").write_text(json.dumps({"run_id": run_id, "instance": instance, "started_at": time.time(),
                                            "pid": pid, "request": {"steps": total, "data": "digits"}}))
    (d / "progress.json").write_text(json.dumps({"state": state or "running", "step": step, "total": total}))
    if checkpoint is not None:
        (d / "last.safetensors").write_bytes(checkpoint.read_bytes())
    return d


@pytest.fixture
def sleeper_for(tmp_path):
    """A process whose command line looks like a trainer's for a given run folder (a run still training)."""
    procs = []

    def start(run_dir: Path) -> int:
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "ddpm.train", str(run_dir.resolve())])
        procs.append(p)
        deadline = time.monotonic() + 30
        while b"ddpm.train" not in Path(f"/proc/{p.pid}/cmdline").read_bytes():   # until the exec has happened
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return p.pid
    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_two_instances_never_see_adopt_or_stop_each_others_runs(tmp_path, sleeper_for, write_tiny_checkpoint):
    runs = tmp_path / "runs"
    ckpt = write_tiny_checkpoint(tmp_path / "m.safetensors")
    a_failed = fake_run(runs, "20990101-000001-aaaa", "A", None, checkpoint=ckpt)          # killed, saved once
    a_finished = fake_run(runs, "20990101-000002-aaaa", "A", "finished", 10, 10, checkpoint=ckpt)
    running_id = "20990101-000004-aaaa"
    a_running = fake_run(runs, running_id, "A", None, checkpoint=ckpt, pid=sleeper_for(runs / running_id))
    assert read_run(a_running).state == "running" and read_run(a_failed).state == "failed"

    b = TrainingJobs(runs, instance="B")
    assert b.status().state == "idle"                      # A's running run is not B's to show...
    with pytest.raises(NoJobRunningError):
        b.stop()                                           # ...nor to stop
    with pytest.raises(CannotResumeError, match="no run '20990101-000001-aaaa' of this app"):
        b.resume(a_failed.name)                            # ...nor to take over
    assert [r.run_id for r in listed_runs(runs, "B")] == [a_finished.name]        # only A's finished run

    a = TrainingJobs(runs, instance="A")
    assert a.status().run_id == a_running.name and a.status().state == "running"  # A adopts its own
    assert [r.run_id for r in listed_runs(runs, "A")] == [a_finished.name, a_failed.name]
    assert [r.run_id for r in a.resumable_runs()] == [a_failed.name]
    with pytest.raises(CannotResumeError, match="already reached its 10 steps"):
        a.resumable_run(a_finished.name)
    with pytest.raises(CannotResumeError, match="still training"):
        a.resumable_run(a_running.name)


def test_status_shown_to_users_names_files_not_server_paths(tmp_path, write_tiny_checkpoint):
    runs = tmp_path / "runs"
    fake_run(runs, "20990101-000001-aaaa", "A", "stopped", checkpoint=write_tiny_checkpoint(tmp_path / "m.safetensors"))
    st = TrainingJobs(runs, instance="A").status()
    shown = json.dumps(st.to_dict()) + str(st.message)
    assert st.state == "stopped" and st.to_dict()["checkpoint"] == "last.safetensors"
    assert str(tmp_path) not in shown


# ------------------------------------------------------------------------- resume after a stop and a crash
TINY = dict(preset="tiny", schedule="linear", objective="eps", weighting="simple", batch_size=8, lr=1e-3,
            label_dropout=0.1, sample_every=0, image_size=8, base_channels=16, T=T)


def wait_for_step(jobs: TrainingJobs, step: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while jobs.status().step < step:
        st = jobs.status()
        assert st.active and time.monotonic() < deadline, st.message
        time.sleep(0.2)


@pytest.mark.slow
def test_a_stopped_then_killed_run_stays_listed_and_resumes_to_the_end(tmp_path, monkeypatch):
    monkeypatch.setenv("DDPM_WORKBENCH_TRAIN_THREADS", "1")
    runs = tmp_path / "runs"
    jobs = TrainingJobs(runs, instance="A")
    total = 40
    jobs.start(TrainRequest(steps=total, **TINY))
    wait_for_step(jobs, 2)
    jobs.stop()
    stopped = jobs.wait(240)
    assert stopped.state == "stopped" and 2 <= stopped.step < total, stopped.message
    first_stop = stopped.step

    jobs.resume(stopped.run_id)                        # from the Train tab: same settings, same folder
    wait_for_step(jobs, first_stop + 1)
    os.kill(jobs._job.pid, signal.SIGKILL)             # as the out-of-memory killer would
    dead = jobs.wait(60)
    assert dead.state == "failed" and "Resume goes on from it" in str(dead.message), dead.message
    assert str(tmp_path) not in str(dead.message)
    run = read_run(runs / dead.run_id)
    assert run.resumable and run.checkpoint is not None               # its last checkpoint is kept...
    assert dead.run_id in [r.run_id for r in listed_runs(runs, "A")]  # ...and offered in every tab
    assert dead.run_id not in [r.run_id for r in listed_runs(runs, "B")]

    jobs.resume(dead.run_id)
    final = jobs.wait(300)
    assert final.state == "finished" and final.step == total, final.message
    steps = [r["step"] for r in read_metrics(runs / dead.run_id)]
    assert steps == sorted(steps) and len(steps) == len(set(steps))   # one curve, no step logged twice
    log = (runs / dead.run_id / "train.log").read_text()
    assert f"--- resumed from step {first_stop} " in log and log.count("--- resumed") == 2
# --------------------------------------------------------------------------------- through a real server
BUNDLED = Path(__file__).resolve().parents[1] / "checkpoints" / "digits_tiny.safetensors"   # 16×16, T = 1000
LONG = dict(checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0, sampler="DDPM", steps=25, eta=0.0,
            temperature=1.0, noise_temperature=1.0, seed=0, n=16)                   # 1,000 calls × 16 images
SHORT = dict(LONG, sampler="DDIM", steps=2, n=1)


@pytest.fixture(scope="module")
def server(tmp_path_factory, app_server):
    """app.py with one compute slot (so a request left running would block the next) and a 4 TFLOP budget
    (DDPM over 1,000 steps for 16 images of the bundled model fits: 2 TFLOP; for 64 it does not: 7.9)."""
    tmp = tmp_path_factory.mktemp("server")
    with app_server(tmp, {"DDPM_WORKBENCH_CHECKPOINT": str(BUNDLED), "DDPM_WORKBENCH_CONCURRENCY": "1",
                          "DDPM_WORKBENCH_WORK_TFLOP": "4", "DDPM_WORKBENCH_BENCH": str(tmp / "none.json")}) as url:
        yield url, tmp / "app.log", tmp


def wait_for_line(log: Path, text: str, after: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = log.read_text(errors="replace")[after:]
        for line in new.splitlines():
            if text in line:
                return line
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} in the server log within {timeout:.0f} s:\n{log.read_text()[after:][-3000:]}")


def wait_until_running(job, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not job.status().progress_data:
        assert time.monotonic() < deadline and not job.done(), "the long request never started"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_request_over_the_work_budget_is_refused_before_it_starts(server):
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    url, log, _ = server
    client = Client(url, verbose=False)
    t0 = time.monotonic()
    with pytest.raises(AppError) as e:
        client.predict(**dict(LONG, n=64), api_name="/sample")
    msg = str(e.value)
    assert "1,000 network calls × 64 images" in msg and "over the 4 TFLOP" in msg, msg
    assert "at most 32 fit" in msg and "use DDIM" in msg                   # what to lower, by how much
    assert time.monotonic() - t0 < 30                                     # refused, not run
    client.close()


@pytest.mark.slow
def test_cancelled_request_stops_and_frees_the_slot(server):
    from gradio_client import Client
    url, log, _ = server
    client = Client(url, verbose=False)
    mark = len(log.read_text(errors="replace"))
    job = client.submit(**LONG, api_name="/sample")
    wait_until_running(job)
    job.cancel()                                                          # what gradio_client sends: /cancel
    line = wait_for_line(log, "stopped sample after", mark, 60)
    done, total = [int(x.replace(",", "")) for x in line.split("after ")[1].split(" network")[0].split(" of ")]
    assert done < total == 1000
    t0 = time.monotonic()
    client.predict(**SHORT, api_name="/sample")                           # the one compute slot is free again
    assert time.monotonic() - t0 < 120
    client.close()


CLIENT_SCRIPT = """
import sys, time
from gradio_client import Client
client = Client(sys.argv[1], verbose=False)
job = client.submit(**{long}, api_name="/sample")
while not job.status().progress_data:
    time.sleep(0.2)
print("running", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_work_stops_when_the_client_goes_away(server):
    """The client process is killed mid-request (its connections close, as a closed browser tab's do)."""
    from gradio_client import Client
    url, log, tmp = server
    mark = len(log.read_text(errors="replace"))
    child = subprocess.Popen([sys.executable, "-c", CLIENT_SCRIPT.format(long=repr(LONG)), url],
                             stdout=subprocess.PIPE, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    try:
        assert child.stdout.readline().strip() == "running"
        child.kill()
    finally:
        child.kill()
        child.wait()
    line = wait_for_line(log, "stopped sample after", mark, 90)
    assert "the client went away" in line
    client = Client(url, verbose=False)
    t0 = time.monotonic()
    client.predict(**SHORT, api_name="/sample")
    assert time.monotonic() - t0 < 120
    client.close()


@pytest.mark.slow
def test_resume_from_the_api_after_a_stop(server):
    from gradio_client import Client
    url, log, tmp = server
    client = Client(url, verbose=False)
    train = dict(data="digits", zip_file=None, preset="tiny", schedule="linear", objective="eps", weighting="simple",
                 steps=5000, batch_size=8, lr=1e-3, label_dropout=0.1, sample_every=0, image_size=8,
                 base_channels=16, T=T)
    from gradio_client.exceptions import AppError
    with pytest.raises(AppError, match="no run 'nope' of this app to resume"):
        client.predict(run="nope", zip_file=None, api_name="/train_resume")
    *_, st = client.predict(**train, api_name="/train_start")
    run_id = st["run_id"]
    deadline = time.monotonic() + 300
    while st["step"] < 2:
        assert time.monotonic() < deadline and st["state"] in ("starting", "running"), st
        time.sleep(0.5)
        *_, st = client.predict(api_name="/train_status")
    client.predict(api_name="/train_stop")
    while st["state"] != "stopped":
        assert time.monotonic() < deadline and st["state"] in ("running", "stopping"), st
        time.sleep(0.5)
        *_, st = client.predict(api_name="/train_status")
    stopped_at = st["step"]
    *_, st = client.predict(run=run_id, zip_file=None, api_name="/train_resume")
    assert st["run_id"] == run_id and st["state"] in ("starting", "running") and st["step"] <= stopped_at
    client.predict(api_name="/train_stop")      # (the handler-level test above follows a resumed run to its end)
    client.close()
