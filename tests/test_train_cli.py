"""The training CLI on a small machine: it reports from its first second (the data loading included), says from which
step a resume goes on (or that --resume auto found nothing), ends an early stop with the last finite loss, and takes
--threads. Tiny runs: 8×8 digits, base_channels 16, T = 50."""
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from ddpm.threads import DEFAULT_THREADS, default_threads, set_threads
from ddpm.train import TrainConfig, TrainStatus, finished_line, main, train

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--data", "digits", "--image-size", "8", "--preset", "tiny", "--base-channels", "16", "--batch-size", "16",
         "--T", "50", "--sample-every", "0", "--warmup-steps", "1"]


def _cfg(out, **kw):
    return TrainConfig(out=str(out), data="digits", image_size=8, preset="tiny", base_channels=16, batch_size=16,
                       T=50, sample_every=0, save_every=0, warmup_steps=1, **kw)


def test_status_reports_setup_then_every_step(tmp_path):
    seen: list[TrainStatus] = []
    train(_cfg(tmp_path / "run", steps=3, log_every=25), status=seen.append)
    phases = [s.phase for s in seen]
    assert phases == ["loading_data", "data_loaded", "step", "step", "step"]
    assert [s.step for s in seen if s.phase == "step"] == [1, 2, 3] and {s.total for s in seen} == {3}
    assert str(seen[0].message) == "loading the data set digits …"
    assert str(seen[1].message).startswith("data: digits: ") and "training class-conditionally" in str(seen[1].message)


def test_early_stop_between_log_lines_reports_the_last_finite_loss(tmp_path):
    """Stopped at step 2 with a log line due only at step 25: the loss is the mean of steps 1-2, not NaN."""
    stop, losses = threading.Event(), []

    def on_status(s: TrainStatus) -> None:
        if s.phase == "step" and s.step == 2:
            stop.set()
    result = train(_cfg(tmp_path / "run", steps=100, log_every=25), stop_event=stop, status=on_status)
    assert result.stopped_early and result.step == 2 and math.isfinite(result.final_loss) and result.final_loss > 0
    line = str(finished_line(result))
    assert line.startswith(f"stopped at step 2: last loss {result.final_loss:.4f} (the mean of the steps since")
    assert "nan" not in line
    # and a stop before any step of this session says there is no loss, rather than "loss nan"
    stop.set()
    nothing = train(_cfg(tmp_path / "run", steps=100, log_every=25, resume="auto"), stop_event=stop)
    assert nothing.step == 2 and math.isnan(nothing.final_loss)
    assert str(finished_line(nothing)).startswith("stopped at step 2 before this session trained a step: no loss")


def test_cli_says_where_a_resume_starts(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(SMALL + ["--out", out, "--steps", "2", "--resume", "auto", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"--resume auto: there is no {out}/last.safetensors yet, so training starts at step 0" in err
    assert "loading the data set digits …" in err and "data: digits: " in err
    assert main(SMALL + ["--out", out, "--steps", "4", "--resume", "auto", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert f"resumed from {out}/last.safetensors at step 2 of 4" in captured.err
    assert captured.out.startswith("finished at step 4: loss ")


def test_cli_threads(tmp_path, capsys, monkeypatch):
    assert main(SMALL + ["--out", str(tmp_path / "a"), "--steps", "1", "--threads", "0", "--quiet"]) == 2
    assert "--threads must be a whole number >= 1 (got 0)" in capsys.readouterr().err
    before = torch.get_num_threads()
    try:
        assert set_threads(2) == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert default_threads() == 3                 # the app sets it for its training runs: respected
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.setattr("ddpm.threads.usable_cores", lambda: 2)
        assert default_threads() == DEFAULT_THREADS == 1 and set_threads(None) == 1
        monkeypatch.setattr("ddpm.threads.usable_cores", lambda: 16)
        assert default_threads() is None              # torch's own choice on machines not measured
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_ctrl_c_prints_the_last_finite_loss(tmp_path):
    """The issue's case: Ctrl-C (SIGINT) a few steps in, long before the first log line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "ddpm.train", *SMALL, "--steps", "1000", "--log-every", "500",
                                 "--out", str(tmp_path / "run"), "--threads", "1"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=err_file, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:            # the bar: "train:   0%| 3/1000 ..."
            done = [int(n) for n in re.findall(r"(\d+)/1000", log.read_text())]
            if done and max(done) >= 3:
                break
            time.sleep(0.2)
        else:
            proc.kill()
            pytest.fail("the bar never reached step 3: " + log.read_text()[-2000:])
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    err = log.read_text()
    assert proc.returncode == 0, err[-2000:]
    assert err.index("loading the data set digits") < err.index("data: digits") < err.index("train:")
    m = re.match(r"stopped at step (\d+): last loss (\S+) ", out)
    assert m and int(m.group(1)) >= 3 and math.isfinite(float(m.group(2))), out
