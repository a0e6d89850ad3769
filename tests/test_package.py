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


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The project pip-installed into a fresh venv from a copy of the checkout: (venv, its purelib, env, a folder
    outside the checkout to run from)."""
    tmp_path = tmp_path_factory.mktemp("pkg")
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
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV",
                                                            "DDPM_WORKBENCH_CHECKPOINTS")}
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    str(src)], check=True, env=env, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return venv, purelib, env, elsewhere


@pytest.mark.slow
def test_pip_install_into_fresh_venv_imports_from_another_folder(installed):
    venv, purelib, env, elsewhere = installed
    py = venv / "bin" / "python"
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
    for script in ("ddpm-train", "ddpm-sample", "ddpm-diagnose"):      # every CLI takes --threads
        assert "--threads" in subprocess.run([str(venv / "bin" / script)] + (["report"] if "diag" in script else [])
                                             + ["--help"], capture_output=True, text=True, env=env,
                                             cwd=elsewhere).stdout, script


@pytest.mark.slow
def test_installed_package_finds_the_bundled_models_by_name_from_any_folder(installed):
    """`--ckpt mnist`, load_checkpoint("bundled:mnist"), and a README command's checkpoints/digits_tiny.safetensors,
    run from a folder with no checkpoints/ in it: all read the copies installed with the package."""
    venv, purelib, env, elsewhere = installed
    probe = ("from ddpm import load_checkpoint\n"
             "for ref in ('bundled:mnist', 'digits', 'checkpoints/digits_tiny.safetensors'):\n"
             "    print(load_checkpoint(ref).path)\n")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, env=env,
                         cwd=elsewhere)
    assert out.returncode == 0, out.stderr[-2000:]
    bundled = purelib / "ddpm" / "bundled"
    assert out.stdout.split() == [str(bundled / "mnist_tiny.safetensors"), str(bundled / "digits_tiny.safetensors"),
                                  str(bundled / "digits_tiny.safetensors")]
    r = subprocess.run([str(venv / "bin" / "ddpm-sample"), "--ckpt", "mnist", "--labels", "all", "--n", "10",
                        "--steps", "2", "--out", "m.png", "--quiet"], capture_output=True, text=True, env=env,
                       cwd=elsewhere)
    assert r.returncode == 0 and (elsewhere / "m.png").is_file(), r.stderr[-2000:]


@pytest.mark.slow
def test_ddpm_app_without_gradio_says_how_to_install_it(installed, tmp_path):
    venv, _, env, elsewhere = installed
    fake = tmp_path / "no_gradio" / "gradio"          # shadows the installed gradio: as if the [app] extra were left out
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'gradio'\", name='gradio')\n")
    r = subprocess.run([str(venv / "bin" / "ddpm-app")], capture_output=True, text=True,
                       env=dict(env, PYTHONPATH=str(fake.parent)), cwd=elsewhere)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "the app needs gradio, which is not installed" in r.stderr and "pip install 'ddpm-workbench[app]'" in r.stderr
