import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# The 2 CPU cores are shared with other jobs; under load, OpenMP threads waiting on each other make a small
# forward pass ~100x slower (measured: 1.7 s vs 0.01 s), so the tests run single-threaded, and so do the
# processes they start (the trainer, the app, torchrun), which inherit OMP_NUM_THREADS.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    """The digits at 16×16, split as the trainer and the metrics split them: (train, heldout)."""
    from ddpm.data import load_dataset
    return load_dataset("digits", image_size=16).split(holdout_fraction=0.2, seed=0)


@pytest.fixture(scope="session")
def extractor():
    """The shipped feature network of the sample-quality metrics."""
    from diagnostics.features import load_feature_net
    return load_feature_net()


# ------------------------------------------------------------------------------- the two kinds of CPU
@pytest.fixture(params=["native", "emulated"])
def cpu_kind(request, monkeypatch):
    """Run a precision-sensitive test as on a CPU that computes bf16 natively and as on one that emulates it
    (DDPM_CPU_BF16, read by ddpm.device.cpu_has_native_bf16: only the decision changes, the arithmetic is this
    CPU's). The variable reaches the processes the test starts (the app, the trainer) too."""
    from ddpm.device import CPU_BF16_ENV
    monkeypatch.setenv(CPU_BF16_ENV, request.param)
    return request.param


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test is a failed one: a test of the project's own code that did not run checked nothing.
    (.ci/run sets CI=true, so a local run of it cannot skip either.)"""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI", "").lower() in ("1", "true", "yes") and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which runs every test: {reason}"


# ------------------------------------------------------------------------------------- tiny networks
def _randomize_unet(model, seed: int = 0):
    """A fresh U-Net's zero-initialised output convs (the last layer, and each residual / attention block's
    output) make it output 0 whatever its input; give those weights small random values so a test can see
    that the inputs matter. Returns the model in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1 and not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()


def _random_unet(num_classes: int = 0, seed: int = 0, image_size: int = 8, base_channels: int = 16):
    """The tiny preset at 8×8, base 16 (a few ms to build), with every weight random and non-zero."""
    from ddpm.unet import UNet, preset_config
    torch.manual_seed(seed)
    model = UNet(preset_config("tiny", image_size=image_size, base_channels=base_channels, num_classes=num_classes))
    return _randomize_unet(model, seed)


@pytest.fixture(scope="session")
def randomize_unet():
    """randomize_unet(model, seed=0): the model with its zero-initialised weights made random (eval mode)."""
    return _randomize_unet


@pytest.fixture(scope="session")
def random_unet():
    """random_unet(num_classes=0, seed=0, image_size=8, base_channels=16): a tiny U-Net whose output depends
    on its inputs (no zero output layer)."""
    return _random_unet


def _write_tiny_checkpoint(path: Path, step: int = 0, num_classes: int = 10, seed: int = 0, T: int = 100,
                           image_size: int = 8) -> Path:
    """An untrained tiny U-Net (8×8 unless asked, base 16) saved as a digits checkpoint: what the app's tests load in
    place of the bundled model, so DDPM's all-T-steps runs take seconds. The app's plumbing does not
    depend on what the weights have learned."""
    from ddpm import DiffusionConfig, UNet, preset_config, save_checkpoint
    torch.manual_seed(seed)
    model = UNet(preset_config("tiny", image_size=image_size, base_channels=16, num_classes=num_classes))
    save_checkpoint(path, model=model, ema_model=None, diffusion_config=DiffusionConfig(T=T),
                    class_names=[str(i) for i in range(num_classes)], step=step,
                    data={"name": "digits", "source": "digits", "image_size": image_size, "channels": 1})
    return Path(path)


@pytest.fixture(scope="session")
def write_tiny_checkpoint():
    """write_tiny_checkpoint(path, step=0, num_classes=10, seed=0, T=100, image_size=8) -> path."""
    return _write_tiny_checkpoint


def _write_image_zip(path: Path, classes=("a", "b"), per_class: int = 4, size: int = 8, seed: int = 0) -> Path:
    import io
    import zipfile

    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(path, "w") as zf:
        for c in classes:
            for i in range(per_class):
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(buf, format="PNG")
                zf.writestr(f"{c}/{i}.png", buf.getvalue())
    return path


@pytest.fixture(scope="session")
def write_image_zip():
    """write_image_zip(path, classes=("a", "b"), per_class=4, size=8, seed=0) -> path: a .zip of class folders of
    random grey PNGs (a data set the shipped feature networks do not fit)."""
    return _write_image_zip


# ------------------------------------------------------------------------------------------ the app's handlers
@pytest.fixture(scope="module")
def restore_torch_threads():
    """The app's cache sets torch's thread count for the whole process; give it back to other tests."""
    import torch
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def app_tiny_ckpt(tmp_path_factory, write_tiny_checkpoint) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture
def app_env(tmp_path, monkeypatch, app_tiny_ckpt):
    """The handlers' tests: each its own runs folder; the bundled checkpoint is the tiny one; no benchmark file
    (use with pytestmark = pytest.mark.usefixtures("restore_torch_threads", "app_env"))."""
    from demo.tabs import train
    monkeypatch.setenv("DDPM_WORKBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DDPM_WORKBENCH_CHECKPOINT", str(app_tiny_ckpt))
    monkeypatch.setenv("DDPM_WORKBENCH_BENCH", str(tmp_path / "no_bench.json"))
    yield
    jobs = train._JOBS.pop(str((tmp_path / "runs").resolve()), None)
    if jobs is not None:
        jobs.shutdown(timeout=60)


# ------------------------------------------------------------------------------------------ the app
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_app(tmp: Path, env_extra: dict) -> tuple[subprocess.Popen, str, Path]:
    """Start app.py in its own process group; returns (process, url, log path) once it answers."""
    port = _free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT),
               GRADIO_TEMP_DIR=str(tmp / "gradio"), DDPM_WORKBENCH_RUNS=str(tmp / "runs"),
               DDPM_WORKBENCH_TRAIN_THREADS="1", **env_extra)
    env.pop("SPACE_ID", None)
    log = tmp / "app.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port),
                                 "--no-browser"], cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return proc, url, log
        except OSError:
            time.sleep(0.5)
    _stop_app(proc, tmp / "runs")
    raise RuntimeError(f"app.py did not answer within 180 s:\n{log.read_text()}")


def _stop_app(proc: subprocess.Popen, runs: Path) -> None:
    """Stop the server, then any training child it left (by the pid its run folder recorded)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:       # gradio can sit out its full shutdown while a browser keeps a connection open: don't wait 30 s
            proc.wait(8)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    for job in runs.glob("*/job.json") if runs.is_dir() else []:
        pid = json.loads(job.read_text()).get("pid")
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"ddpm.train" in cmdline and str(job.parent).encode() in cmdline:
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def _running_app(tmp: Path, env_extra: dict):
    proc, url, _ = _start_app(tmp, env_extra)
    try:
        yield url
    finally:
        _stop_app(proc, tmp / "runs")


@pytest.fixture(scope="session")
def app_server():
    """`with app_server(tmp, env) as url:` `python app.py` on 127.0.0.1 and a free port, its runs and
    gradio's files under tmp, stopped (with any training child it left) when the block ends."""
    return _running_app
