"""The command-line tools print their lines and errors in the language asked for (--lang en|zh): the training CLI,
the feature network's, the likelihood subcommand and the diagnostics CLI's errors. English stays as it was."""
from __future__ import annotations

import re

from ddpm import DiffusionConfig, UNet, preset_config, save_checkpoint
from ddpm.train import main as train_main
from diagnostics.__main__ import main as diagnostics_main
from diagnostics.features import main as features_main

CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_RUN = re.compile(r"\b[A-Za-z]{3,} [A-Za-z]{3,} [A-Za-z]{3,}\b")


def test_train_cli_error_in_chinese_and_in_english(tmp_path, capsys):
    args = ["--data", str(tmp_path / "no_such_folder"), "--steps", "1", "--out", str(tmp_path / "run"), "--quiet"]
    assert train_main(args + ["--lang", "zh"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("错误：数据集路径") and "不存在" in err, err
    assert train_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: data set path") and "does not exist" in err, err


def test_an_option_out_of_range_is_refused_with_its_hint_in_the_language_asked(tmp_path, capsys):
    args = ["--lr", "5", "--steps", "1", "--out", str(tmp_path / "run"), "--quiet"]
    assert train_main(args + ["--lang", "zh"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "错误：lr 必须在 (0, 1) 之内（收到的是 5.0）；通常取 1e-4..2e-3"
    assert train_main(args) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: lr must be in (0, 1) (got 5.0); 1e-4..2e-3 is usual"


def test_features_cli_error_in_chinese(tmp_path, capsys):
    assert features_main(["--data", str(tmp_path / "missing"), "--lang", "zh", "--out", str(tmp_path / "f.st")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("错误：") and CJK.search(err) and not ENGLISH_RUN.search(err.split("：", 1)[1].split("（")[0])


def _tiny(path, data):
    model = UNet(preset_config("tiny", image_size=8, base_channels=16, num_classes=10))
    save_checkpoint(path, model=model, ema_model=None, diffusion_config=DiffusionConfig(T=100),
                    class_names=[str(i) for i in range(10)], step=0, data=data)
    return str(path)


def test_likelihood_subcommand_prints_its_table_in_chinese(tmp_path, capsys):
    ckpt = _tiny(tmp_path / "tiny.safetensors", {"name": "digits", "source": "digits", "image_size": 8,
                                                  "channels": 1, "holdout": 0.2})
    args = ["likelihood", ckpt, "--n", "2", "--stride", "50"]
    assert diagnostics_main(args + ["--lang", "zh"]) == 0
    zh = capsys.readouterr().out
    assert zh.startswith("tiny.safetensors 的 bits/dim（每个子像素的 −log₂ p(x | y)")
    for word in ("训练集", "留出集", "先验 L_T", "合计", "± 标准误", "差距（留出集 − 训练集）", "stride 50："):
        assert word in zh, word
    assert not ENGLISH_RUN.search(zh), zh
    assert diagnostics_main(args) == 0
    en = capsys.readouterr().out
    assert en.startswith("bits/dim of tiny.safetensors (−log₂ p(x | y) per sub-pixel, an upper bound")
    assert "gap (held-out − training):" in en and "timesteps evaluated, error from the stride ≤" in en
    # the same numbers in both: only the words differ
    assert re.findall(r"-?\d+\.\d{4}", zh) == re.findall(r"-?\d+\.\d{4}", en)


def test_likelihood_subcommand_error_in_chinese(tmp_path, capsys):
    ckpt = _tiny(tmp_path / "nodata.safetensors", {})
    assert diagnostics_main(["likelihood", ckpt, "--lang", "zh"]) == 2
    assert capsys.readouterr().err.strip() == "错误：nodata.safetensors 没有记录它的数据集，因此没有可评分的图像"
    assert diagnostics_main(["likelihood", ckpt]) == 2
    assert capsys.readouterr().err.strip() == \
        "error: nodata.safetensors does not record its data set, so there is nothing to score"
