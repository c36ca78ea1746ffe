"""User-facing errors: each one prints as a single line and exits the CLI with status 2.

Anything a user can cause (a bad recipe, a missing file, a broken plugin) raises a subclass of
:class:`GfcError`; the CLI prints ``error: <message>`` and never a traceback. Anything else is a
bug in gfc-kit and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GfcError(Exception):
    """An error caused by input; its message is one line that names the file, key or argument."""


class UnknownComponent(GfcError, KeyError):
    """A ``(kind, name)`` that no plugin registered; the message lists close matches."""

    def __init__(self, kind: str, name: str, known: Iterable[str], where: str = "") -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else (
            f"known: {', '.join(known)}" if known else "none is registered")
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}unknown {kind} {name!r}; {hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class RegistrationError(GfcError):
    """A plugin registered something invalid or clashing; the message names the plugin."""


class PluginLoadError(GfcError):
    """An installed plugin failed to import; the message names its entry point."""


class RecipeError(GfcError):
    """A recipe is invalid. ``errors`` holds one ``path: problem`` line per problem."""

    def __init__(self, errors: list[str], source: str = "") -> None:
        self.errors = errors
        self.source = source
        head = f"{source}: " if source else ""
        super().__init__("\n".join(head + e for e in errors))


class DataError(GfcError):
    """A dataset or mask source is missing, empty or unreadable; the message names the path."""
