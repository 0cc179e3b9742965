"""Small line charts with Pillow (no plotting library needed): the training curves."""

from __future__ import annotations

import math
from pathlib import Path

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def line_chart(path: str | Path, panels: list[dict], size=(1000, 380)) -> Path:
    """panels: [{"title": str, "series": {label: [(x, y), ...]}, "log_y": bool}], drawn side by side."""
    from PIL import Image, ImageDraw

    width, height = size
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    pw = width // max(1, len(panels))
    for k, panel in enumerate(panels):
        x0, y0, x1, y1 = k * pw + 60, 30, (k + 1) * pw - 15, height - 40
        draw.rectangle([x0, y0, x1, y1], outline=(120, 120, 120))
        draw.text((x0, 8), panel["title"], fill="black")
        pts = [p for s in panel["series"].values() for p in s if p[1] is not None and math.isfinite(p[1])]
        if not pts:
            continue
        log_y = panel.get("log_y", False) and min(p[1] for p in pts) > 0
        fy = (lambda v: math.log10(v)) if log_y else (lambda v: v)
        xs, ys = [p[0] for p in pts], [fy(p[1]) for p in pts]
        xmin, xmax = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
        ymin, ymax = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
        sx = lambda x: x0 + (x - xmin) / (xmax - xmin) * (x1 - x0)
        sy = lambda y: y1 - (fy(y) - ymin) / (ymax - ymin) * (y1 - y0)
        for t in range(5):
            yv = ymin + (ymax - ymin) * t / 4
            label = f"{10 ** yv:.3g}" if log_y else f"{yv:.3g}"
            draw.text((x0 - 55, y1 - (y1 - y0) * t / 4 - 6), label, fill=(80, 80, 80))
        draw.text((x0, y1 + 6), f"{xmin:g}", fill=(80, 80, 80))
        draw.text((x1 - 40, y1 + 6), f"{xmax:g}", fill=(80, 80, 80))
        for i, (label, series) in enumerate(panel["series"].items()):
            colour = COLOURS[i % len(COLOURS)]
            line = [(sx(x), sy(y)) for x, y in series if y is not None and math.isfinite(y)]
            if len(line) > 1:
                draw.line(line, fill=colour, width=2)
            elif line:
                draw.ellipse([line[0][0] - 2, line[0][1] - 2, line[0][0] + 2, line[0][1] + 2], fill=colour)
            draw.text((x1 - 150, y0 + 6 + 14 * i), label, fill=colour)
    img.save(path)
    return Path(path)
