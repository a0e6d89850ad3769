"""Every text the app shows, in English and 中文: one entry per text, `key: (English, 中文)`.

Adding a text to the app is one entry here and `t("key", value=...)` (or `L("key")` for a static label)
where it is shown. Placeholders are str.format fields; numbers are formatted in the English template and
the Chinese one alike, so both show the same values and units. tests/test_i18n.py checks that every key
the code uses is here, that every entry has both languages with the same placeholders, and that no entry
is unused.

The Chinese follows the terms of the Chinese DDPM tutorials: 去噪扩散概率模型, 前向扩散, 逆向去噪, 噪声调度,
信噪比, 后验分布, 无分类器引导, 采样器, 检查点, 时间步.

The English messages that reach the app from the core (ddpm/, diagnostics/, the job manager) are translated by
the patterns of demo/messages.py.
"""
from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    # ------------------------------------------------------------------------------------ the page
    "app.intro": (
        "# DDPM Workbench\nTrain, sample, compare and diagnose denoising diffusion models (DDPM / DDIM). The "
        "**Sample** tab starts with digits from the bundled model; a model you train in **Train** appears in "
        "every checkpoint list when it finishes. Every button here is also an API endpoint (see \"Use via API\" "
        "at the bottom of the page).",
        "# DDPM 工作台\n训练、采样、比较和诊断去噪扩散概率模型（DDPM / DDIM）。**采样**页一打开就用自带模型生成数字；"
        "在**训练**页训练的模型结束后会出现在每个检查点列表里。这里的每个按钮也是一个 API 接口（见页面底部的"
        "“通过 API 使用”）。"),
    "app.language": ("Language / 语言", "语言 / Language"),
    "app.language_note": ("your browser asks for {code!r}, which this app does not have: it is shown in English "
                          "(or choose 中文)", "你的浏览器要求的语言 {code!r} 这里没有：页面以英文显示（也可以选择中文）"),
    "tab.train": ("Train", "训练"),
    "tab.sample": ("Sample", "采样"),
    "tab.compare": ("Compare", "比较"),
    "tab.diagnostics": ("Diagnostics", "诊断"),

    # ----------------------------------------------------------------------- shared: the checkpoint
    "ckpt.label": ("Checkpoint", "检查点"),
    "ckpt.info": ("the bundled model, a finished or stopped run, or a failed run's last checkpoint",
                  "自带模型、已完成或已停止的训练，或失败的训练最后保存的检查点"),
    "ckpt.upload_open": ("…or upload a checkpoint", "……或上传一个检查点"),
    "ckpt.upload_label": ("checkpoint (.safetensors, or a diffusers pipeline .zip)",
                          "检查点（.safetensors，或 diffusers 管线的 .zip）"),
    "ckpt.upload_info": ("a .safetensors file written by `python -m ddpm.train`, or a .zip of a diffusers DDPMPipeline / "
                         "UNet2DModel folder (save_pretrained), at most {mb} MB",
                         "由 `python -m ddpm.train` 写出的 .safetensors 文件，或 diffusers 的 DDPMPipeline / UNet2DModel "
                         "文件夹（save_pretrained 保存的）打包成的 .zip，最大 {mb} MB"),
    "ckpt.title": ("{name} ({origin}, T={T}, {schedule}, {size}×{size})", "{name}（{origin}，T={T}，{schedule}，{size}×{size}）"),
    "ckpt.step": ("step {step:,}", "第 {step:,} 步"),
    "ckpt.upload_name": ("upload {name}", "上传的 {name}"),
    "ckpt.bundled_label": ("bundled: {name}", "自带：{name}"),
    "ckpt.run_label": ("run {run} ({state} at step {step}{saved})", "训练 {run}（{state}，第 {step} 步{saved}）"),
    "ckpt.run_label_data": ("run {run} ({state} at step {step}{saved}, {data})",
                            "训练 {run}（{state}，第 {step} 步{saved}，{data}）"),
    "ckpt.saved_at": ("; checkpoint from step {step}", "；检查点来自第 {step} 步"),
    "ckpt.none_yet": ("no checkpoint is available yet: upload a .safetensors file (or a diffusers pipeline .zip) or "
                      "train a model in the Train tab",
                      "还没有可用的检查点：请上传一个 .safetensors 文件（或 diffusers 管线的 .zip），或在训练页训练一个模型"),
    "ckpt.unknown": ("unknown checkpoint {name!r}; choose one of: {listed} (or upload a .safetensors file or a "
                     "diffusers pipeline .zip)",
                     "没有名为 {name!r} 的检查点；请从以下选择：{listed}（或上传一个 .safetensors 文件或 diffusers 管线的 .zip）"),
    "ckpt.not_found": ("checkpoint file {name!r} was not found; pick another checkpoint or upload a .safetensors file "
                       "or a diffusers pipeline .zip",
                       "找不到检查点文件 {name!r}；请选择其他检查点，或上传一个 .safetensors 文件或 diffusers 管线的 .zip"),
    "ckpt.gone": ("checkpoint file {name!r} was not found", "找不到检查点文件 {name!r}"),
    "upload.gone": ("the uploaded {what} {name!r} is no longer on the server (uploads are deleted once used, or after "
                    "an hour); upload it again",
                    "上传的{what} {name!r} 已不在服务器上（上传的文件用过后或一小时后会被删除）；请重新上传"),
    "upload.what_checkpoint": ("checkpoint", "检查点"),
    "upload.what_zip": (".zip", " .zip 文件"),
    "upload.what_reference": ("reference set", "参照图像集"),
    "upload.too_big": ("{name} is {size:.1f} MB; uploads are limited to {mb} MB",
                       "{name} 有 {size:.1f} MB；上传文件最大 {mb} MB"),

    # ------------------------------------------------------------------------ shared: input checks
    "err.not_number": ("{name} must be a number (got {value!r}){hint}", "{name}必须是数字（收到 {value!r}）{hint}"),
    "err.not_finite": ("{name} must be a finite number (got {value!r})", "{name}必须是有限的数（收到 {value!r}）"),
    "err.not_whole": ("{name} must be a whole number (got {value!r})", "{name}必须是整数（收到 {value!r}）"),
    "err.range": ("{name} must be between {lo:g} and {hi:g} (got {value!r}){hint}",
                  "{name}必须在 {lo:g} 到 {hi:g} 之间（收到 {value!r}）{hint}"),
    "err.choice": ("unknown {name} {value!r}; choose from {options}", "未知的{name} {value!r}；请从以下选择：{options}"),
    "err.unconditional": ("this model is unconditional (trained without labels): untick the classes",
                          "这个模型是无条件的（训练时没有类别标签）：请取消勾选类别"),
    "err.class": ("class {value!r} is not one of this model's {k} classes ({names}); tick classes from the list, or "
                  "none for all",
                  "类别 {value!r} 不是这个模型的 {k} 个类别之一（{names}）；请从列表中勾选类别，不勾选表示全部"),
    "err.steps_low": ("steps must be between 1 and this model's T = {T} (got {s})",
                      "步数必须在 1 到这个模型的 T = {T} 之间（收到 {s}）"),
    "err.steps_over_T": ("steps = {s} is more than this model's T = {T} diffusion steps; choose 1 to {T}",
                         "步数 = {s} 超过了这个模型的扩散步数 T = {T}；请选择 1 到 {T}"),
    "err.guidance_unavailable": ("guidance scale must be 1 for this checkpoint: {why}",
                                 "这个检查点的引导强度必须为 1：{why}"),
    "err.sampler": ("sampler must be one of {options} (got {value!r})", "采样器必须是 {options} 之一（收到 {value!r}）"),
    "name.sampler": ("sampler", "采样器"),
    "hint.max_here": ("; at most {n} here", "；这里最多 {n} 张"),
    "name.steps": ("steps", "步数"),
    "name.eta": ("η (eta)", "η（eta）"),
    "name.seed": ("seed", "随机种子"),
    "name.guidance": ("guidance scale", "引导强度"),
    "name.n": ("number of images", "图像数量"),
    "name.temperature": ("temperature", "温度"),
    "name.noise_temperature": ("step-noise temperature", "每步噪声温度"),
    "hint.max_images": ("; at most {n} per request", "；每次最多 {n} 张"),
    "hint.max_compare": ("; at most {n} here, since DDPM runs all T steps for each",
                         "；这里最多 {n} 张，因为 DDPM 要对每张图跑完全部 T 步"),
    "err.precision_refused": ("{why}. This server refuses it; choose auto or off", "{why}。这台服务器拒绝这样运行；请选择 auto 或 off"),
    "name.precision": ("precision", "精度"),
    "precision.label": ("Precision (network)", "精度（网络）"),
    "precision.info": ("{auto}; off = fp32; bf16 is fast only where the processor computes it natively (README: "
                       "precision)", "{auto}；off = fp32；只有处理器原生支持 bf16 时它才快（见 README 的 precision 一节）"),
    "precision.auto_device": ("auto = {name} on this device", "auto = 此设备上的 {name}"),
    "precision.auto_cpu_train_bf16": ("auto = bf16 (this CPU computes bf16 natively: faster training, same quality)",
                                      "auto = bf16（这台 CPU 原生支持 bf16：训练更快，质量相同）"),
    "precision.auto_cpu_sample_fp32": ("auto = fp32 (the same images on every CPU; bf16 only when chosen)",
                                       "auto = fp32（每台 CPU 上图像都相同；只有选择时才用 bf16）"),
    "precision.auto_cpu_fp32": ("auto = fp32 (this CPU has no native bf16)", "auto = fp32（这台 CPU 不原生支持 bf16）"),
    "err.cancelled": ("stopped: the request was cancelled or its page was closed", "已停止：请求被取消，或页面已关闭"),
    "err.core": ("{msg}", "出错了（以下是英文原文）：{msg}"),
    "note.core": ("{msg}", "{msg}（英文原文）"),
    "progress.unit": ("network calls", "次网络调用"),
    "steps.info_T": ("DDIM steps S, 1 to this model's T = {T}", "DDIM 步数 S，1 到这个模型的 T = {T}"),

    # -------------------------------------------------------------------------- the work budget
    "work.pass": ("{sampler}, {steps:,} steps", "{sampler}，{steps:,} 步"),
    "work.eps_stats": ("ε statistics", "ε 统计"),
    "work.timings": ("timings", "计时"),
    "work.memory": ("memory by batch size", "各批大小的内存"),
    "work.lower_sample": ("Lower the number of images (at most {max_images} fit these settings) or the steps.",
                          "请减少图像数（这些设置下最多 {max_images} 张）或步数。"),
    "work.lower_sample_ddpm": ("Lower the number of images (at most {max_images} fit these settings), or use DDIM with "
                               "fewer steps.", "请减少图像数（这些设置下最多 {max_images} 张），或改用步数更少的 DDIM。"),
    "work.lower_compare": ("Lower the number of images (at most {max_images} fit these settings); DDPM always runs all "
                           "T steps, so a model with a smaller T compares faster.",
                           "请减少图像数（这些设置下最多 {max_images} 张）；DDPM 总是跑完全部 T 步，所以 T 更小的模型比较得更快。"),
    "work.lower_samplers": ("Lower the number of images (at most {max_images} fit these settings), the network calls, "
                            "or the number of samplers (DDPM always runs all T steps).",
                            "请减少图像数（这些设置下最多 {max_images} 张）、网络调用次数或采样器个数（DDPM 总是跑完全部 T 步）。"),
    "work.lower_quality": ("This model is too large for the quick measurement here; run `python -m bench.quality_vs_steps "
                           "--ckpt …` on your own machine.",
                           "这个模型对这里的快速测量来说太大；请在你自己的机器上运行 `python -m bench.quality_vs_steps --ckpt …`。"),
    "work.lower_report_full": ("Choose the quick report, or run `python -m diagnostics report <checkpoint> --out <folder>` "
                               "on your own machine.",
                               "请选择快速报告，或在你自己的机器上运行 `python -m diagnostics report <checkpoint> --out <folder>`。"),
    "work.lower_report_quick": ("Run `python -m diagnostics report <checkpoint> --out <folder> --quick` on your own "
                                "machine.", "请在你自己的机器上运行 `python -m diagnostics report <checkpoint> --out <folder> --quick`。"),
    # ---- work budget (issue 22)
    "work.lower_one_image": ("Not even one image fits these settings: with this model and this guidance one image may "
                             "take at most {calls:,} network calls here (e.g. DDIM or a solver with at most {calls:,} "
                             "steps; DDPM always runs all T = {T:,} steps).",
                             "这些设置下连一张图像都超出预算：用这个模型和这个引导强度，这里一张图像最多只能做 {calls:,} 次网络"
                             "调用（例如步数不超过 {calls:,} 的 DDIM 或求解器；DDPM 总要跑完全部 T = {T:,} 步）。"),
    "work.lower_model": ("One network call of this model on one image costs {flop}, more than a request may use here; "
                         "use a smaller model, or run it on your own machine (`python -m ddpm.sample`).",
                         "这个模型在一张图像上做一次网络调用就要 {flop}，超过了这里每个请求可用的量；请换用更小的模型，"
                         "或在你自己的机器上运行（`python -m ddpm.sample`）。"),
    "work.too_long": ("stopped after {seconds:,.1f} s: a request may run at most {limit:g} s on this server, and this "
                      "one ran slower than its work budget expected. Lower the number of images or the steps, use a "
                      "smaller model, or run it on your own machine (`python -m ddpm.sample`).",
                      "已在 {seconds:,.1f} 秒后停止：这台服务器上每个请求最多运行 {limit:g} 秒，而这个请求比计算量预算"
                      "估计的更慢。请减少图像数或步数、换用更小的模型，或在你自己的机器上运行（`python -m ddpm.sample`）。"),

    # ------------------------------------------------------------------------------------- Sample
    "sample.classes": ("Classes (none ticked = all)", "类别（不勾选 = 全部）"),
    "sample.guidance": ("Guidance scale w", "引导强度 w"),
    "sample.guidance_info": ("0 = unconditional, 1 = plain conditional, >1 = stronger class (max {max:g})",
                             "0 = 无条件，1 = 普通条件生成，>1 = 更强的类别特征（最大 {max:g}）；即无分类器引导"),
    "sample.sampler": ("Sampler", "采样器"),
    "sample.steps": ("Steps", "步数"),
    "sample.steps_info": ("DDIM steps S, 1 to the model's T; DDPM always runs all T steps",
                          "DDIM 步数 S，1 到模型的 T；DDPM 总是跑完全部 T 步"),
    "sample.eta_info": ("DDIM only: 0 = deterministic, 1 = DDPM-like noise", "仅 DDIM：0 = 确定性，1 = 像 DDPM 一样加噪声"),
    "sample.temperature": ("Temperature", "温度"),
    "sample.temperature_info": ("scales the starting noise x_T (0–{max:g}; 1 is standard)",
                                "缩放初始噪声 x_T（0–{max:g}；1 为标准）"),
    "sample.noise_temperature": ("Step-noise temperature", "每步噪声温度"),
    "sample.noise_temperature_info": ("scales the noise added at each step (0–{max:g}; 1 is standard)",
                                      "缩放逆向去噪每一步加入的噪声（0–{max:g}；1 为标准）"),
    "sample.seed": ("Seed", "随机种子"),
    "sample.n": ("Images", "图像数"),
    "sample.n_info": ("1–{max} images per request", "每次 1–{max} 张"),
    "sample.button": ("Sample", "采样"),
    "sample.grid": ("Samples", "生成的样本"),
    "sample.how": ("**How the samples form**: x_t (the noisy sample) and x̂_0 (the model's guess of the final image) "
                   "at each frame.",
                   "**样本如何形成**：每一帧的 x_t（带噪声的样本）和 x̂_0（模型对最终图像的预测）。"),
    "sample.frame": ("trajectory frame", "轨迹帧"),
    "sample.frame_range": ("trajectory frame (0 = pure noise at t = {t}, {last} = last step)",
                           "轨迹帧（0 = t = {t} 时的纯噪声，{last} = 最后一步）"),
    "sample.xt_at": ("x_t at t = {t} (frame {i}/{k})", "t = {t} 时的 x_t（第 {i}/{k} 帧）"),
    "sample.x0_at": ("x̂_0 predicted at t = {t}", "t = {t} 时预测的 x̂_0"),
    "sample.files": ("Download: PNG grid + .npz (images, labels, x_T, settings)",
                     "下载：PNG 网格图 + .npz（图像、标签、x_T、设置）"),
    "sample.progress": ("{run}: sampling", "{run}：采样中"),
    "sample.solver_run": ("{sampler}, {steps} network calls (order 2)", "{sampler}，{steps} 次网络调用（二阶）"),
    "sample.ddim_run": ("DDIM, {steps} steps, η = {eta:g}", "DDIM，{steps} 步，η = {eta:g}"),
    "sample.ddpm_run": ("DDPM, all {steps} steps ({variance} variance)", "DDPM，全部 {steps} 步（逆向方差 {variance}）"),
    "sample.all_classes": ("all classes", "全部类别"),
    "sample.some_classes": ("classes {names}", "类别 {names}"),
    "sample.info": ("**{n} images** · {run} · {classes} · guidance {w:g} · seed {seed} · temperature {temp:g} / "
                    "{ntemp:g}  \n{calls} network calls per image · network in {precision} · {seconds:.2f} s · "
                    "checkpoint {ckpt}",
                    "**{n} 张图像** · {run} · {classes} · 引导强度 {w:g} · 随机种子 {seed} · 温度 {temp:g} / "
                    "{ntemp:g}  \n每张图 {calls} 次网络调用 · 网络精度 {precision} · {seconds:.2f} 秒 · 检查点 {ckpt}"),
    "sample.no_bundled": ("No bundled checkpoint is available: upload one, or train a model in the Train tab.",
                          "没有自带的检查点：请上传一个，或在训练页训练一个模型。"),

    # ------------------------------------------------------------------------------------ Compare
    "compare.steps": ("DDIM steps S", "DDIM 步数 S"),
    "compare.eta": ("DDIM η", "DDIM η"),
    "compare.n_info": ("1–{max} images (DDPM runs all T steps for each)", "1–{max} 张（DDPM 要对每张跑完全部 T 步）"),
    "compare.button": ("Compare DDPM and DDIM", "比较 DDPM 与 DDIM"),
    "compare.same_xT": ("Both samplers start from the same seed and the very same x_T, so the difference is the "
                        "sampler alone.",
                        "两个采样器使用同一个随机种子、完全相同的 x_T，所以差别只来自采样器本身。"),
    "compare.ddpm": ("DDPM (all T steps)", "DDPM（全部 T 步）"),
    "compare.ddim": ("DDIM (S steps)", "DDIM（S 步）"),
    "compare.numbers": ("Numbers", "数值"),
    "compare.numbers_label": ("comparison", "比较结果"),
    "compare.quality_title": ("### Sample quality against sampling steps", "### 样本质量与采样步数"),
    "compare.quality_plot": ("quality vs steps", "质量与步数"),
    "compare.measure": ("Measure quality now (quick)", "立即测量质量（快速）"),
    "compare.progress_ddpm": ("DDPM, {T} steps", "DDPM，{T} 步"),
    "compare.progress_ddim": ("DDIM, {s} steps", "DDIM，{s} 步"),
    "compare.caption": ("**{label}** · {calls} network calls per image · {precision} · {seconds:.2f} s",
                        "**{label}** · 每张图 {calls} 次网络调用 · {precision} · {seconds:.2f} 秒"),
    "compare.ddpm_label": ("DDPM, all T = {T} steps", "DDPM，全部 T = {T} 步"),
    "compare.ddim_label": ("DDIM, S = {s}, η = {eta:g}", "DDIM，S = {s}，η = {eta:g}"),
    "compare.faster": (" · {x:g}× faster", " · 快 {x:g} 倍"),
    "samplers.title": ("### Samplers side by side at the same number of network calls",
                       "### 相同网络调用次数下并排比较采样器"),
    "samplers.pick": ("Samplers (two or more)", "采样器（两个或以上）"),
    "samplers.calls": ("Network calls (DDPM: all T)", "网络调用次数（DDPM：全部 T 步）"),
    "samplers.button": ("Compare samplers", "比较采样器"),
    "samplers.gallery": ("one grid per sampler", "每个采样器一张网格图"),
    "samplers.table": ("calls, wall time and difference", "调用次数、耗时和差异"),
    "samplers.col_sampler": ("sampler", "采样器"),
    "samplers.col_calls": ("network calls", "网络调用次数"),
    "samplers.col_seconds": ("seconds", "秒"),
    "samplers.col_rms": ("RMS difference", "均方根差异"),
    "samplers.too_few": ("pick at least two samplers to compare (from {options})", "请至少选择两个采样器来比较（可选：{options}）"),
    "samplers.progress": ("{sampler}, {calls} network calls", "{sampler}，{calls} 次网络调用"),
    "samplers.caption": ("{sampler} · {calls} network calls · {seconds:.2f} s", "{sampler} · {calls} 次网络调用 · {seconds:.2f} 秒"),
    "samplers.info": ("All {k} start from the same x_T (seed {seed}); DDIM with η = 0, the solvers at order 2. RMS "
                      "difference (images in [−1, 1]) to **{reference}**'s images.",
                      "这 {k} 个采样器都从同一个 x_T 出发（随机种子 {seed}）；DDIM 用 η = 0，求解器用二阶。均方根差异"
                      "（图像在 [−1, 1]）是相对 **{reference}** 的图像计算的。"),
    "quality.from_bench": ("Quality vs steps {note}.", "质量与步数：{note}。"),
    "quality.quick": ("Quality vs steps from a quick measurement on this file (n = {n} images per setting, features "
                      "{network}; {note}). At small n, FID is biased upwards: read the ranking, not the absolute "
                      "values.{ddpm}",
                      "质量与步数来自对这个文件的快速测量（每个设置 n = {n} 张图，特征网络 {network}；{note}）。"
                      "n 较小时 FID 偏高：请看排名，不要看绝对值。{ddpm}"),
    "quality.no_ddpm": (" DDPM over all T steps is left out of the quick measurement at this T (the benchmark has it).",
                        " 在这个 T 下，快速测量不包含跑完全部 T 步的 DDPM（基准测试里有）。"),
    "quality.none": ("No quality numbers for this checkpoint: {note}. Press **Measure quality now** for a quick "
                     "measurement (DDIM at S = {steps} with η = {etas}, n = {n} images each, about a minute on a "
                     "CPU); it is cached, so the plot is immediate next time.",
                     "这个检查点还没有质量数据：{note}。按**立即测量质量**做一次快速测量（DDIM，S = {steps}，"
                     "η = {etas}，每个设置 n = {n} 张图，在 CPU 上约一分钟）；结果会缓存，下次立即显示。"),
    "quality.progress": ("measuring sample quality", "正在测量样本质量"),
    "quality.no_diagnostics": ("the quality measurement needs the diagnostics package, which is not installed here",
                               "质量测量需要 diagnostics 包，但这里没有安装"),
    "plot.no_checkpoint": ("no checkpoint", "没有检查点"),
    "plot.no_quality": ("no quality measurements for this checkpoint yet", "这个检查点还没有质量测量"),
    "plot.quality_title": ("Sample quality vs network calls", "样本质量与网络调用次数"),
    "plot.quality_x": ("network calls per image (log scale)", "每张图的网络调用次数（对数坐标）"),
    "plot.fid_y": ("FID (lower is better)", "FID（越低越好）"),
    "plot.floor": ("real-vs-real floor {floor:.3g}", "真实对真实的下限 {floor:.3g}"),
    "plot.network_calls": ("{n} network calls", "{n} 次网络调用"),
    "plot.steps": ("steps {n}", "{n} 步"),
    "plot.loss_title": ("Training loss", "训练损失"),
    "plot.loss_title_run": ("Training loss — run {run}", "训练损失 — 训练 {run}"),
    "plot.loss_x": ("step", "训练步"),
    "plot.loss_y": ("loss (log scale)", "损失（对数坐标）"),
    "plot.loss_empty": ("the loss curve appears after the first logged steps", "记录了最初几步后就会显示损失曲线"),
    "plot.loss_name": ("loss", "损失"),
    "plot.quartile": ("t in [0, T/4)", "t ∈ [0, T/4)"),

    # -------------------------------------------------------------------------------- Diagnostics
    "diag.mode": ("Report", "报告"),
    "diag.mode_info": ("quick: DDIM-20, n = 64, about a minute on a CPU; full: DDPM over all T steps, n = 500, tens of "
                       "minutes on a CPU",
                       "quick（快速）：DDIM-20，n = 64，在 CPU 上约一分钟；full（完整）：DDPM 跑完全部 T 步，n = 500，"
                       "在 CPU 上要几十分钟"),
    "diag.reference_open": ("Reference images (for a model with no data set, e.g. a diffusers upload)",
                            "参照图像（用于没有记录数据集的模型，例如上传的 diffusers 模型）"),
    "diag.reference": ("reference images (.zip: class folders or flat)", "参照图像（.zip：按类别分文件夹或不分）"),
    "diag.train_features": ("train a feature network on them", "用它们训练一个特征网络"),
    "diag.train_features_info": ("where the shipped one does not fit (labelled images; a few CPU minutes, cached)",
                                 "在自带的特征网络不适用时（需要带标签的图像；CPU 上几分钟，结果会缓存）"),
    "diag.sampling_open": ("How the report's samples are drawn", "报告样本的采样方式"),
    "diag.eta_info": ("quick mode (DDIM) only: 0 = deterministic, 1 = DDPM-like noise; the bundled MNIST model's "
                      "report uses w = 1.25, η = 0.5",
                      "仅 quick 模式（DDIM）：0 = 确定性，1 = 像 DDPM 一样加噪声；自带 MNIST 模型的报告用 w = 1.25、η = 0.5"),
    "diag.eta_full": ("η is DDIM's, and the full report samples with DDPM over all T steps (its variance is the "
                      "model's): set η to 0, or choose the quick report",
                      "η 只用于 DDIM，而完整报告用 DDPM 跑完全部 T 步（方差由模型决定）：请把 η 设为 0，或选择 quick 报告"),
    "diag.button": ("Run diagnostics", "运行诊断"),
    "diag.files": ("Download the report (HTML + JSON)", "下载报告（HTML + JSON）"),
    "diag.start": ("Pick a checkpoint and press **Run diagnostics**.", "选择一个检查点，然后按**运行诊断**。"),
    "diag.iframe_title": ("diagnostics report", "诊断报告"),
    "diag.bad_mode": ("mode must be 'quick' or 'full' (got {value!r})", "模式必须是 'quick' 或 'full'（收到 {value!r}）"),
    "diag.no_package": ("the diagnostics package is not installed here, so no report can be made",
                        "这里没有安装 diagnostics 包，无法生成报告"),
    "diag.starting": ("starting", "正在开始"),
    "diag.stage": ("diagnostics: {stage}", "诊断：{stage}"),
    "stage.data": ("loading the data", "读取数据"),
    "stage.model": ("model basics", "模型基本情况"),
    "stage.schedule": ("noise schedule", "噪声调度"),
    "stage.noise": ("noise prediction", "噪声预测"),
    "stage.performance": ("performance", "性能"),
    "stage.sampling": ("sampling", "采样"),
    "stage.smoothness": ("smoothness", "平滑度"),
    "stage.diversity": ("diversity", "多样性"),
    "stage.quality": ("sample quality", "样本质量"),
    "stage.memorisation": ("memorisation", "记忆化（复制训练图像）"),
    "stage.generalisation": ("generalisation", "泛化（训练图像对留出图像）"),
    "stage.likelihood": ("likelihood", "似然（比特每维 bits/dim）"),
    "stage.done": ("done", "完成"),

    # -------------------------------------------------------------------------------------- Train
    "train.data": ("Data set", "数据集"),
    "train.data_digits": ("digits (built in: 1,797 labelled 8×8 digits)", "digits（内置：1,797 张带标签的 8×8 数字）"),
    "train.data_mnist": ("MNIST (built in: 5,000 real 28×28 digits)", "MNIST（内置：5,000 张真实的 28×28 手写数字）"),
    "train.data_zip": ("my .zip of images", "我的 .zip 图像"),
    "train.conditional": ("Class-conditional", "按类别条件生成"),
    "train.conditional_info": ("one model per class label (classifier-free guidance); untick to train unconditionally",
                               "以类别标签为条件（可用无分类器引导）；取消勾选则训练无条件模型"),
    "train.learn_sigma": ("Learn the variance (Improved DDPM)", "可学习方差（Improved DDPM）"),
    "train.learn_sigma_info": ("the network also outputs the reverse variance, trained by L_simple + 0.001·L_vlb; "
                               "DDPM sampling then uses it (--learn-sigma)",
                               "网络同时输出逆向去噪每一步的方差，用 L_simple + 0.001·L_vlb（变分下界项）训练；之后 "
                               "DDPM 采样就用这个学到的方差（--learn-sigma）"),
    "train.image_size_info": ("{lo}–{hi} px; the step limit shrinks with the pixel count (steps × batch × pixels at "
                              "most {steps:,} × {batch} at {size}×{size})",
                              "{lo}–{hi} 像素；步数上限随像素数减小（步数 × 批大小 × 像素数至多为 {size}×{size} 时的 "
                              "{steps:,} × {batch}）"),
    "train.no_class_folders": ("{name} has no class folders: it trains unconditionally",
                               "{name} 没有按类别分的文件夹：将训练无条件模型"),
    "train.over_budget": ("{steps:,} steps of batch {batch} at {size}×{size} is over this server's training budget: at "
                          "most {max:,} steps at this size and batch (the limit shrinks with the pixel count); lower "
                          "the steps, the batch or the image size",
                          "在 {size}×{size}、批大小 {batch} 下训练 {steps:,} 步超出了这台服务器的训练预算：这个尺寸和批大小"
                          "下最多 {max:,} 步（上限随像素数减小）；请减少步数、批大小或图像尺寸"),
    "train.data_line": ("Data: {data}", "数据：{data}"),
    "train.zip": ("training data (.zip)", "训练数据（.zip）"),
    "train.zip_info": ("a .zip of PNG/JPEG images, grey or colour: one folder per class (e.g. `cats/001.png`) trains "
                       "class-conditionally, images without folders train unconditionally; at most {mb} MB; it is "
                       "kept only in the run's folder until the trainer has read it",
                       "一个 PNG/JPEG 图像的 .zip，灰度或彩色均可：每个类别一个文件夹（例如 `cats/001.png`）则训练按类别"
                       "条件生成的模型，不分文件夹的图像训练无条件模型；最大 {mb} MB；它只保存在这次训练的文件夹里，"
                       "训练程序读完就删除"),
    "train.preset": ("Preset", "预设"),
    "train.schedule": ("Noise schedule", "噪声调度"),
    "train.objective": ("Objective", "预测目标"),
    "train.objective_info": ("what the network predicts", "网络预测什么（ε、x_0 或 v）"),
    "train.weighting": ("Loss weighting", "损失加权"),
    "train.steps": ("Training steps", "训练步数"),
    "train.steps_info": ("optimizer steps, 1–{max:,}", "优化器步数，1–{max:,}"),
    "train.batch": ("Batch size", "批大小"),
    "train.batch_info": ("1–{max}", "1–{max}"),
    "train.lr": ("Learning rate", "学习率"),
    "train.lr_info": ("peak learning rate, {lo:g}–{hi:g}", "峰值学习率，{lo:g}–{hi:g}"),
    "train.sample_every": ("Sample grid every", "每隔多少步生成样本网格"),
    "train.sample_every_info": ("a new sample grid every N steps (0 = only at the end, else at least {min})",
                                "每 N 步生成一张新的样本网格（0 = 只在结束时，否则至少 {min}）"),
    "train.dropout": ("Guidance (label) dropout", "引导（标签）丢弃率"),
    "train.dropout_info": ("share of labels replaced by the null label, for classifier-free guidance (0–0.5)",
                           "用空标签替换的标签比例，用于无分类器引导（0–0.5）"),
    "train.model_size": ("Model size", "模型大小"),
    "train.image_size": ("Image size", "图像尺寸"),
    "train.base": ("Base channels", "基础通道数"),
    "train.base_info": ("0 = the preset's width; else a multiple of 8 up to {max}", "0 = 预设的宽度；否则为 8 的倍数，最大 {max}"),
    "train.T_info": ("diffusion steps T, {lo}–{hi}", "扩散步数 T，{lo}–{hi}"),
    "train.start": ("Start training", "开始训练"),
    "train.resume_open": ("Resume a stopped or failed run", "继续一次已停止或失败的训练"),
    "train.resume_run": ("Run", "训练"),
    "train.resume_info": ("goes on from the run's last checkpoint with its own settings; a run on an uploaded .zip "
                          "needs the .zip above again",
                          "用它自己的设置从最后一个检查点接着训练；用上传的 .zip 训练的需要在上面重新上传那个 .zip"),
    "train.resume": ("Resume", "继续训练"),
    "train.resumable": ("{run} ({state} at step {step:,} of {total:,})", "{run}（{state}，第 {step:,} / {total:,} 步）"),
    "train.resumable_zip": ("{run} ({state} at step {step:,} of {total:,}, needs its .zip again)",
                            "{run}（{state}，第 {step:,} / {total:,} 步，需要重新上传它的 .zip）"),
    "train.zip_escaping": ("{name} holds paths that leave its folder (e.g. {example!r}); make the .zip again from the "
                           "image folders themselves",
                           "{name} 里有指向文件夹之外的路径（例如 {example!r}）；请直接用图像文件夹重新打包 .zip"),
    "train.stop": ("Stop", "停止"),
    "train.refresh": ("Refresh", "刷新"),
    "train.loading": ("Loading the training status…", "正在读取训练状态……"),
    "train.loss": ("Loss", "损失"),
    "train.latest": ("Latest sample grid", "最新的样本网格"),
    "train.json": ("Status as JSON", "状态（JSON）"),
    "train.json_label": ("status", "状态"),
    "train.idle": ("No training run yet. Choose the settings and press **Start training**.",
                   "还没有训练。选好设置后按**开始训练**。"),
    "train.head.starting": ("Training is starting", "训练正在启动"),
    "train.head.running": ("Training is running", "训练正在进行"),
    "train.head.stopping": ("Training is stopping", "训练正在停止"),
    "train.head.finished": ("The last run finished", "上一次训练已完成"),
    "train.head.stopped": ("The last run was stopped", "上一次训练已停止"),
    "train.head.failed": ("The last run failed", "上一次训练失败了"),
    "train.headline": ("**{head}** — run `{run}`, started {started} ({what}).", "**{head}** — 训练 `{run}`，开始于 {started}（{what}）。"),
    "train.n_steps": ("{n:,} steps", "{n:,} 步"),
    "train.one_at_a_time": ("Only one training job runs at a time; everyone who opens this page sees this run.",
                            "同一时间只运行一个训练任务；打开这个页面的每个人看到的都是这次训练。"),
    "train.progress_step": ("step {step:,} / {total:,} ({pct:.0f}%)", "第 {step:,} / {total:,} 步（{pct:.0f}%）"),
    "train.progress_loss": ("loss {loss:.4f}", "损失 {loss:.4f}"),
    "train.progress_left": ("about {time} left", "约剩 {time}"),
    "train.progress_estimating": ("estimating time left", "正在估计剩余时间"),
    "train.progress_trained": ("trained for {time}", "已训练 {time}"),
    "state.idle": ("idle", "空闲"),
    "state.starting": ("starting", "启动中"),
    "state.running": ("running", "运行中"),
    "state.stopping": ("stopping", "停止中"),
    "state.finished": ("finished", "已完成"),
    "state.stopped": ("stopped", "已停止"),
    "state.failed": ("failed", "失败"),
    "time.s": ("{s} s", "{s} 秒"),
    "time.min_s": ("{m} min {s:02d} s", "{m} 分 {s:02d} 秒"),
    "time.h_min": ("{h} h {m:02d} min", "{h} 小时 {m:02d} 分"),
    "train.bad_data": ("data must be 'digits', 'mnist' or 'zip' (an uploaded .zip of images), not {value!r}",
                       "数据必须是 'digits'、'mnist' 或 'zip'（上传的图像 .zip），而不是 {value!r}"),
    "train.need_zip": ("choose a .zip of images to upload, or pick a built-in data set ('digits' or 'mnist')",
                       "请选择一个图像 .zip 上传，或选用内置数据集（'digits' 或 'mnist'）"),
    "train.not_zip": ("{name} is not a .zip file; upload a .zip of PNG/JPEG images, one folder per class "
                      "(<class_name>/<image>.png) or all at the top (unconditional)",
                      "{name} 不是 .zip 文件；请上传 PNG/JPEG 图像的 .zip，每个类别一个文件夹（<类别名>/<图像>.png），"
                      "或全部放在顶层（无条件）"),
    "train.base_multiple": ("base channels must be 0 (the preset's) or a multiple of 8 (got {value})",
                            "基础通道数必须是 0（用预设的）或 8 的倍数（收到 {value}）"),
    "train.sample_every_min": ("sample every must be 0 (only at the end) or at least {min} steps",
                               "样本网格间隔必须是 0（只在结束时）或至少 {min} 步"),
    "name.preset": ("preset", "预设"),
    "name.schedule": ("schedule", "噪声调度"),
    "name.objective": ("objective", "预测目标"),
    "name.weighting": ("weighting", "损失加权"),
    "name.train_steps": ("training steps", "训练步数"),
    "name.batch": ("batch size", "批大小"),
    "name.lr": ("learning rate", "学习率"),
    "name.dropout": ("guidance (label) dropout", "引导（标签）丢弃率"),
    "name.sample_every": ("sample every", "样本网格间隔"),
    "name.image_size": ("image size", "图像尺寸"),
    "name.base": ("base channels", "基础通道数"),
    "name.T": ("T (diffusion steps)", "T（扩散步数）"),
    # ---- request lanes (issue 22)
    "lane.wait_heavy": ("Waiting for the slot for long requests: {ahead:,} ahead of this one. Its time limit starts "
                        "when it runs; a request of at most {light} (e.g. DDIM, 50 steps, 64 images of the bundled "
                        "model) runs beside them at once.",
                        "正在等待长请求的运行槽：前面还有 {ahead:,} 个。运行时间限制从它开始运行时才计算；计算量不超过 "
                        "{light} 的请求（例如用打包模型以 DDIM 50 步生成 64 张图像）会与它们同时立即运行。"),
    "lane.wait_light": ("Waiting for a free slot: {ahead:,} short request(s) ahead of this one (each at most "
                        "{light}); it starts within seconds.",
                        "正在等待空闲的运行槽：前面还有 {ahead:,} 个短请求（每个不超过 {light}）；几秒内就会开始。"),
    "lane.full": ("This server is busy: {waiting:,} long requests already wait for the slot they share. Try again "
                  "in a few minutes, or ask for at most {light} of work (fewer images or steps, or DDIM instead of "
                  "DDPM), which runs beside them at once.",
                  "这台服务器正忙：已经有 {waiting:,} 个长请求在等待它们共用的运行槽。请几分钟后再试，或把计算量降到 "
                  "{light} 以内（减少图像数或步数，或用 DDIM 代替 DDPM），这样的请求会与它们同时立即运行。"),
    "lane.waited": ("This server is busy: the request waited {seconds:,.0f} s for a slot and none came free, so it "
                    "was not run. Try again later, or ask for at most {light} of work, which runs beside the long "
                    "requests.",
                    "这台服务器正忙：这个请求等待运行槽 {seconds:,.0f} 秒仍没有空出，因此没有运行。请稍后再试，或把"
                    "计算量降到 {light} 以内，这样的请求会与长请求同时运行。"),
    # ---- malformed input (issue 22)
    "err.too_few_values": ("/{api} takes {n} values and this request sent {got}; missing: {missing}. Send every "
                           "parameter (gradio_client fills in the defaults of those left out)",
                           "/{api} 需要 {n} 个值，这个请求只发送了 {got} 个；缺少：{missing}。请发送全部参数（gradio_client "
                           "会为省略的参数填入默认值）"),
    "upload.url": ("an upload must be a file sent to this server, not a URL ({value!r}), which is never fetched; "
                   "download the file and upload it", "上传的必须是发送到这台服务器的文件，而不是网址（{value!r}），"
                                                      "服务器从不去下载它；请先下载这个文件再上传"),
    "upload.not_file": ("an upload must be a file (a path, or gradio's FileData with one), not {value!r}; use the "
                        "upload box, or handle_file(...) in gradio_client",
                        "上传的必须是一个文件（一个路径，或带路径的 gradio FileData），而不是 {value!r}；请使用上传框，"
                        "或在 gradio_client 里用 handle_file(...)"),
    "upload.not_uploaded": ("a file in this request is not one uploaded to this server (a path on the server, a "
                            "file:// or data: URL, a path no file can have, or not gradio's FileData with a path); "
                            "upload the file: the upload box, or handle_file(...) in gradio_client",
                            "这个请求里的文件不是上传到这台服务器的文件（而是服务器上的路径、file:// 或 data: 网址、"
                            "不可能存在的路径，或不是带路径的 gradio FileData）；请上传文件：使用上传框，或在 "
                            "gradio_client 里用 handle_file(...)"),
    "upload.bad_path": ("the upload {value!r} is not a file name this server can open; upload the file again",
                        "上传的文件 {value!r} 不是这台服务器能打开的文件名；请重新上传这个文件"),
    "upload.folder": ("{name!r} is a folder, not an uploaded file; upload one file (a .safetensors checkpoint, or a "
                      ".zip)", "{name!r} 是一个文件夹，不是上传的文件；请上传单个文件（.safetensors 检查点，或一个 .zip）"),
    "upload.not_regular": ("{name!r} is not a regular file (a link, a device or a pipe); upload the file itself",
                           "{name!r} 不是普通文件（而是链接、设备或管道）；请上传文件本身"),
}
