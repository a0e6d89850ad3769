"""Tests for ddpm.checkpoint: exact round trips, rebuilding from the file alone, refusing pickles and damaged
files with a clear message, atomic writes and export without training state."""
import json
import os
import pickle

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import ddpm.checkpoint as ckpt_mod
from ddpm.checkpoint import (CheckpointError, export_checkpoint, load_checkpoint, load_train_state, read_metadata,
                             save_checkpoint)
from ddpm.diffusion import DiffusionConfig


CLASSES = ["zero", "one", "two"]


@pytest.fixture(scope="module")
def models(random_unet):
    return random_unet(3, seed=0), random_unet(3, seed=1)     # (raw, EMA): different weights, so a mix-up shows


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(3)
    return torch.randn(2, 1, 8, 8, generator=g), torch.tensor([3, 700]), torch.tensor([1, 3])


def _save(path, models, train_state=None, ema=True):
    raw, ema_model = models
    dcfg = DiffusionConfig(schedule="cosine", T=100, objective="v")
    save_checkpoint(path, model=raw, ema_model=ema_model if ema else None, diffusion_config=dcfg,
                    class_names=CLASSES, step=42, data={"name": "digits"}, train={"lr": 1e-3},
                    metrics={"loss": 0.5}, train_state=train_state)
    return dcfg


@pytest.fixture
def saved(tmp_path, models):
    path = tmp_path / "run" / "last.safetensors"
    _save(path, models)
    return path


def test_round_trip_ema_and_raw_identical_outputs(saved, models, inputs):
    raw, ema = models
    with torch.no_grad():
        want_raw, want_ema = raw(*inputs), ema(*inputs)
    assert not torch.equal(want_raw, want_ema)
    ck = load_checkpoint(saved)                      # nothing else passed: rebuilt from the file alone
    assert ck.weights == "ema" and not ck.model.training
    with torch.no_grad():
        assert torch.equal(ck.model(*inputs), want_ema)
    ck_raw = load_checkpoint(saved, weights="raw")
    assert ck_raw.weights == "raw"
    with torch.no_grad():
        assert torch.equal(ck_raw.model(*inputs), want_raw)
    for k, v in raw.state_dict().items():
        assert torch.equal(ck_raw.model.state_dict()[k], v), k


def test_load_rebuilds_config_and_diffusion(saved, models):
    ck = load_checkpoint(saved)
    assert ck.unet_config == models[0].config
    assert ck.diffusion_config == DiffusionConfig(schedule="cosine", T=100, objective="v")
    assert ck.diffusion.T == 100 and ck.diffusion.objective == "v"
    assert ck.class_names == CLASSES and ck.num_classes == 3 and ck.image_shape == (1, 8, 8)
    assert ck.step == 42 and not ck.has_train_state
    assert ck.meta["data"] == {"name": "digits"} and ck.meta["metrics"] == {"loss": 0.5}
    assert read_metadata(saved)["model"] == models[0].config.to_dict()


def test_without_ema_falls_back_to_raw(tmp_path, models, inputs):
    path = tmp_path / "noema.safetensors"
    _save(path, models, ema=False)
    ck = load_checkpoint(path)
    assert ck.weights == "raw"
    with torch.no_grad():
        assert torch.equal(ck.model(*inputs), models[0](*inputs))
    with pytest.raises(ValueError, match="weights must be 'ema' or 'raw'"):
        load_checkpoint(path, weights="best")


def test_train_state_round_trip(tmp_path, models, random_unet):
    raw = models[0]
    opt = torch.optim.AdamW(raw.parameters(), lr=1e-3)
    raw.train()
    raw(torch.randn(2, 1, 8, 8), torch.tensor([1, 2]), torch.tensor([0, 1])).square().mean().backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    raw.eval()
    g = torch.Generator().manual_seed(9)
    rng = {"data": g.get_state(), "torch": torch.get_rng_state()}
    path = tmp_path / "ts.safetensors"
    _save(path, models, train_state={"optimizer": opt.state_dict(), "rng": rng, "extra": {"epoch": 3}})
    st = load_train_state(path)
    assert st["extra"] == {"epoch": 3} and st["meta"]["step"] == 42
    assert torch.equal(st["rng"]["data"], rng["data"]) and torch.equal(st["rng"]["torch"], rng["torch"])
    opt2 = torch.optim.AdamW(random_unet(3, seed=5).parameters(), lr=1e-3)
    opt2.load_state_dict(st["optimizer"])
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"][0]["lr"] == s2["param_groups"][0]["lr"]
    for i, s in s1["state"].items():
        for k, v in s.items():
            assert torch.equal(s2["state"][i][k], v), (i, k)
    for k, v in raw.state_dict().items():
        assert torch.equal(st["model"][k], v)
    assert load_checkpoint(path).has_train_state


