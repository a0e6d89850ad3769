"""Where the shipped files (models, classifier, feature networks) are found, in a checkout and when installed.

    bundled_dir() = $DDPM_WORKBENCH_CHECKPOINTS          if set
                  = <checkout>/checkpoints               in a source checkout or an editable install (pip install -e .)
                  = <site-packages>/ddpm/bundled          after `pip install .` (the wheel carries checkpoints/ there)
"""
from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled_dir() -> Path:
    """The folder holding digits_tiny.safetensors, mnist_*.safetensors, features_*.safetensors, ..."""
    env = os.environ.get("DDPM_WORKBENCH_CHECKPOINTS")
    if env:
        return Path(env)
    checkout = _PACKAGE.parent / "checkpoints"
    return checkout if checkout.is_dir() else _PACKAGE / "bundled"


def bundled_file(name: str) -> Path:
    """A shipped file by name, e.g. bundled_file("digits_tiny.safetensors")."""
    return bundled_dir() / name
