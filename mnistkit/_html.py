"""HTML for Jupyter's rich display (private): small tables and a strip of digits.

The public objects' ``_repr_html_`` methods build their HTML from these two pieces. Every
text is escaped; images are inlined as PNG ``data:`` URIs drawn with Pillow, so no file is
written and Matplotlib is not needed.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import torch

__all__ = ["digit_strip", "number", "table"]

#: Each 28×28 digit is drawn this many times larger.
_SCALE = 2


def number(value: object, digits: int = 4) -> str:
    """A cell's text: floats to ``digits`` decimals, anything else as ``str``."""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def table(
    rows: Sequence[Sequence[object]],
    *,
    header: Sequence[str] | None = None,
    caption: str | None = None,
) -> str:
    """An HTML table; numbers right-aligned, floats shown with four decimals."""
    parts = ['<table class="mnistkit">']
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    if header:
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        parts.append(f"<thead><tr>{cells}</tr></thead>")
    parts.append("<tbody>")
    for row in rows:
        cells = "".join(
            f'<td style="text-align:right">{html.escape(number(v))}</td>'
            if isinstance(v, int | float) and not isinstance(v, bool)
            else f"<td>{html.escape(number(v))}</td>"
            for v in row
        )
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def digit_strip(
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    classes: Sequence[str] | None = None,
    *,
    alt: str = "sample digits",
) -> str:
    """The images side by side in one PNG (dark ink on white), labels underneath."""
    from PIL import Image

    if images.shape[0] == 0:
        return ""
    pixels = images.detach().cpu()
    if pixels.dtype != torch.uint8:
        pixels = (pixels.float().clamp(0, 1) * 255).round().to(torch.uint8)
    ink = 255 - pixels  # (N, H, W): MNIST stores white ink on black
    n, height, width = ink.shape
    gap = 2
    strip = torch.full((height, n * (width + gap) - gap), 255, dtype=torch.uint8)
    for i in range(n):
        start = i * (width + gap)
        strip[:, start : start + width] = ink[i]
    picture = Image.fromarray(strip.numpy(), mode="L")
    picture = picture.resize(
        (picture.width * _SCALE, picture.height * _SCALE), Image.Resampling.NEAREST
    )
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    image = f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
    if labels is None:
        return f"<div>{image}</div>"
    names = [classes[int(i)] if classes is not None else str(int(i)) for i in labels]
    step = (width + gap) * _SCALE
    cells = "".join(
        f'<span style="display:inline-block;width:{step}px;text-align:center;'
        f'font-size:smaller;overflow:hidden;white-space:nowrap">{html.escape(name)}</span>'
        for name in names
    )
    return f"<div>{image}<div>{cells}</div></div>"
