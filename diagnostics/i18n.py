"""中文 for the diagnostics report: one table of the report's own words (headings, labels, verdicts, check
titles, figure titles and axes) and, in diagnostics/i18n_sentences.py, the sentences the checks write
(summaries, rules, fixes, notes) as patterns whose numbers are carried over unchanged (what each number is, in
diagnostics/i18n_numbers.py).

    tr("overall", "zh")                  -> "总体结论"
    sentence("Eval mode, 1,114,209 finite parameters with …", "zh")
    figure_text("snr_title", "zh", T=1000) -> "各时间步的信噪比（T=1000）"

A text no pattern matches whole is cut where the checks join their parts: into sentences ("Do A. Do B."),
then into clauses ("a; b"), and each part is matched; a part no pattern knows stays in English (`untranslated`
lists them, so a test can hold a report to zero). Adding a sentence a check writes is one PATTERNS entry.
Terms follow the Chinese DDPM tutorials: 前向扩散, 逆向去噪, 噪声调度, 信噪比, 后验分布, 变分下界, 比特每维,
泛化, 记忆化, 检查点, 采样器, 时间步, 无分类器引导.
"""
from __future__ import annotations

import re
import string
import warnings
from typing import Optional, Sequence

from .i18n_numbers import PATTERNS as NUMBER_PATTERNS
from .i18n_sentences import PATTERNS as SENTENCE_PATTERNS, UNITS

LANGUAGES = ("en", "zh")

