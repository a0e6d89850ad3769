"""The feature network the sample metrics use: the shipped one for the checkpoint's data set, a file, torchvision's
Inception-v3, or one the caller built (`load_extractor`)."""
from __future__ import annotations

from typing import Optional

from .text import Message, msg


INCEPTION = "inception"     # feature_net name for torchvision's Inception-v3 (diagnostics.inception.load_inception)


def load_extractor(feature_net, data_meta: Optional[dict] = None) -> tuple[object, Optional[Message]]:
    """feature_net: a FeatureExtractor, a path, "inception" (torchvision's Inception-v3, where torchvision
    imports and its weights are cached or downloadable) or None for the shipped file of the checkpoint's data
    set (data_meta = meta["data"]: features_mnist for mnist, features_digits otherwise) -> (extractor, "") or
    (None, why it cannot be had)."""
    if feature_net is not None and not isinstance(feature_net, (str, bytes)) and not hasattr(feature_net, "__fspath__"):
        return feature_net, None
    if feature_net == INCEPTION:
        try:
            from .inception import load_inception
            return load_inception(), None
        except RuntimeError as e:
            return None, msg("quality.no_inception", error=getattr(e, "message", str(e)))
    try:
        from .features import default_feature_net, load_feature_net
        extractor = load_feature_net(feature_net or default_feature_net((data_meta or {}).get("name")))
    except FileNotFoundError as e:
        return None, msg("quality.no_net_file", error=getattr(e, "message", str(e)))
    except ImportError as e:
        return None, msg("quality.no_net_module", error=str(e))
    except ValueError as e:           # FeatureNetError: a damaged or foreign file
        return None, msg("quality.net_not_loaded", error=str(e))
    return extractor, None


class CachedEmbeddings:
    """A feature network that remembers its embeddings of the real sets every row is compared with (embedded once per
    sweep or doctor run, not once per sampler) and of the last set it embedded (a row's samples, scored and then
    compared again). Every other attribute is the network's."""

    def __init__(self, extractor, *real):
        self._net, self._kept, self._last = extractor, {id(x): (x, None) for x in real}, None

    def __getattr__(self, name):
        return getattr(self._net, name)

    def embed(self, images):
        kept = self._kept.get(id(images))
        if kept is not None and kept[0] is images:
            if kept[1] is None:
                self._kept[id(images)] = (images, self._net.embed(images))
            return self._kept[id(images)][1]
        if self._last is None or self._last[0] is not images:
            self._last = (images, self._net.embed(images))
        return self._last[1]

