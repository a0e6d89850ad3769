"""bench/learned_variance.py end to end at tiny settings (the quick path, written into tmp_path): both variants
train, each row is scored with its floor, and the learned model's bits/dim is reported with both variances."""
import math
import signal

import pytest

from bench import common

pytestmark = pytest.mark.slow


def test_learned_variance_quick(tmp_path, monkeypatch):
    from bench import learned_variance
    monkeypatch.setattr(common, "SCRATCH_DIR", tmp_path / "scratch")
    sig = signal.getsignal(signal.SIGINT)
    out = tmp_path / "learned_variance.json"
    res = learned_variance.run(quick=True, steps=3, batch_size=8, n=12, out_json=str(out))
    assert signal.getsignal(signal.SIGINT) is sig and out.exists() and res["json"] == str(out)
    assert res["benchmark"] == "learned_variance" and res["quick"] is True and len(res["tables"]) == 2
    assert [(r["variant"], r["learn_sigma"], r["steps"]) for r in res["runs"]] == [("fixed", False, 3),
                                                                                   ("learned", True, 3)]
    assert [(b["variant"], b["variance"]) for b in res["likelihood"]] == [
        ("fixed", "fixed_small"), ("learned", "learned_range"), ("learned", "fixed_small")]
    for b in res["likelihood"]:
        assert math.isfinite(b["heldout_bpd"]) and b["heldout_bpd"] > 0 and b["n"] == 12
    assert [(r["variant"], r["sampler"], r["variance_used"]) for r in res["rows"]] == [
        ("fixed", "ddpm", "fixed_small"), ("fixed", "ddim", "mean only"),
        ("learned", "ddpm", "learned_range"), ("learned", "ddim", "mean only")]
    for r in res["rows"]:
        assert r["fid"] >= 0 and r["fid_floor"] > 0 and r["n"] == 12
