"""The prompt drawn as a wrapped caption on a band at the bottom of the frame."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont


def wrap(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_width: float, max_lines: int
) -> list[str]:
    words = text.split(" ")
    lines: list[str] = []
    current = ""
    i = 0
    while i < len(words) and len(lines) < max_lines:
        word = words[i]
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= max_width:
            current = candidate
            i += 1
            continue
        if not current:  # one word wider than the line: cut it
            cut = len(word)
            while cut > 1 and font.getlength(word[:cut]) > max_width:
                cut -= 1
            lines.append(word[:cut])
            words[i] = word[cut:]
            continue
        lines.append(current)
        current = ""
    if current and len(lines) < max_lines:
        lines.append(current)
        current = ""
    if i < len(words) or current:  # truncated: end the last line with an ellipsis
        last = lines[-1] if lines else ""
        while last and font.getlength(last + "...") > max_width:
            last = last[:-1]
        lines[-1:] = [last.rstrip() + "..."]
    return lines


def caption_layer(
    prompt: str, width: int, height: int, band_alpha: int = 120, max_lines: int | None = None
) -> tuple[Image.Image, int] | None:
    """The prompt on a translucent band, as an RGBA image and its top y; None if no text.
    ``max_lines`` None: 3 lines on a portrait frame, 2 on a landscape one; 1: a short label
    in a smaller type."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in prompt[:600]).split())
    if not text:
        return None
    short = min(width, height)
    size = max(10, round(short * (0.034 if max_lines == 1 else 0.04)))
    font = ImageFont.load_default(size=size)
    margin = round(short * 0.04)
    if max_lines is None:
        max_lines = 3 if height > width else 2
    lines = wrap(text, font, width - 2 * margin, max_lines)
    line_h = round(size * 1.3)
    pad = round(size * 0.6)
    band_h = min(height, len(lines) * line_h + 2 * pad)
    band = Image.new("RGBA", (width, band_h), (0, 0, 0, band_alpha))
    draw = ImageDraw.Draw(band)
    shadow = max(1, size // 14)
    for k, line in enumerate(lines):
        y = pad + k * line_h
        draw.text((margin + shadow, y + shadow), line, font=font, fill=(0, 0, 0, 200))
        draw.text((margin, y), line, font=font, fill=(255, 255, 255, 255))
    return band, height - band_h


def faded(layer: Image.Image, alpha: float) -> Image.Image:
    r, g, b, a = layer.split()
    a = a.point(lambda v: round(v * alpha))
    return Image.merge("RGBA", (r, g, b, a))
