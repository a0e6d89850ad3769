"""Per-request limits of the app, in one place: the UI shows them (info= text) and the handlers enforce them.

They bound what one request can cost on a shared CPU Space; the CLI and the Python API have their own,
much wider, limits.
"""
from __future__ import annotations

# The queue: requests that run at once (more wait their turn); on a 2-core CPU Space each gets one core
CONCURRENCY_LIMIT = 2
QUEUE_MAX_SIZE = 64

# Sampling (Sample and Compare tabs)
MAX_IMAGES = 64                  # images per Sample request
MAX_COMPARE_IMAGES = 16          # images per Compare request (DDPM runs all T steps for each)
MAX_GUIDANCE = 10.0              # classifier-free guidance scale w in [0, MAX_GUIDANCE]
MAX_TEMPERATURE = 2.0            # x_T and step-noise temperatures in [0, MAX_TEMPERATURE]
MAX_SEED = 2**31 - 1
TRAJECTORY_FRAMES = 10           # x_t / x̂_0 frames kept for the "how a sample forms" slider
DEFAULT_SAMPLE = dict(sampler="DDIM", steps=25, eta=0.0, n=16, seed=0, guidance=1.0, temperature=1.0)

# Uploads
MAX_UPLOAD_MB = 50               # a checkpoint or a training .zip
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 2**20

# Training (Train tab); one job at a time for the whole app
MAX_TRAIN_STEPS = 20_000
MAX_BATCH_SIZE = 512
MAX_T = 1000                     # diffusion steps of a model trained from the app
MIN_T = 10
IMAGE_SIZES = (8, 16, 32)        # must be divisible by 4 for the presets' three levels
MAX_BASE_CHANNELS = 128          # 0 = the preset's own width
LR_RANGE = (1e-5, 1e-2)
MIN_SAMPLE_EVERY = 50            # a sample grid costs a 25-step DDIM run: not more often than this
TRAIN_PRESETS = ("tiny", "small")  # base/large are too slow for a CPU Space

# Sample quality vs steps (Compare tab), the quick on-the-spot measurement
QUICK_QUALITY_N = 64             # images per setting: enough to rank settings, not a publishable FID
QUICK_QUALITY_STEPS = (5, 10, 25, 50)
QUICK_QUALITY_ETAS = (0.0, 1.0)
QUICK_QUALITY_MAX_DDPM_T = 200   # DDPM over all T steps joins the quick set only up to this T (the benchmark has it)


def sample_info() -> dict[str, str]:
    """info= texts for the sampling widgets."""
    return {
        "n": f"1–{MAX_IMAGES} images per request",
        "n_compare": f"1–{MAX_COMPARE_IMAGES} images (DDPM runs all T steps for each)",
        "steps": "DDIM steps S, 1 to the model's T; DDPM always runs all T steps",
        "guidance": f"0 = unconditional, 1 = plain conditional, >1 = stronger class (max {MAX_GUIDANCE:g})",
        "eta": "DDIM only: 0 = deterministic, 1 = DDPM-like noise",
        "temperature": f"scales the starting noise x_T (0–{MAX_TEMPERATURE:g}; 1 is standard)",
        "noise_temperature": f"scales the noise added at each step (0–{MAX_TEMPERATURE:g}; 1 is standard)",
        "upload": f"a .safetensors file written by `python -m ddpm.train`, at most {MAX_UPLOAD_MB} MB",
    }


def train_info() -> dict[str, str]:
    """info= texts for the training widgets."""
    return {
        "steps": f"optimizer steps, 1–{MAX_TRAIN_STEPS:,}",
        "batch_size": f"1–{MAX_BATCH_SIZE}",
        "lr": f"peak learning rate, {LR_RANGE[0]:g}–{LR_RANGE[1]:g}",
        "zip": f"a .zip with one folder per class holding PNG/JPEG images (e.g. `cats/001.png`), at most "
               f"{MAX_UPLOAD_MB} MB; it is kept only in the run's folder until the trainer has read it",
        "T": f"diffusion steps T, {MIN_T}–{MAX_T}",
        "base_channels": f"0 = the preset's width; else a multiple of 8 up to {MAX_BASE_CHANNELS}",
        "sample_every": f"a new sample grid every N steps (0 = only at the end, else at least {MIN_SAMPLE_EVERY})",
        "label_dropout": "share of labels replaced by the null label, for classifier-free guidance (0–0.5)",
    }
