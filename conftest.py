"""Test-wide settings for the core and the in-repo plugins: installed plugins must not leak in."""

import os

os.environ["GFC_KIT_DISABLE_PLUGINS"] = "1"
os.environ.pop("GFC_KIT_PLUGINS", None)
