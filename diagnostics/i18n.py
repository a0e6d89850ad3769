"""中文 for the diagnostics report: one table of the report's own words (headings, labels, verdicts, check
titles) and one of the sentences the checks write (summaries, rules, fixes, notes), as patterns whose numbers
are carried over unchanged.

    tr("overall", "zh")                  -> "总体结论"
    sentence("Eval mode, 1,114,209 finite parameters with …", "zh")

A sentence no pattern matches stays in English (`untranslated` lists them, so a test can hold the bundled
report to zero). Adding a sentence a check writes is one PATTERNS entry. Terms follow the Chinese DDPM
tutorials: 噪声调度, 信噪比, 逆向去噪, 检查点, 采样器, 时间步, 无分类器引导.
"""
from __future__ import annotations

import re
from typing import Optional

LANGUAGES = ("en", "zh")

TEXT: dict[str, tuple[str, str]] = {
    "title": ("DDPM diagnostics", "DDPM 诊断报告"),
    "md_title": ("Diagnostics: {name}", "诊断：{name}"),
    "overall": ("Overall", "总体结论"),
    "mode": ("{mode} mode", "{mode} 模式"),
    "run": ("{sampler}, {steps} steps, n={n}, seed {seed}, network in {precision}",
            "{sampler}，{steps} 步，n={n}，随机种子 {seed}，网络精度 {precision}"),
    "model_line": ("Model: {preset} U-Net, {params:,} parameters, {c}×{size}², {classes} classes, step {step} "
                   "({weights} weights); data {data}; {schedule} schedule, T={T}, predicts {objective}.",
                   "模型：{preset} U-Net，{params:,} 个参数，{c}×{size}²，{classes} 个类别，第 {step} 步（{weights} "
                   "权重）；数据 {data}；{schedule} 噪声调度，T={T}，预测 {objective}。"),
    "no": ("no", "无"),
    "summary": ("Summary", "摘要"),
    "check": ("Check", "检查"),
    "verdict": ("Verdict", "结论"),
    "fix": ("Fix", "修正建议"),
    "rule": ("Rule", "规则"),
    "model": ("Model", "模型"),
    "samples": ("Samples", "样本"),
    "samples_note": ("The {k} first of the {n} samples every sample-based check uses: {sampler}, {steps} steps, "
                     "seed {seed}", "所有基于样本的检查共用的 {n} 个样本中的前 {k} 个：{sampler}，{steps} 步，随机种子 {seed}"),
    "per_class": (", one column per class", "，每个类别一列"),
    "settings": ("Settings", "设置"),
    "setting": ("setting", "设置项"),
    "value": ("value", "值"),
    "thresholds": ("All thresholds (diagnostics/thresholds.py)", "全部阈值（diagnostics/thresholds.py）"),
    "threshold": ("threshold", "阈值"),
    "raw": ("{k} (raw numbers; all in report.json)", "{k}（原始数值；全部在 report.json 里）"),
    "footer": ("Written by DDPM Workbench diagnostics; the numbers are in report.json.",
               "由 DDPM 工作台的诊断模块生成；所有数值见 report.json。"),
    "class_names": ("class_names", "类别名"),
    "training": ("training", "训练"),
    "skipped": ("{verdict}, {k} of {n} checks skipped: {titles}", "{verdict}，{n} 项检查中有 {k} 项跳过：{titles}"),
    "all_skipped": ("skip: all {n} checks were skipped", "跳过：全部 {n} 项检查都被跳过"),
}

VERDICT_WORDS = {"ok": "正常", "warn": "警告", "fail": "失败", "skip": "跳过"}

TITLES = {   # check key -> 中文 title
    "model": "模型基本情况",
    "schedule": "噪声调度",
    "noise_prediction": "对加噪真实数据的噪声预测",
    "x0_range": "采样过程中 x̂_0 的范围",
    "smoothness": "平滑度（边缘能量）",
    "diversity": "多样性（模式坍缩）",
    "sample_quality": "样本质量（FID、IS、精确率/召回率）",
    "memorisation": "记忆（复制训练图像）",
    "generalisation": "泛化（去噪损失：训练图像与留出图像）",
    "likelihood": "似然（由变分下界得到的 bits/dim）",
    "performance": "性能",
}

_N = r"([-+]?[\d.,]+(?:e[-+]?\d+)?)"       # a number as the checks print it: 1,114,209 · 0.000356 · 4.04e-05

