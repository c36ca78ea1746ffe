"""Deprecated: gfc-kit 0.1's ``gfc_kit.completion``; use :mod:`gfc_kit.inference`.

``Completer`` here was the class now called :class:`gfc_kit.inference.ModelCompleter`
(``gfc_kit.Completer`` is the interface every completer meets).
"""

import warnings

from gfc_kit.inference import *  # noqa: F403
from gfc_kit.inference import ModelCompleter

warnings.warn("gfc_kit.completion is gfc_kit.inference, and its Completer is ModelCompleter", DeprecationWarning,
              stacklevel=2)
Completer = ModelCompleter
