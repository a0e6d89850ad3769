"""Hostile checkpoint headers (issue 12): the bundled checkpoint with its JSON config edited must be refused with
a CheckpointError naming the field, in under 2 s and with under 200 MB of resident-memory growth, because every
config field is range-checked and the declared tensor shapes are compared with the config before anything is
allocated. Memory is the peak resident set size sampled every millisecond from /proc/self/statm while the load runs.
"""
import json
import os
import threading
import time
from pathlib import Path

import pytest
import torch

from ddpm import CheckpointError, load_checkpoint
from ddpm.formats.base import diffusion_bytes
from ddpm.formats.limits import LIMITS, estimate_bytes, header_shapes

BUNDLED = Path(__file__).resolve().parents[1] / "checkpoints" / "digits_tiny.safetensors"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRSS:
    """Peak resident memory above the starting level while the block runs (sampled every ~1 ms)."""

    def __enter__(self):
        self.start = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.001)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        self.growth = self.peak - self.start
        return False


def edited_copy(tmp_path: Path, edit) -> Path:
    """The bundled checkpoint with edit(meta) applied to its JSON config; the tensor bytes are untouched."""
    data = BUNDLED.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    meta = json.loads(header["__metadata__"]["ddpm"])
    edit(meta)
    header["__metadata__"]["ddpm"] = json.dumps(meta)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    out = tmp_path / "edited.safetensors"
    out.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n:])
    return out


def _set(section, **kw):
    def edit(meta):
        (meta[section] if section else meta).update(kw)
    return edit


