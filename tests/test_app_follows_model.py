"""The app's controls follow the model in use: guidance is disabled, with the reason, for a model that cannot be
guided, and the colour model and the emoji data set are offered where the bundled models and data sets are."""
import pytest


@pytest.fixture
def uncond(tmp_path, monkeypatch, write_tiny_checkpoint):
    path = write_tiny_checkpoint(tmp_path / "uncond.safetensors", num_classes=0)
    monkeypatch.setenv("DDPM_WORKBENCH_CHECKPOINT", str(path))
    return path


def test_guidance_is_disabled_with_its_reason_for_an_unconditional_model(uncond, write_tiny_checkpoint, tmp_path,
                                                                         monkeypatch):
    from demo import common as c
    from demo import i18n
    u = c.guidance_update("bundled")
    assert u["interactive"] is False and u["value"] == 1.0
    assert u["info"].startswith("Off for this model: this model is unconditional")
    with i18n.use("zh"):
        zh = c.guidance_update("bundled")
    assert zh["info"].startswith("这个模型用不了：") and "unconditional" not in zh["info"]
    monkeypatch.setenv("DDPM_WORKBENCH_CHECKPOINT", str(write_tiny_checkpoint(tmp_path / "cond.safetensors")))
    again = c.guidance_update("bundled")
    assert again["interactive"] is True and "stronger class" in again["info"]


def test_the_colour_model_and_data_are_offered():
    from demo import checkpoints
    from demo.tabs import train
    names = [e.name for e in checkpoints.list_checkpoints()]
    assert names[:3] == ["mnist", "emoji", "bundled"]
    entry = next(e for e in checkpoints.list_checkpoints() if e.name == "emoji")
    assert entry.path.name == "emoji_tiny.safetensors" and "colour emoji, 32×32" in entry.label
    assert "emoji" in train.DATA_CHOICES and train.DATA_IMAGE_SIZE["emoji"] == 32


def test_a_pick_locks_sample_in_the_browser_until_the_widgets_follow():
    """The lock on Sample runs in the browser: gradio transpiles `locked` to JavaScript (else it would wait for a
    round trip to the server, and a click could slip in before it); the unlock is a plain update."""
    from groovy import transpile
    from demo.tabs.sample import locked, unlocked
    js = transpile(locked, validate=True)
    assert '"interactive": false' in js and '"__type__": "update"' in js
    assert locked().interactive is False and unlocked().interactive is True
