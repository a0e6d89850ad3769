"""Packages for pyproject.toml: ddpm, diagnostics, demo, and checkpoints/ shipped as ddpm/bundled (see ddpm/paths.py)."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["ddpm", "ddpm.*", "diagnostics", "diagnostics.*", "demo", "demo.*"])
      + ["ddpm.bundled"],
      package_dir={"ddpm.bundled": "checkpoints"},
      package_data={"ddpm.bundled": ["*.safetensors", "README.md"]},
      include_package_data=False)
