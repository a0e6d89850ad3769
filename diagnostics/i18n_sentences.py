"""The sentences the checks write (summaries, rules, fixes, skip reasons, notes), in 中文: a regular expression that
matches one English sentence whole, and its Chinese with the groups in {0}, {1}, ….

In the Chinese: {k!t} is group k translated in turn (a list of findings, a reason), {k!l} a ", " list whose items
are translated, {k!u} a unit (s, min, h, ms), and [[ … ]] a part shown only when the groups inside it matched.
Numbers are carried over as printed. diagnostics/i18n.py cuts a text into sentences and "; " clauses when no
pattern matches it whole, so a fix made of several fixes needs no pattern of its own.
"""
from __future__ import annotations

NUM = r"([-+]?[\d.,]+(?:e[-+]?\d+)?)"       # a number as the checks print it: 1,114,209 · 0.000356 · 4.04e-05 · +5.3
_T = r"(\S+|\(.*?\))"                      # a shape such as (1, 16, 16), or a single token

UNITS = {"ms": "毫秒", "s": "秒", "min": "分钟", "h": "小时"}

PATTERNS: list[tuple[str, str]] = [
    # ------------------------------------------------------------------------- shared: skipped checks, NaN
    (r"not run", "未运行"),
    (r"figure (\w+) not drawn: (.*)", "图 {0} 没有画出来：{1}"),
    (r"no real data", "没有真实数据"),
    (rf"real images are {_T}, samples {_T}", "真实图像的形状是 {0}，样本是 {1}，无法比较"),
    (rf"{NUM} of {NUM} samples contain NaN/Inf: the sampler diverged\.",
     "{1} 个样本中有 {0} 个含有 NaN/Inf：采样过程发散了。"),
    (r"fail if any sample holds NaN/Inf", "任何样本含有 NaN/Inf 即判为失败"),
    (r"See the model-basics and x̂_0 checks: retrain from an earlier checkpoint with a lower learning rate, and "
     r"sample with clip_denoised=True\.",
     "请看“模型基本情况”和“x̂_0 范围”两项检查：从更早的检查点以更小的学习率重新训练，并用 clip_denoised=True 采样。"),
    (r"the checkpoint does not record its data set: give a reference set \(--reference FOLDER_OR_ZIP.*",
     "检查点没有记录它的数据集：请提供一个参照图像集（--reference 文件夹或 .zip，或数据集名称）"),
    (r"its data set '(.+?)' could not be loaded \((.*)\)", "它的数据集 '{0}' 无法读取（{1}）"),
    (r"its data set '(.+?)' loads as (\S+), the .*",
     "它的数据集 '{0}' 读出来是 {1}，与模型的图像形状不同"),
    # ------------------------------------------------------------------------------------------ model basics
    (rf"Eval mode, {NUM} finite parameters with mean {NUM}, std {NUM}, \|max\| {NUM}(?:, (\w+) weights)?\.",
     "eval 模式，{0} 个参数全部有限，均值 {1}，标准差 {2}，|最大值| {3}[[，{4} 权重]]。"),
    (r"Model problems: (.+)\.", "模型有问题：{0!t}。"),
    (rf"{NUM} NaN/Inf weights in {NUM} tensors \(first: (.+)\)", "{1} 个张量中共有 {0} 个 NaN/Inf 权重（第一个：{2}）"),
    (r"the model is in train mode \(dropout active\)", "模型处于 train 模式（dropout 仍在起作用）"),
    (rf"unusual weight statistics \(mean {NUM}, std {NUM}, \|max\| {NUM}\)",
     "权重统计量异常（均值 {0}，标准差 {1}，|最大值| {2}）"),
    (r"raw weights are used, not the EMA average", "用的是原始权重，而不是 EMA 滑动平均权重"),
    (r"The weights are corrupt or training diverged: go back to an earlier checkpoint, lower the learning rate and "
     r"keep gradient clipping on\.",
     "权重已损坏或训练发散：请回到更早的检查点，降低学习率并保持梯度裁剪。"),
    (r"Call model\.eval\(\) before sampling\.", "采样前先调用 model.eval()。"),
    (r"Large weights point to a diverging run: retrain with a lower learning rate, gradient clipping and weight "
     r"decay\.", "权重过大说明训练在发散：请用更小的学习率、梯度裁剪和权重衰减重新训练。"),
    (r"Sample with the EMA weights \(load_checkpoint\(\.\.\., weights='ema'\); train with --ema-decay 0\.999 if the "
     r"file has none\): they give visibly cleaner samples\.",
     "请用 EMA 权重采样（load_checkpoint(..., weights='ema')；文件里没有 EMA 权重时用 --ema-decay 0.999 训练）："
     "生成的样本明显更干净。"),
    (r"The model has no parameters\.", "模型没有任何参数。"),
    (r"a model must have parameters", "模型必须有参数"),
    (r"Load the model from a checkpoint\.", "请从检查点加载模型。"),
    (r"fail: any NaN/Inf weight; warn: model in train mode, \|mean\| > (.+?), std > (.+?), \|weight\| > (.+?), or raw "
     r"\(non-EMA\) weights",
     "失败：任何权重为 NaN/Inf；警告：模型处于 train 模式，|均值| > {0}，标准差 > {1}，|权重| > {2}，或使用原始"
     "（非 EMA）权重"),
    (r"checked as handed in; load_checkpoint returns the model in eval mode, and generate\(\) switches to eval while "
     r"sampling and restores the mode afterwards",
     "按传入时的状态检查；load_checkpoint 返回的模型处于 eval 模式，generate() 在采样时切换到 eval，结束后恢复原模式"),
    # -------------------------------------------------------------------------------------- noise schedule
    (rf"Schedule '(\w+)' \(T={NUM}\) is sound: β_0 = {NUM}, ᾱ_T = {NUM}, β in \(0, 1\), ᾱ strictly decreasing\.",
     "噪声调度 '{0}'（T={1}）没有问题：β_0 = {2}，ᾱ_T = {3}，β ∈ (0, 1)，ᾱ 严格递减。"),
    (rf"Schedule '(\w+)' \(T={NUM}\): (.+)\.", "噪声调度 '{0}'（T={1}）：{2!t}。"),
    (r"some β_t lie outside \(0, 1\)", "有 β_t 不在 (0, 1) 内"),
    (r"ᾱ_t is not strictly decreasing", "ᾱ_t 不是严格递减的"),
    (rf"β_0 = {NUM} > {NUM}: the first step destroys too much", "β_0 = {0} > {1}：前向扩散的第一步就破坏了太多信息"),
    (rf"ᾱ_T = {NUM} > {NUM}: x_T is not pure noise, so sampling from N\(0, I\) starts where the model never trained",
     "ᾱ_T = {0} > {1}：x_T 不是纯噪声，所以从 N(0, I) 开始逆向去噪时，起点落在模型从未训练过的地方"),
    (r"Use a built-in schedule \(linear or cosine\) or betas strictly inside \(0, 1\)\.",
     "请使用内置的噪声调度（linear 或 cosine），或让所有 β 严格位于 (0, 1) 内。"),
    (r"Use a smaller β_start \(1e-4 is the DDPM default\) or more steps T\.",
     "请用更小的 β_start（DDPM 默认 1e-4）或更多的扩散步数 T。"),
    (r"Retrain with more steps T, a larger β_end, or the cosine schedule, so that ᾱ_T ≈ 0\.",
     "请用更多的扩散步数 T、更大的 β_end 或 cosine 噪声调度重新训练，使 ᾱ_T ≈ 0。"),
    (rf"fail: some β outside \(0, 1\) or ᾱ not strictly decreasing; warn: β_0 > {NUM} or ᾱ_T > {NUM}",
     "失败：有 β 不在 (0, 1) 内，或 ᾱ 不是严格递减；警告：β_0 > {0} 或 ᾱ_T > {1}"),
    # ------------------------------------------------------------------------------------ noise prediction
    (rf"Predicted ε has mean ≈ 0 and std ≈ 1 at every t checked; mean MSE\(ε̂, ε\) over t > 0 is {NUM}\.",
     "在检查的每个时间步 t 上，预测的 ε 均值 ≈ 0、标准差 ≈ 1；t > 0 时 MSE(ε̂, ε) 的平均值为 {0}。"),
    (rf"Predicted ε is off N\(0, 1\) at t = ([\d, ]+) \(worst t = {NUM}: mean {NUM}, std {NUM}\); mean MSE {NUM}\.",
     "在 t = {0} 处预测的 ε 偏离 N(0, 1)（最差的是 t = {1}：均值 {2}，标准差 {3}）；MSE 平均值 {4}。"),
    (rf"The network does not predict the noise: mean MSE\(ε̂, ε\) is {NUM} over t > 0 \(predicting zeros gives 1\)\.",
     "网络没有学会预测噪声：t > 0 时 MSE(ε̂, ε) 的平均值为 {0}（全预测 0 也能得到 1）。"),
    (r"The network outputs NaN/Inf\.", "网络输出了 NaN/Inf。"),
    (r"Check that the checkpoint holds the trained weights and that the model gets t in \[0, T\) and inputs in "
     r"\[-1, 1\] as in training; if it does, train \(much\) longer\.",
     "请确认检查点里是训练好的权重，并且模型像训练时一样接收 [0, T) 内的 t 和 [-1, 1] 内的输入；如果都没问题，就（大大）"
     "延长训练。"),
    (r"Train longer; check the input normalisation \(\[-1, 1\]\) and the timestep encoding \(t in \[0, T\)\); "
     r"sample with the EMA weights\.",
     "延长训练；检查输入归一化（[-1, 1]）和时间步编码（t ∈ [0, T)）；用 EMA 权重采样。"),
    (rf"fail: non-finite ε̂, or mean MSE\(ε̂, ε\) over the t > 0 rows ≥ {NUM} \(predicting 0 scores 1\); warn: at some t, "
     rf"\|mean ε̂\| > {NUM} or \|std ε̂ − 1\| > {NUM}",
     "失败：ε̂ 出现非有限值，或 t > 0 各行的 MSE(ε̂, ε) 平均值 ≥ {0}（全预测 0 得 1）；警告：某个 t 上 |ε̂ 均值| > {1} "
     "或 |ε̂ 标准差 − 1| > {2}"),
    (rf"x_0: {NUM} real (\S+) images, ε drawn with seed {NUM}", "x_0：{0} 张真实的 {1} 图像，ε 用随机种子 {2} 抽取"),
    (rf"x_0: {NUM} generated samples \(no real data\), ε drawn with seed {NUM}",
     "x_0：{0} 个生成样本（没有真实数据），ε 用随机种子 {1} 抽取"),
    (rf"x0 objective: rows with √\(1/ᾱ_t − 1\) < {NUM} are shown but not judged \(ε̂ there amplifies x̂_0 errors\)",
     "x0 预测目标：√(1/ᾱ_t − 1) < {0} 的行只显示、不参与判断（在那里 ε̂ 会放大 x̂_0 的误差）"),
    (r"no real data \((.*)\): the model's own samples were noised instead",
     "没有真实数据（{0}）：改为对模型自己生成的样本加噪"),
    (r"none given", "未提供"),
    # ------------------------------------------------------------------------------------------- x̂_0 range
    (rf"x̂_0 stays in range at the late steps: at most {NUM}% of pixels beyond ±{NUM} for t ≤ {NUM}; last step range "
     rf"\[{NUM}, {NUM}\]\.",
     "x̂_0 在后段的时间步内保持在范围内：t ≤ {2} 时至多 {0}% 的像素超出 ±{1}；最后一步的范围是 [{3}, {4}]。"),
    (rf"At t = {NUM} {NUM}% of x̂_0 pixels lie beyond ±{NUM} \(range \[{NUM}, {NUM}\]\)\.",
     "在 t = {0} 处，x̂_0 有 {1}% 的像素超出 ±{2}（范围 [{3}, {4}]）。"),
    (rf"x̂_0 leaves the data range: at t = {NUM} {NUM}% of pixels are beyond ±{NUM} \(range \[{NUM}, {NUM}\]\); \|x̂_0\| "
     rf"reaches {NUM} at the last step\.",
     "x̂_0 超出了数据范围：在 t = {0} 处有 {1}% 的像素超出 ±{2}（范围 [{3}, {4}]）；最后一步 |x̂_0| 达到 {5}。"),
    (r"The network's predictions do not form images: check that the checkpoint's objective \(eps/x0/v\) and schedule "
     r"match how it was trained, then train longer and sample with the EMA weights\.",
     "网络的预测构不成图像：请确认检查点的预测目标（eps/x0/v）和噪声调度与训练时一致，然后延长训练并用 EMA 权重采样。"),
    (r"Train longer or use the EMA weights; keep clip_denoised=True while sampling\.",
     "延长训练或使用 EMA 权重；采样时保持 clip_denoised=True。"),
    (r"Sample with clip_denoised=True \(the official code clamps x̂_0 to \[-1, 1\]\)\.",
     "请用 clip_denoised=True 采样（官方代码会把 x̂_0 截断到 [-1, 1]）。"),
    (r"no sampling trajectory was captured", "没有记录到采样轨迹"),
    (r"judged at captured t ≤ ([\d.]+)·T \(earlier x̂_0 divides by √ᾱ_t ≈ 0\): fail if NaN/Inf, if > (\d+)% of pixels "
     rf"have \|x̂_0\| > {NUM}, or if \|x̂_0\| > {NUM} at the last step; warn if > (\d+)% have \|x̂_0\| > {NUM}",
     "只在记录下来的 t ≤ {0}·T 处判断（更早的 x̂_0 要除以 √ᾱ_t ≈ 0）：出现 NaN/Inf、超过 {1}% 的像素 |x̂_0| > {2}，"
     "或最后一步 |x̂_0| > {3} 时判为失败；超过 {4}% 的像素 |x̂_0| > {5} 时警告"),
    (rf"(\w+) trajectory of {NUM} images; x̂_0 is the network's raw \(unclipped\) prediction",
     "{1} 张图像的 {0} 轨迹；x̂_0 是网络未裁剪的原始预测"),
    (r"the strict fraction \(\|x̂_0\| > 1\) is shown too; digits have an exact −1 background, so tiny errors put many "
     r"pixels just outside",
     "也给出了严格比例（|x̂_0| > 1）；digits 的背景恰好是 −1，所以很小的误差就会让许多像素略微超出"),
    # ------------------------------------------------------------------------------------------ smoothness
    (rf"Edge energy is {NUM}× the real data's \({NUM} vs {NUM}\): neither blurred nor noisy \({NUM}% below the real 1st "
     rf"percentile, {NUM}% above the 99th\)\.",
     "边缘能量是真实数据的 {0} 倍（{1} 对 {2}）：既不模糊也不嘈杂（{3}% 低于真实数据的第 1 百分位，{4}% 高于第 99 百分位）。"),
    (rf"Samples are over-smoothed: {NUM}× the real edge energy \({NUM} vs {NUM}\); {NUM}% are smoother than 99% of real "
     rf"images, {NUM}% noisier\.",
     "样本过度平滑：边缘能量是真实数据的 {0} 倍（{1} 对 {2}）；{3}% 的样本比 99% 的真实图像更平滑，{4}% 更嘈杂。"),
    (rf"Samples are noisier than the data: {NUM}× the real edge energy \({NUM} vs {NUM}\); {NUM}% have more edges than 99% "
     rf"of real images \(leftover noise or speckle\), {NUM}% fewer than 99%\.",
     "样本比数据更嘈杂：边缘能量是真实数据的 {0} 倍（{1} 对 {2}）；{3}% 的样本边缘比 99% 的真实图像更多（残留噪声或斑点），"
     "{4}% 比 99% 的更少。"),
    (r"Sample with all T steps \(or more DDIM steps\) and the standard noise temperature 1; check the reverse variance "
     r"\(fixed_small vs fixed_large\); train longer, since an undertrained model regresses to the mean; avoid fp16 "
     r"during sampling\.",
     "用全部 T 步（或更多 DDIM 步数）和标准噪声温度 1 采样；检查逆向去噪的方差（fixed_small 还是 fixed_large）；延长训练，"
     "因为训练不足的模型会回归到均值；采样时避免使用 fp16。"),
    (r"Train longer and sample with the EMA weights; with DDIM use more steps; keep clip_denoised=True\.",
     "延长训练并用 EMA 权重采样；用 DDIM 时增加步数；保持 clip_denoised=True。"),
    (rf"warn if generated/real edge energy < {NUM} \(over-smoothed\) or > {NUM} \(noisy\), or if more than {NUM}% of the "
     rf"samples lie outside the real images' 1st–99th percentile range of edge energy \(real data: {NUM}%\)",
     "生成/真实的边缘能量之比 < {0}（过度平滑）或 > {1}（噪点多），或超过 {2}% 的样本落在真实图像边缘能量的第 1–99 "
     "百分位范围之外（真实数据：{3}%）时警告"),
    (rf"{NUM} samples vs {NUM} real images; Sobel on the channel mean, replicate padding",
     "{0} 个样本对 {1} 张真实图像；在通道均值上做 Sobel，边缘复制填充"),
    (r"needs real images to compare with(?:: (.+))?", "需要真实图像来比较[[：{0!t}]]"),
    # ------------------------------------------------------------------------------------------- diversity
    (rf"Samples are as varied as the data: pairwise distance {NUM}× and pixel std {NUM}× the real data's(?: \(class "
     rf"(\S+): {NUM}× the real spread\))?\.",
     "样本和数据一样多样：两两距离是真实数据的 {0} 倍，像素标准差是 {1} 倍[[（类别 {2}：是真实离散度的 {3} 倍）]]。"),
    (rf"Samples differ from each other \(pairwise RMS distance {NUM} per pixel\); no real data to compare with\.",
     "样本之间各不相同（每像素的两两 RMS 距离为 {0}）；没有真实数据可以比较。"),
    (rf"Mode collapse: the samples are nearly identical \(pairwise RMS distance {NUM}(?:, {NUM}× the real data's "
     rf"overall)?\)(?: \(class (\S+): {NUM}× the real spread\))?\.",
     "模式坍缩：样本几乎一模一样（两两 RMS 距离 {0}[[，整体是真实数据的 {1} 倍]]）[[（类别 {2}：是真实离散度的 {3} 倍）]]。"),
    (rf"Samples vary less than the real data: {NUM}× overall(?: \(class (\S+): {NUM}× the real spread\))?\.",
     "样本的变化比真实数据少：整体是真实数据的 {0} 倍[[（类别 {1}：是真实离散度的 {2} 倍）]]。"),
    (rf"Samples vary more than the real data \({NUM}× the pairwise distance\): mostly leftover noise rather than "
     r"variety\.", "样本的变化比真实数据多（两两距离是 {0} 倍）：多半是残留的噪声，而不是多样性。"),
    (r"Check for mode collapse or overfitting: compare samples from different seeds, sample at temperature 1, lower "
     r"the guidance scale, and retrain with more data, label dropout or fewer steps if the samples copy training "
     r"images\.",
     "检查是否模式坍缩或过拟合：比较不同随机种子的样本，用温度 1 采样，降低引导强度；如果样本在复制训练图像，就用更多数据、"
     "标签丢弃或更少的步数重新训练。"),
    (r"Train longer and sample with the EMA weights; see the smoothness and x̂_0 checks\.",
     "延长训练并用 EMA 权重采样；参看“平滑度”和“x̂_0 范围”两项检查。"),
    (rf"ratios generated/real \(pairwise distance, pixel std; overall and per class\): fail < {NUM}, warn < {NUM} or "
     rf"overall pairwise ratio > {NUM}",
     "生成/真实之比（两两距离、像素标准差；整体及按类别）：< {0} 失败，< {1} 或整体两两距离之比 > {2} 警告"),
    (rf"no real data: fail only if the mean pairwise RMS distance per pixel < {NUM} \(all samples alike\)",
     "没有真实数据：只有在每像素两两 RMS 距离的平均值 < {0}（所有样本都一样）时判为失败"),
    (rf"within-class pairwise distance: mean over classes {NUM} \(95% interval {NUM}–{NUM}\)× the real data's",
     "类内两两距离：各类别平均为真实数据的 {0} 倍（95% 区间 {1}–{2} 倍）"),
    (rf"within-class pairwise distance: mean over classes {NUM} \(no interval: {NUM} samples; an interval needs at "
     rf"least {NUM}\)× the real data's",
     "类内两两距离：各类别平均为真实数据的 {0} 倍（无区间：{1} 个样本；区间至少需要 {2} 个）"),
    (rf"{NUM} samples", "{0} 个样本"),
    (rf"compared with {NUM} real images", "与 {0} 张真实图像比较"),
    (r"no real images to compare with: (.+)", "没有真实图像可以比较：{0!t}"),
    (r"needs at least 2 samples", "至少需要 2 个样本"),
    # -------------------------------------------------------------------------------------- sample quality
    (rf"(.+?) \({NUM} samples vs the (.+?), features (\S+)\)(?:: (.+))?\.",
     "{0!l}（{1} 个样本对 {2!t}，特征网络 {3}）[[：{4!t}]]。"),
    (rf"FID {NUM} \(floor {NUM} ± {NUM} at the same n\)", "FID {0}（同样 n 下的下限为 {1} ± {2}）"),
    (rf"FID {NUM} \(floor {NUM} \(± not estimable at this n\) at the same n\)",
     "FID {0}（同样 n 下的下限为 {1}，这个 n 下无法估计 ±）"),
    (rf"FID {NUM} \({NUM} at n={NUM}; floor {NUM} ± {NUM} at n={NUM}\)", "FID {0}（n={2} 时为 {1}；n={5} 时下限为 {3} ± {4}）"),
    (rf"FID {NUM} \({NUM} at n={NUM}; floor {NUM} \(± not estimable at this n\) at n={NUM}\)",
     "FID {0}（n={2} 时为 {1}；n={4} 时下限为 {3}，这个 n 下无法估计 ±）"),
    (rf"FID {NUM}", "FID {0}"),
    (rf"KID {NUM} ± {NUM} \(floor {NUM}\)", "KID {0} ± {1}（下限 {2}）"),
    (rf"KID {NUM} ± {NUM}", "KID {0} ± {1}"),
    (rf"FID/floor {NUM} \(95% interval {NUM}–{NUM}\)", "FID/下限 {0}（95% 区间 {1}–{2}）"),
    (rf"KID − floor {NUM} \(95% interval {NUM}–{NUM}\)", "KID − 下限 {0}（95% 区间 {1}–{2}）"),
    (rf"FID/floor {NUM} \(no interval: {NUM} samples; an interval needs at least {NUM}\)",
     "FID/下限 {0}（无区间：{1} 个样本；区间至少需要 {2} 个）"),
    (rf"KID − floor {NUM} \(no interval: {NUM} samples; an interval needs at least {NUM}\)",
     "KID − 下限 {0}（无区间：{1} 个样本；区间至少需要 {2} 个）"),
    (rf"FID(?: at n={NUM})? {NUM} is {NUM}× its floor {NUM} \(95% interval {NUM}–{NUM}×\)",
     "[[n={0} 时的]]FID {1} 是其下限 {3} 的 {2} 倍（95% 区间 {4}–{5} 倍）"),
    (rf"FID / floor {NUM}× has a 95% interval {NUM}–{NUM}× that holds the warning line {NUM}×: not resolved at n={NUM}; "
     r"more samples narrow it",
     "FID / 下限 {0} 倍的 95% 区间 {1}–{2} 倍包含了警告线 {3} 倍：在 n={4} 下无法判定；更多样本会让区间变窄"),
    (r"intervals: bootstrap standard interval, (\d+) resamples of the generated, reference and held-out sets \(within each "
     r"class\); KID − floor is the unbiased MMD² of all the samples against the reference minus that of held-out "
     r"sets with their class counts, so a class-balanced set of real images scores 0 on it while its raw KID is below 0",
     "区间：自助法标准区间，对生成集、参照集和留出集（在每个类别内）重抽样 {0} 次；KID − 下限是全部样本相对参照集的无偏"
     " MMD² 减去具有相同类别数量的留出集的无偏 MMD²，所以一组类别均衡的真实图像在它上面得 0，而它的原始 KID 低于 0"),
    (r"intervals: bootstrap standard interval, (\d+) resamples of the generated, reference and held-out sets; KID − floor is "
     r"the unbiased MMD² of all the samples against the reference minus that of held-out sets with their class counts, "
     r"so a class-balanced set of real images scores 0 on it while its raw KID is below 0",
     "区间：自助法标准区间，对生成集、参照集和留出集重抽样 {0} 次；KID − 下限是全部样本相对参照集的无偏 MMD² 减去具有"
     "相同类别数量的留出集的无偏 MMD²，所以一组类别均衡的真实图像在它上面得 0，而它的原始 KID 低于 0"),
    (rf"warn if FID \(at the floor's n and class counts\) / the real-vs-real floor has its 95% interval above {NUM}× and "
     rf"FID > {NUM} \(below {NUM} samples: FID > {NUM}× the floor and > the floor \+ 2σ\), precision < {NUM}, recall < {NUM} "
     rf"or conditional accuracy < {NUM}%",
     "FID（在下限的 n 和各类别数量下）/ 真实对真实下限的 95% 区间整体高于 {0} 倍且 FID > {1}（样本少于 {2} 个时：FID > "
     "下限的 {3} 倍且 > 下限 + 2σ），或精确率 < {4}、召回率 < {5}、条件准确率 < {6}% 时警告"),
    (rf"IS {NUM}", "IS {0}"),
    (rf"precision {NUM} / recall {NUM}", "精确率 {0} / 召回率 {1}"),
    (rf"conditional accuracy {NUM}%", "条件准确率 {0}%"),
    (r"(\S+) training split", "{0} 训练集"),
    (r"(\S+) held-out split", "{0} 留出集"),
    (rf"FID(?: at n={NUM})? {NUM} is {NUM}× its floor {NUM}", "[[n={0} 时的]]FID {1} 是其下限 {3} 的 {2} 倍"),
    (rf"precision {NUM} < {NUM}: many samples lie off the data", "精确率 {0} < {1}：许多样本偏离了数据流形"),
    (rf"recall {NUM} < {NUM}: the samples cover little of the data", "召回率 {0} < {1}：样本只覆盖了数据的一小部分"),
    (rf"conditional accuracy {NUM}% < {NUM}%", "条件准确率 {0}% < {1}%"),
    (r"Train longer and sample with the EMA weights \(and all T steps, or more DDIM steps\)\.",
     "延长训练并用 EMA 权重采样（并用全部 T 步，或更多 DDIM 步数）。"),
    (r"Low precision means off-manifold samples: train longer, keep clip_denoised=True\.",
     "精确率低说明样本偏离数据流形：延长训练，保持 clip_denoised=True。"),
    (r"Low recall means missing modes: check for mode collapse \(see the diversity check\) and sample at temperature "
     r"1(?: (with a lower guidance scale))?\.",
     "召回率低说明缺了一些模式：检查是否模式坍缩（见“多样性”检查），并用温度 1[[{0}]]采样。"),
    (r"with a lower guidance scale", "、更低的引导强度"),
    (r"Weak conditioning: raise the classifier-free guidance scale \(2–3\), or train longer with label dropout ≈ 0\.1\.",
     "条件生成偏弱：提高无分类器引导的强度（2–3），或用约 0.1 的标签丢弃率延长训练。"),
    (r"Compare FIDs only at the same n and feature network\.", "只在相同的 n 和特征网络下比较 FID。"),
    (rf"warn if FID \(at the floor's n and class counts\) > {NUM}× the real-vs-real floor, > the floor \+ 2σ \(σ: its "
     rf"spread across independent draws\) and > {NUM}, precision < {NUM}, recall < {NUM} or conditional accuracy < {NUM}%",
     "FID（在下限的 n 和各类别数量下）> 真实对真实下限的 {0} 倍、> 下限 + 2σ（σ：它在独立抽取之间的离散度）且 > {1}，"
     "或精确率 < {2}、召回率 < {3}、条件准确率 < {4}% 时警告"),
    # the wording of reports written before the floor's ± was its spread across independent draws (docs/report)
    (rf"warn if FID \(at the floor's n and class counts\) > {NUM}× the real-vs-real floor and > {NUM}, precision < {NUM}, "
     rf"recall < {NUM} or conditional accuracy < {NUM}%",
     "FID（在下限的 n 和各类别数量下）> 真实对真实下限的 {0} 倍且 > {1}、精确率 < {2}、召回率 < {3} 或条件准确率 < {4}% "
     "时警告"),
    (rf"the real-vs-real floor is the FID of {NUM} real held-out images against the same reference \(drawn with as "
     rf"many images of each class as the samples were asked for, mean ± spread over {NUM} draws\): .*",
     "真实对真实的下限是 {0} 张真实留出图像相对同一参照集的 FID（每个类别抽取的图像数与要求生成的样本相同，给出 {1} 次"
     "抽取的均值 ± 离散度）：这是完美的生成器在这个 n 下的得分。n 小时 FID 偏高，所以目标是这个下限而不是 0。留出图像"
     "从未被扩散模型和特征网络见过，所以模型可以接近下限，但除去随机波动之外不会低于它"),
    (rf"feature network: (\S+) \(sha256 (\S+), test accuracy {NUM}% on the held-out {NUM}% of (\S+)\)",
     "特征网络：{0}（sha256 {1}，在 {4} 留出的 {3}% 上测试准确率 {2}%）"),
    (r"feature network: (\S+) \(ImageNet IMAGENET1K_V1 weights, sha256 (\S+); torchvision weights, not the TF FID "
     r"weights: compare only with FIDs computed the same way\)",
     "特征网络：{0}（ImageNet IMAGENET1K_V1 权重，sha256 {1}；是 torchvision 的权重而不是 TF 版 FID 的权重：只能与同样"
     "方法算出的 FID 比较）"),
    (rf"the real-vs-real floor is the FID of {NUM} real held-out images against the same reference \(drawn (with as many "
     r"images of each class as the samples were asked for|at random, as an unconditional model's classes fall)(?:, "
     rf"mean of {NUM} draws)?\): what a perfect generator scores at this n\. FID is biased upwards at small n, so the "
     r"floor, not 0, is the target\. Its ± is its spread across independent sets of unseen images, estimated from "
     r"disjoint held-out subsets \(scaled by √\(m/n\) from halves of m when the split holds fewer than 2n\), not the "
     r"spread of overlapping draws\. (.+)",
     "真实对真实的下限是 {0} 张真实留出图像相对同一参照集的 FID（{1!t}[[，取 {2} 次抽取的平均]]）：这是完美的生成器在这个"
     " n 下的得分。n 小时 FID 偏高，所以目标是这个下限而不是 0。它的 ± 是在互不相同的未见图像集合之间的离散度，由互不相交"
     "的留出子集估计（留出集不足 2n 张时，由两半各 m 张按 √(m/n) 缩放），而不是重叠抽取之间的离散度。{3!t}"),
    (r"with as many images of each class as the samples were asked for", "每个类别抽取的图像数与要求生成的样本相同"),
    (r"at random, as an unconditional model's classes fall", "随机抽取，就像无条件模型生成的类别那样分布"),
    (r"The held-out images were never seen by the diffusion model or the feature network, so a model can approach "
     r"the floor but, apart from noise, not go below it",
     "留出图像从未被扩散模型和特征网络见过，所以模型可以接近下限，但除去随机波动之外不会低于它。"),
    (r"This model was trained on the held-out images too, so they are not unseen data for it: an FID at or below the "
     r"floor shows that the samples match the training data, not that the model generalises",
     "这个模型也在留出图像上训练过，所以它们对它来说并不是未见过的数据：FID 达到或低于下限只说明样本与训练数据相符，"
     "并不说明模型能泛化。"),
    (r"no real-vs-real floor \(no held-out split\): FID has no target here, and FID and IS are biased at small n, so "
     r"compare them only at the same n",
     "没有真实对真实的下限（没有留出集）：这里的 FID 没有目标值，而且 n 小时 FID 和 IS 都有偏差，所以只在相同的 n 下比较"),
    (rf"at the floor: FID {NUM} lies within 2σ \({NUM}\) of the floor {NUM}, so at this n the samples cannot be told "
     r"from unseen real images",
     "已达下限：FID {0} 与下限 {2} 相差不到 2σ（{1}），所以在这个 n 下样本与未见过的真实图像无法区分"),
    (r"the floor's spread across independent draws cannot be estimated at this n \(too few held-out images\), so no "
     r"FID here is called 'at the floor'",
     "在这个 n 下无法估计下限在独立抽取之间的离散度（留出图像太少），所以这里不把任何 FID 称为“已达下限”"),
    (rf"the samples score {NUM} below the floor, more than twice its spread: usually chance at small n; whether they "
     r"copy training images is the memorisation check's question",
     "样本的得分比下限低 {0}，超过其离散度的两倍：n 小时这通常是偶然；样本是否在复制训练图像，要看“记忆化”检查"),
    (rf"the held-out split holds fewer images than the {NUM} generated, so the floor uses n={NUM}; the samples are scored "
     rf"at the same n and class counts for the comparison \(FID {NUM}, mean of {NUM} draws\)",
     "留出集的图像比生成的 {0} 个少，所以下限用 n={1}；比较时样本也在相同的 n 和各类别数量下打分（FID {2}，{3} 次"
     "抽取的平均）"),
    (r"generated images were resized \(bilinear\) to 299x299 for Inception-v3",
     "生成的图像为了 Inception-v3 用双线性插值缩放到了 299x299"),
    (r"conditional accuracy needs a classifier of the data set's classes; (\S+)'s are ImageNet's, so it is not computed",
     "条件准确率需要一个按数据集类别训练的分类器；{0} 的类别是 ImageNet 的，所以不计算"),
    (r"the feature network was trained on '(.+?)', the reference is '(.+?)': its features may not suit these images",
     "特征网络是在 '{0}' 上训练的，参照集却是 '{1}'：它的特征可能不适合这些图像"),
    (rf"n={NUM} generated is below the feature dimension {NUM}: the covariance is singular and FID is strongly biased "
     r"upwards; compare only FIDs at the same n",
     "生成的 n={0} 小于特征维度 {1}：协方差矩阵奇异，FID 会严重偏高；只比较相同 n 下的 FID"),
    (rf"the feature network held out another split \({NUM}%, seed {NUM}\) than the model \({NUM}%, seed {NUM}\): some "
     r"held-out images were in its training data, so the floor may read a little low",
     "特征网络留出的划分（{0}%，随机种子 {1}）与模型的（{2}%，随机种子 {3}）不同：部分留出图像在它的训练数据里，所以"
     "下限可能略偏低"),
    (r"no feature network available", "没有可用的特征网络"),
    (r"needs the real data set as reference(?:: (.+))?", "需要真实数据集作为参照[[：{0!t}]]"),
    (r"the metrics could not be computed: (.+)", "指标无法计算：{0}"),
    (r"Inception-v3 is not available here: (.+)", "这里用不了 Inception-v3：{0}"),
    (r"no feature network file: (.+)", "没有特征网络文件：{0}"),
    (r"the feature network module is not available \((.+)\)", "特征网络模块不可用（{0}）"),
    (r"the feature network could not be loaded: (.+)", "特征网络无法加载：{0}"),
    (r"the feature network (\S+) was trained on '(.+?)', but this model's data set is '(.+?)'; its numbers would not "
     r"mean anything here\. .*",
     "特征网络 {0} 是在 '{1}' 上训练的，而这个模型的数据集是 '{2}'，它给出的数字在这里没有意义。请用 `python -m "
     "diagnostics.features --data <data> --out <file>` 在这份数据上训练一个（或运行报告时加 --train-features）"),
    (r"the feature network (\S+) takes (\S+) images, the model makes (\S+); run the report with --train-features .*",
     "特征网络 {0} 接收 {1} 的图像，而模型生成的是 {2}；请带上 --train-features（以及带标签的 --reference 图像集）运行"
     "报告，训练一个这个尺寸的特征网络"),
    (r"the feature network (\S+) takes (\d+)-channel images, the model makes (\d+)",
     "特征网络 {0} 接收 {1} 通道的图像，而模型生成的是 {2} 通道"),
    (r"(\S+) takes 1- or 3-channel images, the model makes (\d+)", "{0} 接收 1 或 3 通道的图像，而模型生成的是 {1} 通道"),
    # -------------------------------------------------------------------------------------- memorisation
    (rf"No copies: samples are {NUM}× as far from their nearest training image as real held-out images are \(median L2 "
     rf"{NUM} vs {NUM}\); {NUM}% are closer than {NUM}% of held-out images \(real data: {NUM}%\)\.",
     "没有复制：样本到最近训练图像的距离是真实留出图像的 {0} 倍（L2 中位数 {1} 对 {2}）；{3}% 的样本比 {4}% 的留出图像"
     "更近（真实数据：{5}%）。"),
    (rf"Samples copy training images: {NUM}% are closer to a training image than {NUM}% of real held-out images are, and "
     rf"the median distance to the nearest training image is {NUM}× the held-out images' \({NUM} vs {NUM}\)\.",
     "样本在复制训练图像：{0}% 的样本比 {1}% 的真实留出图像更接近某张训练图像，到最近训练图像距离的中位数是留出图像的 "
     "{2} 倍（{3} 对 {4}）。"),
    (r"The model memorises its training set: use an earlier checkpoint or train for fewer steps, train on more data or "
     r"with augmentation, or use a smaller model; look at the closest pairs listed below\.",
     "模型记住了它的训练集：请使用更早的检查点或减少训练步数，用更多数据或数据增强训练，或换用更小的模型；看看下面列出的"
     "最接近的图像对。"),
    (rf"warn if the samples' median distance to their nearest training image is < {NUM}× that of real held-out images, "
     rf"or if more than {NUM}% of the samples are closer to a training image than {NUM}% of held-out images are \(real "
     rf"data: {NUM}%\)",
     "样本到最近训练图像距离的中位数 < 真实留出图像的 {0} 倍，或超过 {1}% 的样本比 {2}% 的留出图像更接近某张训练图像"
     "（真实数据：{3}%）时警告"),
    (rf"{NUM} samples and {NUM} real held-out images against {NUM} training images; L2 distance in pixel space \(images in "
     r"\[-1, 1\]\)",
     "{0} 个样本和 {1} 张真实留出图像，对 {2} 张训练图像；像素空间的 L2 距离（图像在 [-1, 1]）"),
    (r"a copy detector: ≈ 1× for a model that makes new images, 0 for verbatim copies; blurred or noisy samples lie "
     r"further away \(> 1×\), which the smoothness check judges",
     "这是一个复制检测器：生成新图像的模型约为 1 倍，逐像素复制为 0；模糊或带噪声的样本离得更远（> 1 倍），这由“平滑度”"
     "检查判断"),
    (r"the model was trained on the held-out images too, so the samples are compared with every image it saw, and the "
     r"baseline is the held-out images' distance to the rest: a slightly larger pool, so the ratio reads a little low",
     "模型也在留出图像上训练过，所以样本要与它见过的每张图像比较，基线是留出图像到其余图像的距离：比较的图像池略大，"
     "所以这个比值会略偏低"),
    (r"needs the training images and a held-out split: (.+)", "需要训练图像和留出集：{0!t}"),
    (r"no held-out split: the baseline needs real images the model never saw",
     "没有留出集：基线需要模型从未见过的真实图像"),
    (r"no held-out split: the comparison needs real images the model never saw",
     "没有留出集：比较需要模型从未见过的真实图像"),
    (r"some samples hold NaN/Inf \(the diversity and smoothness checks fail on that\)",
     "有样本含有 NaN/Inf（“多样性”和“平滑度”检查会因此判为失败）"),
    # ------------------------------------------------------------------------- the real data and its split
    (rf"the model was trained on every image, the held-out {NUM}% included \(its checkpoint (says holdout=0|records no "
     rf"hold-out)\): no real image is unseen by it; retrain with --holdout {NUM} for an honest floor and copy baseline",
     "模型在所有图像上都训练过，包括留出的 {0}%（它的检查点{1!t}）：没有一张真实图像是它没见过的；请用 --holdout {2} "
     "重新训练，才能得到可信的下限和复制基线"),
    (r"says holdout=0", "写着 holdout=0"),
    (r"records no hold-out", "没有记录留出比例"),
    (rf"the checkpoint was trained on {NUM} images but its training split holds {NUM} here: the data set may have "
     r"changed since", "检查点是在 {0} 张图像上训练的，但这里它的训练集有 {1} 张：数据集可能已经变了"),
    (r"too few images per class to hold any out: no held-out split", "每个类别的图像太少，留不出图像：没有留出集"),
    (r"(.+): no held-out split", "{0}：没有留出集"),
    # ------------------------------------------------------------------------------------- generalisation
    (rf"Held-out images are denoised as well as training images: the largest gap is {NUM}% \(t ∈ \[{NUM}, {NUM}\]\), "
     rf"{NUM}% at the lowest noise\.",
     "留出图像和训练图像的去噪效果一样好：最大差距为 {0}%（t ∈ [{1}, {2}]），噪声最小的区间为 {3}%。"),
    (r"Training images are denoised better than held-out ones in (.+?)(?: — (at low noise, the first sign of "
     r"memorisation))?\.",
     "训练图像的去噪效果比留出图像好，出现在 {0}[[{1!t}]]。"),
    (r"at low noise, the first sign of memorisation", "——在低噪声处，这是记忆化的最初迹象"),
    (r"The model denoises its training images better than new ones: it is starting to memorise\. Stop earlier \(use "
     r"an earlier checkpoint, or fewer steps\), train on more data or with augmentation \(flips, small shifts\), or "
     r"add dropout \(--dropout 0\.1\)\.",
     "模型对训练图像的去噪好于新图像：它开始记忆训练数据了。请早点停止（用更早的检查点或更少的步数），用更多数据或数据增强"
     "（翻转、小幅平移）训练，或加入 dropout（--dropout 0.1）。"),
    (rf"warn if, in some band of t, the held-out loss exceeds the training loss by more than {NUM}% and the paired gap "
     r"exceeds 3 standard errors",
     "在某个 t 区间里，留出图像的损失比训练图像高出 {0}% 以上，且配对差距超过 3 个标准误时警告"),
    (rf"{NUM} training and {NUM} held-out images, {NUM} draw\(s\) of \(t, ε\) per image and band, shared by each pair; "
     r"loss = mean over pixels of \(ε̂ − ε\)², ε̂ from the model's own parameterisation",
     "{0} 张训练图像和 {1} 张留出图像，每张图像在每个区间抽取 {2} 次 (t, ε)，每对图像共用；损失 = (ε̂ − ε)² 在像素上的"
     "平均，ε̂ 由模型自己的参数化得到"),
    (r"the gap opens at low noise first when a model starts to memorise; compare with the memorisation check, which "
     r"looks for copies among the samples",
     "模型开始记忆时，差距最先在低噪声处出现；可与在样本中寻找复制的“记忆化”检查对照"),
    (r"the model was trained on every image, the held-out split included: no image is new to it \(retrain with "
     rf"--holdout {NUM}\)", "模型在所有图像上都训练过，包括留出集：没有一张图像对它是新的（请用 --holdout {0} 重新训练）"),
    (r"The denoising loss is not finite: the network outputs NaN/Inf\.", "去噪损失不是有限值：网络输出了 NaN/Inf。"),
    (r"fail if the loss is not finite", "损失不是有限值时判为失败"),
    (r"See the model-basics check; use an earlier checkpoint\.", "请看“模型基本情况”检查；使用更早的检查点。"),
    # ----------------------------------------------------------------------------------- likelihood (bits/dim)
    (rf"−log₂ p\(x( \| y)?\) ≤ {NUM} ± {NUM} bits/dim on {NUM} training images; no unseen held-out split to compare "
     r"with\.",
     "在 {3} 张训练图像上 −log₂ p(x{0}) ≤ {1} ± {2} 比特每维（bits/dim）；没有未见过的留出集可以比较。"),
    (rf"−log₂ p\(x( \| y)?\) ≤ {NUM} ± {NUM} bits/dim on {NUM} training images, {NUM} ± {NUM} on {NUM} held-out images: gap "
     rf"{NUM} ± {NUM} \({NUM}%\)\.",
     "−log₂ p(x{0}) ≤ {1} ± {2} 比特每维（bits/dim，{3} 张训练图像），{4} ± {5}（{6} 张留出图像）：差距 {7} ± {8}"
     "（{9}%）。"),
    (rf"warn if held-out bits/dim exceed training bits/dim by more than {NUM}% and by more than 3 standard errors of the "
     r"paired gap; fail if the bound is not finite",
     "留出图像的 bits/dim 比训练图像高出 {0}% 以上且超过配对差距的 3 个标准误时警告；变分下界不是有限值时判为失败"),
    (rf"every {NUM}-th timestep evaluated \(±{NUM} bits/dim from the stride if the mean term is monotone between "
     r"evaluated timesteps\); 8-bit data, discretised Gaussian decoder, (\S+) reverse variance, x̂_0 clipped to "
     r"\[−1, 1\]",
     "每隔 {0} 个时间步计算一次（若平均项在计算过的时间步之间单调，步长带来的误差在 ±{1} bits/dim 以内）；8 位数据，"
     "离散化高斯解码器，逆向去噪方差 {2}，x̂_0 截断到 [−1, 1]"),
    (r"held-out minus training bits/dim: the model assigns its training images more probability than new ones; a gap "
     r"well above its standard error means it has started to fit the training set itself",
     "留出减训练的 bits/dim：模型给训练图像的概率比新图像高；差距远大于其标准误，说明模型已开始拟合训练集本身"),
    (rf"KL terms evaluated at every t ≤ {NUM} then every {NUM}-th t \({NUM} of {NUM}\); each missing term is the mean of its "
     rf"evaluated neighbours, within ±{NUM} bits/dim of the full sum if the mean term is monotone between them",
     "KL 项在 t ≤ {0} 时逐个计算，之后每隔 {1} 个 t 计算一次（共 {2} / {3} 个）；缺失的项取相邻已算项的平均，若平均项在"
     "它们之间单调，与完整求和相差在 ±{4} bits/dim 以内"),
    (r"no held-out split the model never saw: (it trained on every image|too few images to hold any out)",
     "没有模型从未见过的留出集：{0!t}"),
    (r"it trained on every image", "它在所有图像上都训练过"),
    (r"too few images to hold any out", "图像太少，留不出来"),
    (r"The bound is not finite: the network outputs NaN/Inf on noised real images\.",
     "变分下界不是有限值：网络在加噪的真实图像上输出了 NaN/Inf。"),
    (r"See the model-basics check: the weights hold NaN/Inf or the run diverged; use an earlier checkpoint\.",
     "请看“模型基本情况”检查：权重含有 NaN/Inf 或训练发散了；请使用更早的检查点。"),
    (r"The model gives its training images clearly more probability than new ones: it is fitting the training set "
     r"itself\. See the generalisation check for where \(which noise levels\); stop earlier \(an earlier checkpoint\), "
     r"train on more data or with augmentation, or add dropout\.",
     "模型给训练图像的概率明显高于新图像：它在拟合训练集本身。请看“泛化”检查找出在哪些噪声水平上；早点停止（用更早的"
     "检查点），用更多数据或数据增强训练，或加入 dropout。"),
    (r"not computed in quick mode \(≈ 2·\(stride \+ T/stride\) network passes per image\): run the full report, add "
     r"--likelihood, or run `python -m diagnostics likelihood CKPT`",
     "快速模式下不计算（每张图像约需 2·(stride + T/stride) 次网络前向）：请运行完整报告、加上 --likelihood，或运行 "
     "`python -m diagnostics likelihood CKPT`"),
    (r"needs the real data set(?:: (.+))?", "需要真实数据集[[：{0!t}]]"),
    # ---------------------------------------------------------------------------------------- performance
    (rf"A full DDPM run \({NUM} calls\) takes ≈ {NUM} (min|s|h|ms) per batch of {NUM} \({NUM} (min|s|h|ms) for one "
     rf"image\); DDIM-{NUM} takes ≈ {NUM} (min|s|h|ms)\.",
     "完整的 DDPM 采样（{0} 次网络调用）每批 {3} 张约需 {1} {2!u}（一张图 {4} {5!u}）；DDIM-{6} 约需 {7} {8!u}。"),
    (rf"{NUM} ms per network call at batch {NUM} \({NUM} ms at batch 1\): a full DDPM run takes ≈ {NUM} (min|s|h|ms) per "
     rf"batch, DDIM-{NUM} ≈ {NUM} (min|s|h|ms)\.",
     "批大小 {1} 时每次网络调用 {0} 毫秒（批大小 1 时 {2} 毫秒）：完整的 DDPM 采样每批约需 {3} {4!u}，DDIM-{5} 约需 "
     "{6} {7!u}。"),
    (rf"warn if a full T={NUM}-step DDPM run of one batch of {NUM} is projected to take > {NUM} s \(seed 001: > {NUM} s\)",
     "预计 T={0} 步的完整 DDPM 采样跑一批 {1} 张超过 {2} 秒时警告（seed 001：> {3} 秒）"),
    (rf"Use DDIM for speed \(sampler='ddim', steps={NUM}: ≈ {NUM}× fewer network calls\); on a GPU enable mixed precision "
     r"and batch the images; a smaller preset also helps\.",
     "要快就用 DDIM（sampler='ddim'，steps={0}：网络调用少约 {1} 倍）；在 GPU 上启用混合精度并成批生成；更小的预设"
     "也有帮助。"),
    (rf"median of {NUM} timed calls after one warm-up, on (\S+)(?: with {NUM} threads)?; other work on the machine "
     r"inflates these",
     "预热一次后计时 {0} 次调用取中位数，设备 {1}[[，{2} 个线程]]；机器上的其他任务会使这些数字偏大"),
    (r"memory: estimate: sum of leaf-module output bytes in one forward pass",
     "内存：估计值，为一次前向传播中各叶子模块输出字节数之和"),
    (r"memory: measured peak \(torch\.cuda\.max_memory_allocated\)", "内存：实测峰值（torch.cuda.max_memory_allocated）"),
    (r"classifier-free guidance with a scale other than 0 or 1 doubles the batch of every call",
     "引导强度不为 0 或 1 的无分类器引导会让每次调用的批量翻倍"),
]
