"""What each number of the report is, in 中文: the sample-quality captions (FID with its real-vs-real floor, IS,
precision/recall, conditional accuracy, KID, FID against n), the bits/dim parts and their meaning, and the
descriptions that the report's number tables show (reference set, feature network, memory method). Same form as
diagnostics/i18n_sentences.py, whose number pattern it shares.
"""
from __future__ import annotations

from .i18n_sentences import NUM

PATTERNS: list[tuple[str, str]] = [
    (rf"FID {NUM} \(n={NUM} generated vs (.+?) n={NUM}; features: (\S+ sha256 \S+)(?:; FID {NUM} at the floor's n={NUM})?; "
     r"(.+)\)", "FID {0}（生成 n={1}，对 {2!t} n={3}；特征网络 {4}[[；在下限的 n={6} 下 FID 为 {5}]]；{7!t}）"),
    (rf"real-vs-real floor {NUM} \((.+)\)", "真实对真实的下限 {0}（{1!t}）"),
    (r"no real-vs-real floor \(no held-out split\)", "没有真实对真实的下限（没有留出集）"),
    (rf"(\S+) held-out split, n={NUM}( with the samples' class counts)?(?:, mean of {NUM} draws)?(?: ± {NUM})?"
     rf"(?: \(limited by the held-out split size; {NUM} requested\))?",
     "{0} 留出集，n={1}[[{2!t}]][[，{3} 次抽取的平均]][[ ± {4}]][[（受留出集大小限制；要求 {5} 张）]]"),
    (r"with the samples' class counts", "，各类别数量与样本相同"),
    (rf"± {NUM}: the spread across independent draws, estimated from {NUM} disjoint held-out subsets of {NUM}"
     rf"(?: \(limited by the held-out split size; {NUM} requested\))?",
     "± {0}：独立抽取之间的离散度，由 {1} 个互不相交、各 {2} 张的留出子集估计[[（受留出集大小限制；要求 {3} 张）]]"),
    (rf"± {NUM}: the spread across independent draws, estimated from 2 disjoint held-out subsets of {NUM}, scaled by "
     rf"√\({NUM}/n\)(?: \(limited by the held-out split size; {NUM} requested\))?",
     "± {0}：独立抽取之间的离散度，由 2 个互不相交、各 {1} 张的留出子集估计，再按 √({2}/n) 缩放"
     "[[（受留出集大小限制；要求 {3} 张）]]"),
    (r"its uncertainty cannot be estimated at this n \(the held-out split holds too few images\)"
     rf"(?: \(limited by the held-out split size; {NUM} requested\))?",
     "在这个 n 下无法估计它的不确定度（留出集图像太少）[[（受留出集大小限制；要求 {0} 张）]]"),
    (rf"real-vs-real FID floor {NUM} \((.+) vs (\S+ \S+ split) n={NUM}; features: (\S+ sha256 \S+)\)",
     "真实对真实的 FID 下限 {0}（{1!t}，对 {2!t} n={3}；特征网络 {4}）"),
    (r"real-vs-real FID floor: not computed \(no held-out split given\)", "真实对真实的 FID 下限：未计算（没有给出留出集）"),
    (rf"IS {NUM} ± {NUM} \(max {NUM}; n={NUM} generated, {NUM} split\(s\); features: (.+)\)",
     "IS {0} ± {1}（最大 {2}；生成 n={3}，分 {4} 份；特征网络 {5}）"),
    (rf"(precision|recall) {NUM} \(k={NUM}, n={NUM} generated vs n={NUM} of (.+?); features: (.+)\)",
     "{0!t} {1}（k={2}，生成 n={3} 对 {5!t}中的 n={4}；特征网络 {6}）"),
    (r"precision", "精确率"),
    (r"recall", "召回率"),
    (rf"conditional accuracy {NUM}% \(n={NUM} generated; classifier: (\S+) \(sha256 (\S+), test accuracy {NUM}% on the "
     rf"held-out {NUM}% of (\S+)\)\)",
     "条件准确率 {0}%（生成 n={1}；分类器 {2}（sha256 {3}，在 {6} 留出的 {5}% 上测试准确率 {4}%））"),
    (r"conditional accuracy: n/a \(unconditional samples\)", "条件准确率：不适用（无条件样本）"),
    (rf"KID {NUM} ± {NUM} \(unbiased MMD², polynomial kernel; mean ± std over {NUM} subsets of {NUM} of the {NUM} generated "
     rf"and {NUM} real images\)",
     "KID {0} ± {1}（无偏 MMD²，多项式核；{2} 个子集上的均值 ± 标准差，每个子集从 {4} 个生成样本和 {5} 张真实图像中各取 "
     "{3} 个）"),
    (rf"FID\(n\) ≈ {NUM} \+ {NUM}/n from n = {NUM}…{NUM}: (.+)", "FID(n) ≈ {0} + {1}/n（n = {2}…{3}）：{4!t}"),
    (r"the bias is not estimable", "偏差无法估计"),
    (rf"a stable FID \(bias ≤ {NUM}%\) needs n ≈ {NUM}", "稳定的 FID（偏差 ≤ {0}%）需要 n ≈ {1}"),
    (r"FID against n: (.+)", "FID 随 n 的变化：{0!t}"),
    (rf"needs FIDs at 3 or more n ≥ 10 to fit FID_∞ \+ c/n; {NUM} samples give {NUM}",
     "拟合 FID_∞ + c/n 需要至少 3 个 n ≥ 10 处的 FID；{0} 个样本只能给出 {1} 个"),
    (r"the fit gives no positive bias and FID_∞ \(too few samples, or FID near 0\)",
     "拟合得不到正的偏差和 FID_∞（样本太少，或 FID 接近 0）"),
    (r"L_T = KL\(q\(x_T\|x_0\) ‖ N\(0, I\)\): how far x_T is from pure noise; fixed by the schedule, not learnt",
     "L_T = KL(q(x_T|x_0) ‖ N(0, I))：x_T 离纯噪声有多远；由噪声调度决定，不需要学习"),
    (r"Σ L_\{t−1\} = Σ KL\(q\(x_\{t−1\}\|x_t, x_0\) ‖ p_θ\(x_\{t−1\}\|x_t\)\): how well each reverse step matches the "
     r"true posterior; most of it sits at small t, where the model must get fine detail right",
     "Σ L_{{t−1}} = Σ KL(q(x_{{t−1}}|x_t, x_0) ‖ p_θ(x_{{t−1}}|x_t))：每一步逆向去噪与真实后验分布的吻合程度；大部分集中在"
     "小 t 处，那里模型必须把细节做对"),
    (r"L_0 = −log p_θ\(x_0\|x_1\): the last step's discretised Gaussian over the 256 levels of each pixel",
     "L_0 = −log p_θ(x_0|x_1)：最后一步在每个像素 256 个灰度级上的离散化高斯分布"),
    (r"−log₂ p\(x\) per sub-pixel, an upper bound \(8 would be a uniform guess over 256 levels\); lower is better",
     "每个子像素的 −log₂ p(x)，是一个上界（在 256 个灰度级上均匀乱猜得 8）；越低越好"),
    (r"estimate: sum of leaf-module output bytes in one forward pass", "估计值：一次前向传播中各叶子模块输出字节数之和"),
    (r"real (\S+) images", "真实的 {0} 图像"),
    (rf"(\S+) (training|held-out) split \({NUM} images, (\d+)×(\d+)\)", "{0} {1!t}（{2} 张图像，{3}×{4}）"),
    (r"training", "训练集"),
    (r"held-out", "留出集"),
    (rf"(\S+) \(sha256 (\S+), test accuracy {NUM}% on the held-out {NUM}% of (\S+)\)",
     "{0}（sha256 {1}，在 {4} 留出的 {3}% 上测试准确率 {2}%）"),
    (r"prior L_T", "先验项 L_T"),
    (r"Σ KL L_\{t−1\}", "KL 项之和 Σ L_{{t−1}}"),
    (r"decoder L_0", "解码器 L_0"),
    (r"bits/dim \(total\)", "bits/dim（总计）"),
]