class _Marker:
    """Unpickling this runs a shell command that creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _OpenMarker:
    """Unpickling this creates the marker file through builtins.open."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("how", ["torch.save", "pickle-proto2", "pickle-proto0", "pickle-open"])
def test_malicious_pickle_refused_and_never_run(tmp_path, how):
    marker = tmp_path / "PWNED"
    path = tmp_path / "model.safetensors"      # the name does not make it safe
    if how == "torch.save":
        torch.save({"state_dict": _Marker(marker)}, path)
    elif how == "pickle-proto2":
        path.write_bytes(pickle.dumps(_Marker(marker), protocol=2))
    elif how == "pickle-proto0":                 # protocol 0 starts with text, not b"\x80"
        path.write_bytes(pickle.dumps(_Marker(marker), protocol=0))
    else:
        path.write_bytes(pickle.dumps(_OpenMarker(marker)))
    for fn in (load_checkpoint, read_metadata, load_train_state):
        with pytest.raises(CheckpointError) as e:
            fn(path)
        assert "model.safetensors" in str(e.value)
    # binary pickles (torch.save's zip, protocol >= 2) are named as such; a text pickle is simply not safetensors
    match = "not a readable safetensors" if how == "pickle-proto0" else "is a PyTorch pickle"
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)
    assert not marker.exists(), "the pickle was executed"


