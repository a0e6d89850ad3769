"""Packages for pyproject.toml: ddpm, diagnostics, demo, and checkpoints/ shipped as ddpm/bundled (see ddpm/paths.py)."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["ddpm", "ddpm.*", "diagnostics", "diagnostics.*", "demo", "demo.*"])
      + ["ddpm.bundled"],
      package_dir={"ddpm.bundled": "checkpoints"},
      package_data={"ddpm.bundled": ["*.safetensors", "README.md"],
                    "ddpm.sources": ["data/emoji64.npz", "data/emoji_NOTICE.txt"],
                    "ddpm": ["locales/*.toml"], "diagnostics": ["locales/*.toml"], "demo": ["locales/*.toml"]},
      include_package_data=False)
