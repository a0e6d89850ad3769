"""torchvision's ImageNet Inception-v3 as a feature extractor for the sample-quality metrics, where torchvision
imports (never here: the CPU torch build cannot import it; a GPU box or a Space can). Same interface as the
offline FeatureExtractor (`embed`, `features`, `probs`, `describe`), chosen with `--feature-net inception`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ddpm.messages import MessageError

from .features import Embedder, file_sha256


class InceptionUnavailable(MessageError, RuntimeError):
    """torchvision or its Inception-v3 weights cannot be had here; the offline feature network is used instead."""


class InceptionExtractor(Embedder):
    """torchvision's ImageNet Inception-v3 with the FeatureExtractor interface: 2048-d pool features and
    1000-class probabilities of images resized to 299x299 (grey replicated to RGB).

    These are torchvision weights, not the TF-ported weights of pytorch-fid / torch-fidelity, so FIDs from
    it are close to, but not the same as, published FIDs.
    """
    image_size, in_channels, num_features = 299, 3, 2048
    generic = True     # takes any image size (resized) and data set; its classes are ImageNet's, not the data's

    def __init__(self, model: nn.Module, class_names: list[str], sha256: str, device: str = "cpu",
                 batch_size: int = 64):
        self.net, self.class_names, self.sha256 = model.eval().requires_grad_(False), class_names, sha256
        self.num_classes, self.device, self.batch_size = len(class_names), device, batch_size
        self.name, self.dataset, self.test_accuracy, self.last_note = "inception-v3-torchvision", "ImageNet", float("nan"), None
        self._pool: list[Tensor] = []
        self.net.avgpool.register_forward_hook(lambda m, i, o: self._pool.append(o.flatten(1)))

    def describe(self) -> str:
        return (f"{self.name} (ImageNet IMAGENET1K_V1 weights, sha256 {self.sha256}…; torchvision weights, "
                "not the TF FID weights: compare only with FIDs computed the same way)")

    def embed(self, images) -> tuple[np.ndarray, np.ndarray]:
        x = torch.as_tensor(images).detach().cpu().float()
        if x.ndim == 3:
            x = x[:, None]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[1] != 3:
            raise MessageError("inception.channels", c=x.shape[1])
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        self.net.eval()
        feats, probs = [], []
        with torch.no_grad():
            for i in range(0, len(x), self.batch_size):
                b = F.interpolate(x[i:i + self.batch_size], size=(299, 299), mode="bilinear", align_corners=False)
                b = (((b.clamp(-1, 1) + 1) / 2 - mean) / std).to(self.device)     # (B, 3, 299, 299)
                self._pool.clear()
                logits = self.net(b)                                               # (B, 1000)
                feats.append(self._pool[-1].double().cpu())                        # (B, 2048)
                probs.append(logits.double().softmax(1).cpu())
        self.last_note = "images were resized (bilinear) to 299x299 for Inception-v3"
        return torch.cat(feats).numpy(), torch.cat(probs).numpy()


def load_inception(device: str | torch.device = "cpu") -> InceptionExtractor:
    """ImageNet Inception-v3 (torchvision) as a feature extractor, where torchvision imports and its weights
    are cached or downloadable. Raises RuntimeError otherwise; use load_feature_net() instead."""
    try:
        from torchvision.models import Inception_V3_Weights, inception_v3
    except Exception as e:  # missing, or a build that does not match torch
        raise InceptionUnavailable("inception.no_torchvision", kind=type(e).__name__, error=str(e)) from e
    weights = Inception_V3_Weights.IMAGENET1K_V1
    try:
        model = inception_v3(weights=weights, aux_logits=True).to(device)
    except Exception as e:
        raise InceptionUnavailable("inception.no_weights", error=str(e)) from e
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    sha = file_sha256(cached)[:12] if cached.exists() else "unknown"
    return InceptionExtractor(model, list(weights.meta["categories"]), sha, device=str(device))
