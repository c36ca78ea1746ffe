"""Evaluation: completers scored side by side on the same images and holes, and the report.

- :mod:`~gfc_kit.evaluation.evaluator`: :class:`Evaluator`, the seeded image-hole pairing, the
  parsing score, FID;
- :mod:`~gfc_kit.evaluation.report`: ``report.md``, CSV files, the mask-size plot, example grids.
"""

from gfc_kit.evaluation.evaluator import Evaluator, FrechetDistance, summarize
from gfc_kit.evaluation.report import write_report

__all__ = ["Evaluator", "FrechetDistance", "summarize", "write_report"]
