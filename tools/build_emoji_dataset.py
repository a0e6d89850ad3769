"""Build ddpm/sources/data/emoji64.npz, the offline colour data set "emoji", from Debian's Noto Color Emoji font.

    apt-get install fonts-noto-color-emoji unicode-data      # the font (CBDT colour bitmaps) and emoji-test.txt
    python tools/build_emoji_dataset.py                     # writes the .npz and its licence notice

What it does, in order:
  1. reads every fully-qualified emoji of Unicode's emoji-test.txt with its group (Smileys & Emotion, People & Body,
     Animals & Nature, Food & Drink, Travel & Places, Activities, Objects, Symbols, Flags; "Component" is left out);
  2. leaves out skin-tone variants (U+1F3FB..U+1F3FF): five near-copies of one drawing would make memorisation and
     diversity checks measure the font's tones, not a model;
  3. finds each emoji's bitmap in the font: one code point through the cmap, a sequence (ZWJ, flags, keycaps)
     through the font's GSUB ligatures (U+FE0F dropped, as the font's ligatures do); one image per distinct glyph;
  4. pastes the 136x128 RGBA bitmap centred on a white 136x136 square and resizes it to 64x64 (PIL's Lanczos).

The result is uint8 (N, 64, 64, 3) with group labels and each emoji's Unicode name; the loader makes 32x32 (or any
size) from it. The images are Google's Noto Emoji, Apache-2.0 (notice written beside the file).
"""
from __future__ import annotations

import argparse
import io
import unicodedata
from pathlib import Path

import numpy as np

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
OUT = Path(__file__).resolve().parents[1] / "ddpm" / "sources" / "data" / "emoji64.npz"
GROUPS = ("Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Travel & Places",
          "Activities", "Objects", "Symbols", "Flags")
SKIN_TONES = range(0x1F3FB, 0x1F400)
SIZE = 64
NOTICE = """The images in emoji64.npz are the colour bitmaps of Noto Color Emoji (https://github.com/googlefonts/noto-emoji),
Copyright 2013-2017 Google Inc., Arjen Nienhuis, licensed under the Apache License, Version 2.0
(https://www.apache.org/licenses/LICENSE-2.0), as Debian's fonts-noto-color-emoji {version} ships them.
Changes: each bitmap pasted centred on a white square and resized to 64x64 pixels (tools/build_emoji_dataset.py);
skin-tone variants left out. Group labels from Unicode's emoji-test.txt (Unicode License v3).
"""


def emoji_sequences(path: Path = EMOJI_TEST) -> list[tuple[tuple[int, ...], str]]:
    """(code points, group) for every fully-qualified emoji without a skin tone, in the file's order."""
    out, group = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#") and "; fully-qualified" in line and group in GROUPS:
            cps = tuple(int(c, 16) for c in line.split(";")[0].split())
            if not any(c in SKIN_TONES for c in cps):
                out.append((cps, group))
    return out


def glyph_finder(font):
    """code points -> glyph name (or None): the cmap for one code point, GSUB ligatures for a sequence."""
    cmap = font.getBestCmap()
    ligatures = {}
    for lookup in font["GSUB"].table.LookupList.Lookup:
        for sub in lookup.SubTable:
            sub = sub.ExtSubTable if lookup.LookupType == 7 else sub
            for first, ligs in getattr(sub, "ligatures", {}).items():
                for lig in ligs:
                    ligatures[(first, *lig.Component)] = lig.LigGlyph

    def find(cps: tuple[int, ...]):
        glyphs = tuple(cmap.get(c) for c in cps if c != 0xFE0F)
        if not glyphs or None in glyphs:
            return None
        return glyphs[0] if len(glyphs) == 1 else ligatures.get(glyphs)
    return find


def render(png: bytes, size: int = SIZE) -> np.ndarray:
    from PIL import Image
    im = Image.open(io.BytesIO(png)).convert("RGBA")
    side = max(im.size)
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.alpha_composite(im, ((side - im.width) // 2, (side - im.height) // 2))
    return np.asarray(canvas.convert("RGB").resize((size, size), Image.LANCZOS), dtype=np.uint8)


def build(font_path: Path = FONT, emoji_test: Path = EMOJI_TEST, out: Path = OUT) -> dict:
    from fontTools.ttLib import TTFont
    font = TTFont(str(font_path))
    bitmaps = font["CBDT"].strikeData[0]
    find = glyph_finder(font)
    images, labels, names, seen = [], [], [], set()
    for cps, group in emoji_sequences(emoji_test):
        glyph = find(cps)
        if glyph is None or glyph in seen or glyph not in bitmaps:
            continue
        seen.add(glyph)
        images.append(render(_png(bitmaps[glyph])))
        labels.append(GROUPS.index(group))
        names.append(" ".join(unicodedata.name(chr(c), f"U+{c:04X}") for c in cps if c not in (0xFE0F, 0x200D)))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, images=np.stack(images), labels=np.asarray(labels, np.int64),
                        names=np.asarray(names), groups=np.asarray(GROUPS))
    version = font["name"].getDebugName(5) or "unknown version"
    (out.parent / "emoji_NOTICE.txt").write_text(NOTICE.format(version=f"({version})"), encoding="utf-8")
    return {"images": len(images), "bytes": out.stat().st_size,
            "per_group": {g: labels.count(i) for i, g in enumerate(GROUPS)}}


def _png(bitmap) -> bytes:
    """The PNG bytes of one CBDT bitmap (formats 17/18/19 keep them in imageData)."""
    if not hasattr(bitmap, "imageData"):
        bitmap.decompile()
    return bitmap.imageData


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--font", type=Path, default=FONT)
    p.add_argument("--emoji-test", type=Path, default=EMOJI_TEST)
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    for f in (a.font, a.emoji_test):
        if not f.is_file():
            raise SystemExit(f"error: {f} not found; apt-get install fonts-noto-color-emoji unicode-data")
    print(build(a.font, a.emoji_test, a.out))


if __name__ == "__main__":
    main()
