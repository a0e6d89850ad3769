"""Where the shipped files (models, classifier, feature networks) are found, in a checkout and when installed.

    bundled_dir() = $DDPM_WORKBENCH_CHECKPOINTS          if set
                  = <checkout>/checkpoints               in a source checkout or an editable install (pip install -e .)
                  = <site-packages>/ddpm/bundled          after `pip install .` (the wheel carries checkpoints/ there)

The bundled models are also reachable by name from any folder: `--ckpt mnist`, `load_checkpoint("bundled:mnist")`
(`resolve_checkpoint`); an installation without them fetches them once from $DDPM_WORKBENCH_BUNDLED_URL.
"""
from __future__ import annotations

import os
from pathlib import Path

from .messages import MessageError

_PACKAGE = Path(__file__).resolve().parent


def bundled_dir() -> Path:
    """The folder holding digits_tiny.safetensors, mnist_*.safetensors, features_*.safetensors, ..."""
    env = os.environ.get("DDPM_WORKBENCH_CHECKPOINTS")
    if env:
        return Path(env)
    checkout = _PACKAGE.parent / "checkpoints"
    return checkout if checkout.is_dir() else _PACKAGE / "bundled"


def bundled_file(name: str) -> Path:
    """A shipped file by name, e.g. bundled_file("digits_tiny.safetensors")."""
    return bundled_dir() / name


# ---- the bundled models by name -------------------------------------------------------------------------
BUNDLED_MODELS = {"digits": "digits_tiny.safetensors", "mnist": "mnist_tiny.safetensors",
                  "emoji": "emoji_tiny.safetensors"}
BUNDLED_ALIASES = {"digits_tiny": "digits", "mnist_tiny": "mnist", "emoji_tiny": "emoji"}
BUNDLED_PREFIX = "bundled:"
BUNDLED_URL_ENV = "DDPM_WORKBENCH_BUNDLED_URL"   # the repository's checkpoints/ folder (raw files), to fetch from
MAX_FETCH_BYTES = 512 * 2**20


class BundledModelMissing(MessageError, FileNotFoundError):
    """A bundled model that this installation lacks and could not fetch."""


class FetchTooLarge(MessageError, OSError):
    """A download over MAX_FETCH_BYTES, stopped before the rest arrives."""


def cache_dir() -> Path:
    """Where fetched bundled models are kept: $XDG_CACHE_HOME/ddpm-workbench (default ~/.cache/ddpm-workbench)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ddpm-workbench"


def bundled_model(name: str) -> Path:
    """The file of a bundled model by name ("digits", "mnist"; "bundled:mnist" too): from this installation
    (bundled_dir()), else from the cache, else fetched once from $DDPM_WORKBENCH_BUNDLED_URL into the cache."""
    key = name[len(BUNDLED_PREFIX):] if name.startswith(BUNDLED_PREFIX) else name
    key = BUNDLED_ALIASES.get(key, key)
    if key not in BUNDLED_MODELS:
        raise MessageError("bundled.unknown", name=key, names=sorted(BUNDLED_MODELS))
    file = BUNDLED_MODELS[key]
    for candidate in (bundled_file(file), cache_dir() / file):
        if candidate.is_file():
            return candidate
    base = os.environ.get(BUNDLED_URL_ENV, "").strip()
    if not base:
        raise BundledModelMissing("bundled.missing", name=key, file=file, folder=str(bundled_dir()),
                                  cache=str(cache_dir()))
    return _fetch(key, base.rstrip("/") + "/" + file, cache_dir() / file)


def _fetch(name: str, url: str, dest: Path) -> Path:
    """Download url to dest atomically, refusing more than MAX_FETCH_BYTES (the loader then checks the file)."""
    import tempfile
    import urllib.request
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=60) as r:
            got = 0
            while chunk := r.read(1 << 20):
                got += len(chunk)
                if got > MAX_FETCH_BYTES:
                    raise FetchTooLarge("bundled.over_limit", mb=MAX_FETCH_BYTES // 2**20)
                f.write(chunk)
        os.replace(tmp, dest)
    except (OSError, ValueError) as e:      # URLError and HTTPError are OSErrors; a malformed URL a ValueError
        raise BundledModelMissing("bundled.fetch_failed", name=name, url=url,
                                  error=getattr(e, "message", None) or str(e)[:200]) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def resolve_checkpoint(ref: str | os.PathLike) -> str | os.PathLike:
    """What a checkpoint argument names, in this order: "bundled:NAME" -> that bundled model; an existing path ->
    itself; a bundled model's name ("mnist", "digits_tiny") -> that model; "checkpoints/<a bundled file>" that is not
    here (a command copied from the README, run outside the checkout) -> the bundled file; else ref unchanged
    (the loader says what is wrong with it)."""
    s = str(ref)
    if s.startswith(BUNDLED_PREFIX):
        return bundled_model(s)
    if Path(s).exists():
        return ref
    if s in BUNDLED_MODELS or s in BUNDLED_ALIASES:
        return bundled_model(s)
    p = Path(s)
    if p.parent == Path("checkpoints") and p.name in BUNDLED_MODELS.values():
        return bundled_model(p.stem)
    return ref