HOSTILE = {
    # the cases, as found by editing the bundled checkpoint's header
    "T=1e9": (_set("diffusion", T=1_000_000_000), "T=1000000000"),
    "T=1e7": (_set("diffusion", T=10_000_000), "T=10000000"),
    "T=1e5": (_set("diffusion", T=100_000), "T=100000"),
    "num_classes=15M": (_set("model", num_classes=15_000_000), "num_classes=15000000"),
    "base_channels=1024": (_set("model", base_channels=1024), "base_channels=1024"),
    "base_channels=100000": (_set("model", base_channels=100_000), "base_channels=100000"),
    "base_channels=512 (in range, wrong shapes)": (_set("model", base_channels=512), "do not fit"),
    "image_size=4096": (_set("model", image_size=4096, attention_resolutions=[4096]), "image_size=4096"),
    "image_size=32 + attention at 32": (_set("model", image_size=32, attention_resolutions=[32]), "do not fit"),
    "attention_resolutions=[1e9]": (_set("model", attention_resolutions=[10**9]), "attention_resolutions"),
    "step='abc'": (_set(None, step="abc"), "step='abc'"),
    "step=-1": (_set(None, step=-1), "step=-1"),
    "T='1000'": (_set("diffusion", T="1000"), "T='1000'"),
    "num_heads=0": (_set("model", num_heads=0), "num_heads=0"),
    "channel_mult 100 levels": (_set("model", channel_mult=[1] * 100), "channel_mult"),
    "custom betas out of range": (_set("diffusion", schedule="custom", betas=[0.5, 1.5]), "betas[1]=1.5"),
    "unknown model field": (_set("model", width_factor=99), "unknown fields ['width_factor']"),
    "class_names a string": (_set(None, class_names="x" * 1000), "class_names"),
    # malformed headers (issue 22): each its own message, where the loader raised TypeError / AttributeError
    "version a string": (_set(None, version="1"), "format version '1' is not a whole number"),
    "version a list": (_set(None, version=[1]), "format version [1] is not a whole number"),
    "version true": (_set(None, version=True), "format version True is not a whole number"),
    "data a string": (_set(None, data="digits"), "its data config is not a JSON object"),
    "train a list": (_set(None, train=[1, 2]), "its train config is not a JSON object"),
    "metrics a number": (_set(None, metrics=5), "its metrics config is not a JSON object"),
    "model a list": (_set(None, model=[1]), "its model config is not a JSON object"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_config_refused_fast_and_without_memory(tmp_path, case):
    edit, expected = HOSTILE[case]
    path = edited_copy(tmp_path, edit)
    t0 = time.perf_counter()
    with PeakRSS() as mem, pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    seconds = time.perf_counter() - t0
    msg = str(info.value)
    assert expected in msg, msg
    assert "edited" in msg or "damaged" in msg      # says what is wrong with the file and what to do
    assert "Traceback" not in msg
    assert seconds < 2.0, f"{case}: refused after {seconds:.2f} s"
    assert mem.growth < 200 * 2**20, f"{case}: resident memory grew by {mem.growth / 2**20:.0f} MB"


def raw_header_copy(tmp_path: Path, raw: str) -> Path:
    """The bundled checkpoint with its "ddpm" config replaced by any text (the tensors untouched)."""
    data = BUNDLED.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header["__metadata__"]["ddpm"] = raw
    out = json.dumps(header).encode()
    out += b" " * (-len(out) % 8)
    path = tmp_path / "raw.safetensors"
    path.write_bytes(len(out).to_bytes(8, "little") + out + data[8 + n:])
    return path


RAW_HEADERS = {   # a header's JSON that is not an object of fields: json.loads recursed out, or .get() failed
    "a JSON list": ("[1, 2, 3]", "its config header is a JSON array, not an object of fields"),
    "a JSON string": ('"ddpm-workbench"', "its config header is a JSON string"),
    "a JSON number": ("12", "its config header is a JSON number"),
    "null": ("null", "its config header is a JSON null"),
    "200,000 arrays deep": ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
    "100,000 objects deep": ('{"a":' * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
    "a version of 5,000 digits": ('{"format": "ddpm-workbench", "version": ' + "9" * 5000 + "}", "not valid JSON"),
}


@pytest.mark.parametrize("case", list(RAW_HEADERS))
def test_a_header_that_is_not_a_config_is_refused_with_its_own_message(tmp_path, case):
    raw, expected = RAW_HEADERS[case]
    path = raw_header_copy(tmp_path, raw)
    t0 = time.perf_counter()
    with PeakRSS() as mem, pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert expected in msg and msg.startswith("raw.safetensors") and str(tmp_path) not in msg, msg
    assert "edited" in msg or "damaged" in msg
    assert time.perf_counter() - t0 < 2.0 and mem.growth < 200 * 2**20


def test_a_long_value_in_a_header_is_quoted_short(tmp_path):
    """A 1 MB format name or schedule: the message quotes ~60 characters of it, never the value."""
    for edit, words in ((_set(None, format="x" * 1_000_000), "file, but a 'ddpm-workbench' file is needed"),
                        (_set("diffusion", schedule="s" * 1_000_000), "schedule='sss")):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(edited_copy(tmp_path, edit))
        assert words in str(info.value) and len(str(info.value)) < 400, str(info.value)[:500]


def test_limits_admit_every_preset_and_the_bundled_model(tmp_path):
    ck = load_checkpoint(BUNDLED)
    assert ck.diffusion_config.T <= LIMITS.max_T
    from ddpm.formats.limits import check_unet_dict, unet_shapes
    from ddpm.unet import PRESETS, preset_config
    for name in PRESETS:      # every preset at 32×32 RGB with 1000 classes passes the range checks
        cfg = preset_config(name, image_size=32, in_channels=3, num_classes=1000)
        assert check_unet_dict(cfg.to_dict(), name) == cfg
        assert sum(torch.Size(s).numel() for s in unet_shapes(cfg).values()) < LIMITS.max_parameters


def test_estimated_bytes_match_the_loaded_model():
    """estimate_bytes (from the header, before loading) is what LoadedCheckpoint.nbytes counts after: the
    parameters and buffers, plus the diffusion tables, whose size per step is measured here against the RSS."""
    ck = load_checkpoint(BUNDLED)
    shapes = {k: s for k, (s, _) in header_shapes(str(BUNDLED), "ema.").items()}
    assert estimate_bytes(shapes, ck.diffusion_config.T) == ck.nbytes
    weights = sum(t.numel() * t.element_size() for t in [*ck.model.parameters(), *ck.model.buffers()])
    assert ck.nbytes - weights == diffusion_bytes(ck.diffusion_config.T)
    import gc
    from ddpm import DiffusionConfig, GaussianDiffusion
    gc.collect()
    before = rss_bytes()
    held = [GaussianDiffusion(DiffusionConfig(T=20_000)) for _ in range(2)]
    gc.collect()
    per_table = (rss_bytes() - before) / len(held)
    assert 0.5 < per_table / diffusion_bytes(20_000) < 1.5, per_table
