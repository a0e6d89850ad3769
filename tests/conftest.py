import os
import sys
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
