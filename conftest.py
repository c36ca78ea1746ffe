"""Test-wide settings for the core and the in-repo plugins: installed plugins must not leak in."""

import os
import tempfile

os.environ["GFC_KIT_DISABLE_PLUGINS"] = "1"
os.environ.pop("GFC_KIT_PLUGINS", None)
# and no fastest-path record of the user's machine (gfc-kit bench --save) may change what a test runs
os.environ["GFC_KIT_CACHE"] = tempfile.mkdtemp(prefix="gfc-kit-cache-")
