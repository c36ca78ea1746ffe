"""Channel scaling, the one knob every built-in network shares for small runs.

The paper's networks are sized for a GPU (the generator alone holds 137 M parameters); on a CPU the
recipes shrink them with ``width``, which multiplies every layer's channel count the same way in
the generator, the discriminators and the parser.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Width = Annotated[float, Field(gt=0)]
"""A network's channel multiplier: 1 is the paper's size; CPU runs use 0.25 or less."""


def scaled(channels: int, width: float) -> int:
    """``channels × width``, rounded, at least 1, so that tiny widths still build."""
    return max(1, round(channels * width))
