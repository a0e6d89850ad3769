"""pyproject.toml: `pip install .` gives importable ddpm / diagnostics / demo, the console scripts and the shipped
checkpoints, from any folder.

The fresh virtual environment must not download torch & co. again (no network in CI, and torch is a large local
build here), so it sees this environment's packages through a .pth file (a venv created from a venv's python
with --system-site-packages would see the base interpreter's packages, not this venv's), and the project is
installed with --no-deps --no-build-isolation --no-index: only the project's own files go into the new venv.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_pip_install_into_fresh_venv_imports_from_another_folder(tmp_path):
    src = tmp_path / "src"                 # a copy, so the build leaves no build/ or egg-info in the checkout
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("ddpm", "diagnostics", "demo", "checkpoints"):
        shutil.copytree(ROOT / name, src / name, ignore=skip)
    for name in ("pyproject.toml", "setup.py", "README.md", "app.py"):
        shutil.copy2(ROOT / name, src / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    (purelib / "_shared_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    str(src)], check=True, env=env, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = ("import ddpm, diagnostics, demo.launch, ddpm.sources.hf\n"
             "from ddpm.paths import bundled_dir\n"
             "from diagnostics.features import DEFAULT_FEATURE_NET, load_feature_net\n"
             "print(ddpm.__file__); print(diagnostics.__file__); print(bundled_dir())\n"
             "assert (bundled_dir() / 'digits_tiny.safetensors').is_file()\n"
             "print(load_feature_net(DEFAULT_FEATURE_NET).describe())\n")
    out = subprocess.run([str(py), "-c", probe], check=True, capture_output=True, text=True, env=env, cwd=elsewhere)
    lines = out.stdout.splitlines()
    assert all(line.startswith(str(purelib)) for line in lines[:3]), lines   # the installed copy, not the checkout
    assert lines[2].endswith("ddpm/bundled") and lines[3].startswith("digits-cnn-64")
    for script in ("ddpm-train", "ddpm-sample", "ddpm-diagnose", "ddpm-app"):
        r = subprocess.run([str(venv / "bin" / script), "--help"], capture_output=True, text=True, env=env,
                           cwd=elsewhere)
        assert r.returncode == 0 and "usage:" in r.stdout, (script, r.stderr[-2000:])
    assert "--data" in subprocess.run([str(venv / "bin" / "ddpm-train"), "--help"], capture_output=True,
                                      text=True, env=env, cwd=elsewhere).stdout
