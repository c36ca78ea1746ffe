"""Shared fixtures (the root conftest.py keeps installed plugins out of every test)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (research-only faces and masks); skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (see DESIGN.md section 9)")
    return SHARED_DATA


@pytest.fixture
def fresh_plugins():
    """A clean plugin manager and registry before and after the test, for in-test plugins."""
    from gfc_kit import plugins

    plugins.reset()
    yield plugins
    plugins.reset()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A finished four-stage tiny run (2 steps a stage), shared by the tests that only read it."""
    from tiny_recipe import write_recipe

    from gfc_kit import recipe as recipes
    from gfc_kit.training.trainer import Trainer

    folder = tmp_path_factory.mktemp("tiny")
    return Trainer(recipes.load(write_recipe(folder)), folder / "run").run()