TEXT: dict[str, tuple[str, str]] = {
    "title": ("DDPM diagnostics", "DDPM 诊断报告"),
    "md_title": ("Diagnostics: {name}", "诊断：{name}"),
    "overall": ("Overall", "总体结论"),
    "md_head": ("**{overall}: {verdict}** — {created}, {mode} ({run}), {seconds} s",
                "**{overall}：{verdict}** — {created}，{mode}（{run}），{seconds} 秒"),
    "mode": ("{mode} mode", "{mode} 模式"),
    "guided": (", classifier-free guidance w={w:g}", "，无分类器引导 w={w:g}"),
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

FIGURES: dict[str, tuple[str, str]] = {     # titles, axes and legend names of the report's figures
    "snr_title": ("SNR by timestep (T={T})", "各时间步的信噪比（T={T}）"),
    "snr_y": ("SNR (log scale)", "信噪比 SNR（对数坐标）"),
    "this": ("this ({schedule})", "本模型（{schedule}）"),
    "noise_title": ("Predicted ε on noised data", "对加噪数据预测的 ε"),
    "value": ("value", "数值"),
    "eps_mean": ("mean ε̂ (want 0)", "ε̂ 均值（应为 0）"),
    "eps_std": ("std ε̂ (want 1)", "ε̂ 标准差（应为 1）"),
    "x0_title": ("Unclipped x̂_0 along {sampler} sampling", "{sampler} 采样过程中未裁剪的 x̂_0"),
    "x0_x": ("t (sampling runs right to left)", "t（采样从右往左进行）"),
    "x0_y": ("x̂_0 range", "x̂_0 的范围"),
    "max": ("max", "最大值"),
    "min": ("min", "最小值"),
    "frac_outside": ("fraction |x̂_0| > 1", "|x̂_0| > 1 的比例"),
    "outside_axis": ("fraction outside", "超出范围的比例"),
    "images": ("images", "图像数"),
    "smooth_title": ("Per-image Sobel edge energy", "每张图像的 Sobel 边缘能量"),
    "smooth_x": ("mean gradient magnitude", "平均梯度幅值"),
    "real": ("real", "真实图像"),
    "generated": ("generated", "生成样本"),
    "div_class_title": ("Spread within each class (pairwise RMS distance)", "各类别内部的离散度（两两 RMS 距离）"),
    "class": ("class", "类别"),
    "div_class_y": ("RMS distance per pixel", "每像素的 RMS 距离"),
    "div_title": ("Spread of the samples", "样本的离散度"),
    "statistic": ("statistic", "统计量"),
    "pairwise": ("pairwise RMS distance", "两两 RMS 距离"),
    "pixel_std": ("per-pixel std", "逐像素标准差"),
    "mem_title": ("Distance to the nearest training image", "到最近训练图像的距离"),
    "mem_x": ("L2 distance (pixels in [-1, 1])", "L2 距离（像素取值在 [-1, 1]）"),
    "heldout_never": ("real held-out (never trained on)", "真实留出图像（从未参与训练）"),
    "copy_radius": ("near-copy radius", "近似复制半径"),
    "memory_title": ("Forward-pass memory by batch size", "各批大小下一次前向传播的内存"),
    "batch": ("batch size", "批大小"),
    "activations": ("activations", "激活值"),
    "steps_title": ("Projected sampling time per batch of {batch}", "每批 {batch} 张的预计采样时间"),
    "steps_x": ("sampler steps", "采样步数"),
    "seconds": ("seconds", "秒"),
    "per_batch": ("per batch", "每批"),
    "gen_title": ("Denoising loss per band of t (low noise on the left)", "各 t 区间的去噪损失（左侧噪声小）"),
    "band": ("band of t", "t 区间"),
    "training_images": ("training images", "训练图像"),
    "heldout_images": ("held-out images", "留出图像"),
    "gap": ("gap, % (held-out over training)", "差距，%（留出相对训练）"),
    "gap_axis": ("gap %", "差距 %"),
    "vlb_title": ("Variational-bound terms by timestep (bits/dim; stride {stride})",
                  "各时间步的变分下界项（比特每维 bits/dim；步长 {stride}）"),
    "vlb_y": ("L_{{t−1}} (bits/dim, log scale)", "L_{{t−1}}（bits/dim，对数坐标）"),
    "vlb_note": ("t = 0: decoder L_0; t ≥ 1: KL(q(x_{{t−1}}|x_t,x_0) ‖ p(x_{{t−1}}|x_t))",
                 "t = 0：解码器 L_0；t ≥ 1：后验分布与逆向去噪分布之间的 KL(q(x_{{t−1}}|x_t,x_0) ‖ p(x_{{t−1}}|x_t))"),
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
    "memorisation": "记忆化（复制训练图像）",
    "generalisation": "泛化（去噪损失：训练图像对留出图像）",
    "likelihood": "似然（由变分下界得到的比特每维 bits/dim）",
    "performance": "性能",
}


def language(code) -> str:
    """"en" or "zh" for a language code ("zh-CN", "en_US", …); another falls back to English with a warning."""
    s = str(code or "en").strip().lower().replace("_", "-")
    if s.startswith(LANGUAGES):
        return s[:2]
    warnings.warn(f"language {str(code)!r} is not available; writing English (choose en or zh)", stacklevel=3)
    return "en"


def tr(key: str, lang: str, **values) -> str:
    """TEXT[key] in `lang`, formatted."""
    template = TEXT[key][1 if lang == "zh" else 0]
    return template.format(**values) if values else template


def sampler_words(settings: dict, lang: str = "en") -> str:
    """A report's sampler as a reader needs it: "DDIM η=1, classifier-free guidance w=1.5" (η only when > 0,
    guidance only when on)."""
    words = str(settings.get("sampler")).upper()
    if settings.get("eta"):
        words += f" η={float(settings['eta']):g}"
    w = float(settings.get("guidance_scale", 1.0) or 1.0)
    return words + (tr("guided", lang, w=w) if w != 1.0 else "")


def figure_text(key: str, lang: str, **values) -> str:
    """FIGURES[key] in `lang`, formatted: a figure's title, axis or legend name."""
    template = FIGURES[key][1 if lang == "zh" else 0]
    return template.format(**values) if values else template


def verdict_word(verdict: str, lang: str) -> str:
    return VERDICT_WORDS.get(verdict, verdict) if lang == "zh" else verdict


def title(key: str, english: str, lang: str) -> str:
    return TITLES.get(key, english) if lang == "zh" else english


# ------------------------------------------------------------------------------------------ the sentences
class _Untranslated(Exception):
    """A part of a pattern's groups that must be translated too ({0!t}, {0!l}) has no pattern."""


class _Formatter(string.Formatter):
    """{k!t}: group k translated in turn; {k!l}: a ", " list, each item translated; {k!u}: a unit word."""

    def convert_field(self, value, conversion):
        if conversion == "t":
            return _must(value)
        if conversion == "l":
            return "，".join(_must(item) for item in _top_level(value, ", "))
        if conversion == "u":
            return UNITS.get(value, value)
        return super().convert_field(value, conversion)


_FORMAT = _Formatter()
_OPTIONAL = re.compile(r"\[\[(.*?)\]\]", re.S)           # [[ … {k} … ]]: only when group k matched
_FIELD = re.compile(r"\{(\d+)(?:![a-z])?\}")
_COMPILED: list = []


def _must(text: str) -> str:
    out = _translate(text)
    if out is None:
        raise _Untranslated(text)
    return out


def _top_level(text: str, sep: str) -> list[str]:
    """text cut at `sep` outside brackets: "FID 1 (floor 0.1, n=5), IS 2" -> ["FID 1 (floor 0.1, n=5)", "IS 2"]."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        depth += ch in "([" and 1 or (ch in ")]" and -1 or 0)
        if depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i = i + len(sep)
            continue
        i += 1
    return parts + [text[start:]]


def _fill(template: str, groups: Sequence[Optional[str]]) -> str:
    def optional(m):
        used = [int(k) for k in _FIELD.findall(m.group(1))]
        return m.group(1) if all(groups[k] is not None for k in used) else ""
    return _FORMAT.format(_OPTIONAL.sub(optional, template), *(g if g is not None else "" for g in groups))


def _match(text: str) -> Optional[str]:
    """The Chinese of the whole text by its pattern, or None."""
    if not _COMPILED:
        _COMPILED.extend((re.compile(p, re.S), zh) for p, zh in SENTENCE_PATTERNS + NUMBER_PATTERNS)
    for pattern, zh in _COMPILED:
        m = pattern.fullmatch(text)
        if m:
            try:
                return _fill(zh, m.groups())
            except _Untranslated:
                continue
    return None


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?]) (?=[A-Z(])", text)


_LEVELS = ((_sentences, " ", ""), (lambda s: s.split("; "), "; ", "；"))


def _translate(text: str, level: int = 0) -> Optional[str]:
    """The whole text by a pattern; else its sentences, then its clauses, each by a pattern (a run of parts that
    the checks joined themselves, e.g. a "; " inside a fix, is tried whole first). None if a part has none."""
    text = text.strip()
    if not text:
        return text
    found = _match(text)
    if found is not None:
        return found
    for depth in range(level, len(_LEVELS)):
        cut, sep, join = _LEVELS[depth]
        parts = cut(text)
        if len(parts) > 1:
            memo: dict[int, Optional[list[str]]] = {len(parts): []}

            def cover(i: int) -> Optional[list[str]]:
                if i not in memo:
                    memo[i] = None
                    for j in range(len(parts), i, -1):
                        piece = sep.join(parts[i:j])
                        head = _translate(piece, depth + 1) if j - i == 1 else _match(piece)
                        rest = cover(j) if head is not None else None
                        if rest is not None:
                            memo[i] = [head] + rest
                            break
                return memo[i]
            out = cover(0)
            if out is not None:
                return join.join(out)
    return None


def sentence(text: str, lang: str) -> str:
    """A summary, rule, fix or note in `lang`; a part no pattern knows stays in English."""
    if lang != "zh" or not text:
        return text
    whole = _translate(text)
    if whole is not None:
        return whole
    return "；".join(_translate(p) or p for p in text.split("; "))


def untranslated(texts, lang: str = "zh") -> list[str]:
    """The texts (or the parts of them) that stay in English in `lang`."""
    out = []
    for text in texts:
        if not text or _translate(text) is not None:
            continue
        parts = [p for s in _sentences(text.strip()) for p in s.split("; ") if _translate(p) is None]
        out += parts or [text]
    return out