PATTERNS: list[tuple[str, str]] = [
    # model basics
    (rf"Eval mode, {_N} finite parameters with mean {_N}, std {_N}, \|max\| {_N}, (\w+) weights\.",
     "eval 模式，{0} 个有限参数，均值 {1}，标准差 {2}，|最大值| {3}，{4} 权重。"),
    (r"fail: any NaN/Inf weight; warn: model in train mode, \|mean\| > (.+?), std > (.+?), \|weight\| > (.+?), or raw "
     r"\(non-EMA\) weights",
     "失败：任何权重为 NaN/Inf；警告：模型处于 train 模式，|均值| > {0}，标准差 > {1}，|权重| > {2}，或使用原始"
     "（非 EMA）权重"),
    (r"checked as handed in; load_checkpoint returns the model in eval mode, and generate\(\) switches to eval while "
     r"sampling and restores the mode afterwards",
     "按传入时的状态检查；load_checkpoint 返回的模型处于 eval 模式，generate() 在采样时切换到 eval，结束后恢复原模式"),
    # schedule
    (rf"Schedule '(\w+)' \(T={_N}\) is sound: β_0 = {_N}, ᾱ_T = {_N}, β in \(0, 1\), ᾱ strictly decreasing\.",
     "噪声调度 '{0}'（T={1}）没有问题：β_0 = {2}，ᾱ_T = {3}，β ∈ (0, 1)，ᾱ 严格递减。"),
    (rf"fail: some β outside \(0, 1\) or ᾱ not strictly decreasing; warn: β_0 > {_N} or ᾱ_T > {_N}",
     "失败：有 β 不在 (0, 1) 内，或 ᾱ 不是严格递减；警告：β_0 > {0} 或 ᾱ_T > {1}"),
    # noise prediction
    (rf"Predicted ε has mean ≈ 0 and std ≈ 1 at every t checked; mean MSE\(ε̂, ε\) over t > 0 is {_N}\.",
     "在检查的每个时间步 t 上，预测的 ε 均值 ≈ 0、标准差 ≈ 1；t > 0 时 MSE(ε̂, ε) 的平均值为 {0}。"),
    (rf"fail: non-finite ε̂, or mean MSE\(ε̂, ε\) over the t > 0 rows ≥ {_N} \(predicting 0 scores 1\); warn: at some t, "
     rf"\|mean ε̂\| > {_N} or \|std ε̂ − 1\| > {_N}",
     "失败：ε̂ 出现非有限值，或 t > 0 各行的 MSE(ε̂, ε) 平均值 ≥ {0}（全预测 0 得 1）；警告：某个 t 上 |ε̂ 均值| > {1} "
     "或 |ε̂ 标准差 − 1| > {2}"),
    (rf"x_0: {_N} real (\w+) images, ε drawn with seed {_N}", "x_0：{0} 张真实的 {1} 图像，ε 用随机种子 {2} 抽取"),
    # x̂_0 range
    (rf"x̂_0 stays in range at the late steps: at most {_N}% of pixels beyond ±{_N} for t ≤ {_N}; last step range "
     rf"\[{_N}, {_N}\]\.",
     "x̂_0 在后段的时间步内保持在范围内：t ≤ {2} 时至多 {0}% 的像素超出 ±{1}；最后一步的范围是 [{3}, {4}]。"),
    (r"judged at captured t ≤ 0\.5·T \(earlier x̂_0 divides by √ᾱ_t ≈ 0\): fail if NaN/Inf, if > (\d+)% of pixels have "
     rf"\|x̂_0\| > {_N}, or if \|x̂_0\| > {_N} at the last step; warn if > (\d+)% have \|x̂_0\| > {_N}",
     "只在记录下来的 t ≤ 0.5·T 处判断（更早的 x̂_0 要除以 √ᾱ_t ≈ 0）：出现 NaN/Inf、超过 {0}% 的像素 |x̂_0| > {1}，"
     "或最后一步 |x̂_0| > {2} 时判为失败；超过 {3}% 的像素 |x̂_0| > {4} 时警告"),
    (rf"DDIM trajectory of {_N} images; x̂_0 is the network's raw \(unclipped\) prediction",
     "{0} 张图像的 DDIM 轨迹；x̂_0 是网络未裁剪的原始预测"),
    (r"the strict fraction \(\|x̂_0\| > 1\) is shown too; digits have an exact −1 background, so tiny errors put many "
     r"pixels just outside",
     "也给出了严格比例（|x̂_0| > 1）；digits 的背景恰好是 −1，所以很小的误差就会让许多像素略微超出"),
    # smoothness
    (rf"Edge energy is {_N}× the real data's \({_N} vs {_N}\): neither blurred nor noisy \({_N}% below the real 1st "
     rf"percentile, {_N}% above the 99th\)\.",
     "边缘能量是真实数据的 {0} 倍（{1} 对 {2}）：既不模糊也不嘈杂（{3}% 低于真实数据的第 1 百分位，{4}% 高于第 99 百分位）。"),
    (rf"warn if generated/real edge energy < {_N} \(over-smoothed\) or > {_N} \(noisy\), or if more than {_N}% of the "
     rf"samples lie outside the real images' 1st–99th percentile range of edge energy \(real data: {_N}%\)",
     "生成/真实的边缘能量之比 < {0}（过度平滑）或 > {1}（噪点多），或超过 {2}% 的样本落在真实图像边缘能量的第 1–99 "
     "百分位范围之外（真实数据：{3}%）时警告"),
    (rf"{_N} samples vs {_N} real images; Sobel on the channel mean, replicate padding",
     "{0} 个样本对 {1} 张真实图像；在通道均值上做 Sobel，边缘复制填充"),
    # diversity
    (rf"Samples are as varied as the data: pairwise distance {_N}× and pixel std {_N}× the real data's \(class (\S+): "
     rf"{_N}× the real spread\)\.",
     "样本和数据一样多样：两两距离是真实数据的 {0} 倍，像素标准差是 {1} 倍（类别 {2}：是真实离散度的 {3} 倍）。"),
    (rf"ratios generated/real \(pairwise distance, pixel std; overall and per class\): fail < {_N}, warn < {_N} or "
     rf"overall pairwise ratio > {_N}",
     "生成/真实之比（两两距离、像素标准差；整体及按类别）：< {0} 失败，< {1} 或整体两两距离之比 > {2} 警告"),
    (rf"{_N} samples", "{0} 个样本"),
    (rf"compared with {_N} real images", "与 {0} 张真实图像比较"),
    # sample quality
    (rf"FID {_N} \({_N} at n={_N}; floor {_N} ± {_N} at n={_N}\), IS {_N}, precision {_N} / recall {_N}, conditional "
     rf"accuracy {_N}% \({_N} samples vs the (\w+) training split, features (\S+)\)\.",
     "FID {0}（n={2} 时为 {1}；下限 {3} ± {4}，n={5}），IS {6}，精确率 {7} / 召回率 {8}，条件准确率 {9}%（{10} 个样本"
     "对 {11} 训练集，特征网络 {12}）。"),
    (rf"warn if FID \(at the floor's n and class counts\) > {_N}× the real-vs-real floor and > {_N}, precision < {_N}, "
     rf"recall < {_N} or conditional accuracy < {_N}%",
     "FID（在下限的 n 和各类别数量下）> 真实对真实下限的 {0} 倍且 > {1}、精确率 < {2}、召回率 < {3} 或条件准确率 < {4}% "
     "时警告"),
    (rf"feature network: (\S+) \(sha256 (\S+), test accuracy {_N}% on the held-out {_N}% of (\w+)\)",
     "特征网络：{0}（sha256 {1}，在 {4} 留出的 {3}% 上测试准确率 {2}%）"),
    (rf"the real-vs-real floor is the FID of {_N} real held-out images against the same reference \(drawn with as "
     rf"many images of each class as the samples were asked for, mean ± spread over {_N} draws\): .*",
     "真实对真实的下限是 {0} 张真实留出图像相对同一参照集的 FID（每个类别抽取的图像数与要求生成的样本相同，给出 {1} 次"
     "抽取的均值 ± 离散度）：这是一个完美的生成器在这个 n 下的得分。n 小时 FID 偏高，所以目标是这个下限而不是 0。留出图像"
     "从未被扩散模型和特征网络见过，所以模型可以接近下限，但除去噪声之外不会低于它"),
    (rf"the held-out split holds fewer images than the {_N} generated, so the floor uses n={_N}; the samples are scored "
     rf"at the same n and class counts for the comparison \(FID {_N}, mean of {_N} draws\)",
     "留出集的图像比生成的 {0} 个少，所以下限用 n={1}；比较时样本也在相同的 n 和各类别数量下打分（FID {2}，{3} 次"
     "抽取的平均）"),
    # memorisation
    (rf"No copies: samples are {_N}× as far from their nearest training image as real held-out images are \(median L2 "
     rf"{_N} vs {_N}\); {_N}% are closer than {_N}% of held-out images \(real data: {_N}%\)\.",
     "没有复制：样本到最近训练图像的距离是真实留出图像的 {0} 倍（L2 中位数 {1} 对 {2}）；{3}% 的样本比 {4}% 的留出图像"
     "更近（真实数据：{5}%）。"),
    (rf"warn if the samples' median distance to their nearest training image is < {_N}× that of real held-out images, "
     rf"or if more than {_N}% of the samples are closer to a training image than {_N}% of held-out images are \(real "
     rf"data: {_N}%\)",
     "样本到最近训练图像距离的中位数 < 真实留出图像的 {0} 倍，或超过 {1}% 的样本比 {2}% 的留出图像更接近某张训练图像"
     "（真实数据：{3}%）时警告"),
    (rf"{_N} samples and {_N} real held-out images against {_N} training images; L2 distance in pixel space \(images in "
     r"\[-1, 1\]\)",
     "{0} 个样本和 {1} 张真实留出图像，对 {2} 张训练图像；像素空间的 L2 距离（图像在 [-1, 1]）"),
    (r"a copy detector: ≈ 1× for a model that makes new images, 0 for verbatim copies; blurred or noisy samples lie "
     r"further away \(> 1×\), which the smoothness check judges",
     "一个复制检测器：生成新图像的模型约为 1 倍，逐像素复制为 0；模糊或带噪声的样本离得更远（> 1 倍），这由平滑度检查判断"),
    # performance
    (rf"A full DDPM run \({_N} calls\) takes ≈ {_N} (min|s|h) per batch of {_N} \({_N} s for one image\); DDIM-{_N} "
     rf"takes ≈ {_N} (min|s|h)\.",
     "完整的 DDPM 运行（{0} 次网络调用）每批 {3} 张约需 {1} {2}（一张图 {4} 秒）；DDIM-{5} 约需 {6} {7}。"),
    (rf"warn if a full T={_N}-step DDPM run of one batch of {_N} is projected to take > {_N} s \(seed 001: > {_N} s\)",
     "预计 T={0} 步的完整 DDPM 跑一批 {1} 张超过 {2} 秒时警告（seed 001：> {3} 秒）"),
    (rf"Use DDIM for speed \(sampler='ddim', steps={_N}: ≈ {_N}× fewer network calls\); on a GPU enable mixed precision "
     r"and batch the images; a smaller preset also helps\.",
     "要快就用 DDIM（sampler='ddim'，steps={0}：网络调用少约 {1} 倍）；在 GPU 上启用混合精度并成批生成；更小的预设"
     "也有帮助。"),
    (rf"median of {_N} timed calls after one warm-up, on (\w+) with {_N} threads; other work on the machine inflates "
     r"these",
     "预热一次后计时 {0} 次调用取中位数，在 {1} 上用 {2} 个线程；机器上的其他任务会使这些数字偏大"),
    (r"memory: estimate: sum of leaf-module output bytes in one forward pass",
     "内存：估计值，为一次前向传播中各叶子模块输出字节数之和"),
    (r"classifier-free guidance with a scale other than 0 or 1 doubles the batch of every call",
     "引导强度不为 0 或 1 的无分类器引导会让每次调用的批量翻倍"),
]