@pytest.mark.parametrize("first_bytes", [b"\x80", b"PK"])
def test_valid_checkpoint_whose_header_length_looks_like_a_pickle(saved, tmp_path, inputs, models, first_bytes):
    """A safetensors file starts with its header length as a little-endian u64: a header of 384 bytes starts the
    file with 0x80 (the pickle opcode PROTO), one of 19280 bytes (0x4B50) with b"PK" (the zip magic).
    Such files are valid checkpoints and must load (regression: 1 in 32 header sizes was refused)."""
    from safetensors.torch import save as st_save
    meta = read_metadata(saved)
    with safe_open(str(saved), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    wanted = int.from_bytes(first_bytes, "little")              # the header length modulo 256^len
    modulus = 256 ** len(first_bytes)

    def blob_with(pad):
        return st_save(tensors, metadata={"ddpm": json.dumps(dict(meta, metrics={"pad": "x" * pad}))})

    # each pad character adds one header byte (before safetensors' alignment to 8): aim, then search nearby
    base = int.from_bytes(blob_with(0)[:8], "little")
    aim = base + (wanted - base) % modulus
    for pad in range(max(0, aim - base - 16), aim - base + 16):
        blob = blob_with(pad)
        if int.from_bytes(blob[:8], "little") % modulus == wanted:
            break
    else:
        pytest.fail("no padding gives the wanted header length")
    assert blob[:len(first_bytes)] == first_bytes
    p = tmp_path / "lookalike.safetensors"
    p.write_bytes(blob)
    ck = load_checkpoint(p)
    with torch.no_grad():
        assert torch.equal(ck.model(*inputs), models[1](*inputs))


def test_empty_file(tmp_path):
    p = tmp_path / "empty.safetensors"
    p.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty \(0 bytes\)"):
        load_checkpoint(p)


@pytest.mark.parametrize("keep", [0.5, 100, 7])
def test_truncated_file(saved, tmp_path, keep):
    data = saved.read_bytes()
    n = int(len(data) * keep) if keep < 1 else keep
    p = tmp_path / "trunc.safetensors"
    p.write_bytes(data[:n])
    with pytest.raises(CheckpointError, match="trunc.safetensors.*(truncated|damaged)"):
        load_checkpoint(p)


def test_last_byte_missing(saved, tmp_path):
    p = tmp_path / "cut.safetensors"
    p.write_bytes(saved.read_bytes()[:-1])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(p)


def test_random_bytes(tmp_path):
    p = tmp_path / "noise.safetensors"
    p.write_bytes(torch.randint(0, 256, (5000,), generator=torch.Generator().manual_seed(0),
                                dtype=torch.uint8).numpy().tobytes())
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(p)


def test_safetensors_without_our_header(tmp_path, models):
    p = tmp_path / "foreign.safetensors"
    save_file({k: v.contiguous() for k, v in models[0].state_dict().items()}, p)
    with pytest.raises(CheckpointError, match="not a DDPM Workbench checkpoint.*no 'ddpm' config"):
        load_checkpoint(p)
    p2 = tmp_path / "other.safetensors"
    save_file({"a": torch.zeros(2)}, p2, metadata={"ddpm": json.dumps({"format": "something-else"})})
    with pytest.raises(CheckpointError, match="'something-else' file"):
        load_checkpoint(p2)
    p3 = tmp_path / "badjson.safetensors"
    save_file({"a": torch.zeros(2)}, p3, metadata={"ddpm": "{not json"})
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(p3)


def test_newer_version_and_edited_config(saved, tmp_path):
    meta = read_metadata(saved)
    with safe_open(str(saved), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    newer = dict(meta, version=meta["version"] + 1)
    p = tmp_path / "newer.safetensors"
    save_file(tensors, p, metadata={"ddpm": json.dumps(newer)})
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(p)
    wider = dict(meta, model=dict(meta["model"], base_channels=32))
    p = tmp_path / "wider.safetensors"
    save_file(tensors, p, metadata={"ddpm": json.dumps(wider)})
    with pytest.raises(CheckpointError, match="do not fit the saved architecture"):
        load_checkpoint(p)
    broken = dict(meta, model=dict(meta["model"], image_size=2))
    p = tmp_path / "broken.safetensors"
    save_file(tensors, p, metadata={"ddpm": json.dumps(broken)})
    with pytest.raises(CheckpointError, match="config does not build"):
        load_checkpoint(p)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("weights", ["ema", "raw"])
def test_non_finite_weights_are_refused_at_load_by_the_tensor_s_name(saved, tmp_path, bad, weights):
    """A network with a NaN weight samples a black grid without a word: refused when read, naming the tensor."""
    meta = read_metadata(saved)
    with safe_open(str(saved), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    name = sorted(k for k in tensors if k.startswith("ema." if weights == "ema" else "model."))[3]
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = bad
    p = tmp_path / "diverged.safetensors"
    save_file(tensors, p, metadata={"ddpm": json.dumps(meta)})
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(p, weights=weights)
    short = name.split(".", 1)[1]
    assert str(info.value).startswith(f"diverged.safetensors: tensor {short} holds NaN or infinite values"), info.value
    other = "raw" if weights == "ema" else "ema"
    assert load_checkpoint(p, weights=other).weights == other        # the other set of weights is still fine


def test_non_finite_weights_in_a_diffusers_zip_are_refused(tmp_path):
    from tools.hostile_files import diffusers_zip as _diffusers_zip
    assert load_checkpoint(_diffusers_zip(tmp_path / "fine.zip", nan=False)).source.startswith("diffusers")
    with pytest.raises(CheckpointError, match=r"^bad\.zip: tensor \S+ holds NaN or infinite values"):
        load_checkpoint(_diffusers_zip(tmp_path / "bad.zip", nan=True))


def test_folder_and_missing_path(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_over_size_limit(saved):
    size = saved.stat().st_size
    with pytest.raises(CheckpointError, match="over the .* limit"):
        load_checkpoint(saved, max_bytes=size - 1)
    load_checkpoint(saved, max_bytes=size)      # exactly at the limit is fine


def _grow_sparse(path, extra_bytes):
    """Append a tensor 'pad.big' of extra_bytes zero bytes to a safetensors file, as a hole (no disk used)."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    header["pad.big"] = {"dtype": "U8", "shape": [extra_bytes], "data_offsets": [len(body), len(body) + extra_bytes]}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little") + raw + body)
        f.truncate(8 + len(raw) + len(body) + extra_bytes)


def test_resumable_file_over_the_upload_limit_still_resumes_and_exports(tmp_path, models):
    """A "base" run's last.safetensors (weights + EMA + two Adam moments of 34.8M parameters ≈ 556 MB) is over
    the 512 MB upload limit; resuming and the end-of-run export must still read it (regression)."""
    opt = torch.optim.Adam(models[0].parameters())
    src = tmp_path / "last.safetensors"
    _save(src, models, train_state={"optimizer": opt.state_dict(), "rng": {"torch": torch.get_rng_state()}})
    _grow_sparse(src, ckpt_mod.DEFAULT_MAX_BYTES)
    assert src.stat().st_size > ckpt_mod.DEFAULT_MAX_BYTES
    with pytest.raises(CheckpointError, match="over the 512 MB limit"):
        load_checkpoint(src)                             # the upload path keeps its limit
    state = load_train_state(src)
    assert state["meta"]["step"] == 42 and "big" not in state["model"]
    export_checkpoint(src, tmp_path / "model.safetensors")
    assert load_checkpoint(tmp_path / "model.safetensors").step == 42
    assert load_checkpoint(src, max_bytes=None).step == 42
    with pytest.raises(CheckpointError, match="over the"):
        load_train_state(src, max_bytes=1000)


def test_atomic_write_keeps_previous_on_failure(saved, models, monkeypatch):
    before = saved.read_bytes()
    folder_before = sorted(os.listdir(saved.parent))

    def failing_save_file(tensors, filename, metadata=None):
        with open(filename, "wb") as f:      # half a file, then the "disk is full"
            f.write(b"\x00" * 1000)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt_mod, "save_file", failing_save_file)
    with pytest.raises(OSError, match="No space left"):
        _save(saved, (models[1], models[0]))
    assert saved.read_bytes() == before
    assert sorted(os.listdir(saved.parent)) == folder_before, "a temporary file was left behind"
    load_checkpoint(saved)


def test_atomic_write_interrupted(tmp_path):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")

    def interrupted(tmp):
        with open(tmp, "wb") as f:
            f.write(b"new, but only ha")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ckpt_mod.atomic_write(target, interrupted)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["x.bin"]
    ckpt_mod.atomic_write(target, lambda tmp: open(tmp, "wb").write(b"new"))
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["x.bin"]


def test_export_drops_training_state(tmp_path, models, inputs):
    raw = models[0]
    opt = torch.optim.Adam(raw.parameters())
    src = tmp_path / "last.safetensors"
    _save(src, models, train_state={"optimizer": opt.state_dict(), "rng": {"torch": torch.get_rng_state()}})
    assert "train_state" in read_metadata(src)
    dst = tmp_path / "share" / "model.safetensors"
    export_checkpoint(src, dst)
    meta = read_metadata(dst)
    assert "train_state" not in meta
    with safe_open(str(dst), framework="pt") as f:
        keys = list(f.keys())
    assert keys and all(k.startswith("ema.") for k in keys)
    assert dst.stat().st_size < src.stat().st_size
    ck = load_checkpoint(dst)
    assert not ck.has_train_state and ck.weights == "ema"
    with torch.no_grad():
        assert torch.equal(ck.model(*inputs), models[1](*inputs))
    with pytest.raises(CheckpointError, match="no training state"):
        load_train_state(dst)
    export_checkpoint(src, tmp_path / "both.safetensors", keep_raw=True)
    with torch.no_grad():
        assert torch.equal(load_checkpoint(tmp_path / "both.safetensors", weights="raw").model(*inputs),
                           raw(*inputs))


def test_export_without_ema_keeps_the_raw_weights(tmp_path, models, inputs):
    src = tmp_path / "noema.safetensors"
    _save(src, models, ema=False, train_state={"optimizer": torch.optim.Adam(models[0].parameters()).state_dict()})
    export_checkpoint(src, tmp_path / "out.safetensors")
    with safe_open(str(tmp_path / "out.safetensors"), framework="pt") as f:
        assert all(k.startswith("model.") for k in f.keys())
    ck = load_checkpoint(tmp_path / "out.safetensors")
    assert ck.weights == "raw" and not ck.has_train_state
    with torch.no_grad():
        assert torch.equal(ck.model(*inputs), models[0](*inputs))
