"""DDPM Workbench core: schedules, the Gaussian diffusion process, a class-conditional U-Net, training,
samplers with guidance, and safe checkpoints. Knows nothing of diagnostics or the UI."""
from .schedules import SCHEDULES, make_betas
from .diffusion import DiffusionConfig, GaussianDiffusion, LOSSES, OBJECTIVES, SamplingDefaults, WEIGHTINGS
from .unet import PRESETS, UNet, UNetConfig, count_parameters, preset_config
from .checkpoint import (CheckpointError, LoadedCheckpoint, export_checkpoint, load_checkpoint,
                         read_metadata, save_checkpoint)
from .samplers import SAMPLERS, DDIMSampler, DDPMSampler, DPMSolverPP, UniPC, ddim_timesteps, make_sampler
from .guidance import GuidanceInterval
from .sampling import SampleResult, Trajectory, generate, initial_noise
from .device import pick_device
from .export import export_diffusers

__all__ = [
    "SCHEDULES", "make_betas", "DiffusionConfig", "GaussianDiffusion", "LOSSES", "OBJECTIVES", "WEIGHTINGS",
    "PRESETS", "UNet", "UNetConfig", "count_parameters", "preset_config", "CheckpointError", "LoadedCheckpoint",
    "export_checkpoint", "load_checkpoint", "read_metadata", "save_checkpoint", "DDIMSampler", "DDPMSampler",
    "DPMSolverPP", "UniPC", "SAMPLERS", "ddim_timesteps", "make_sampler", "SampleResult", "Trajectory", "generate",
    "initial_noise",
    "GuidanceInterval", "pick_device", "SamplingDefaults", "export_diffusers",
]