_UNITS = {"min": "分钟", "s": "秒", "h": "小时"}
_compiled: list = []


def tr(key: str, lang: str, **values) -> str:
    """TEXT[key] in `lang`, formatted."""
    template = TEXT[key][1 if lang == "zh" else 0]
    return template.format(**values) if values else template


def verdict_word(verdict: str, lang: str) -> str:
    return VERDICT_WORDS.get(verdict, verdict) if lang == "zh" else verdict


def title(key: str, english: str, lang: str) -> str:
    return TITLES.get(key, english) if lang == "zh" else english


def _match(text: str) -> Optional[str]:
    if not _compiled:
        _compiled.extend((re.compile(p, re.S), zh) for p, zh in PATTERNS)
    for pattern, zh in _compiled:
        m = pattern.fullmatch(text.strip())
        if m:
            return zh.format(*(_UNITS.get(g, g) for g in m.groups()))
    return None


def sentence(text: str, lang: str) -> str:
    """A summary, rule, fix or note in `lang`: the whole text by its pattern, else each "; "-separated part;
    a part no pattern knows stays in English."""
    if lang != "zh" or not text:
        return text
    whole = _match(text)
    if whole is not None:
        return whole
    parts = text.split("; ")
    return "；".join(_match(p) or p for p in parts) if len(parts) > 1 else text


def untranslated(texts, lang: str = "zh") -> list[str]:
    """The texts (or parts) that stay in English in `lang`."""
    out = []
    for text in texts:
        if text and _match(text) is None:
            out += [p for p in text.split("; ") if _match(p) is None]
    return out
