"""Shared fixtures: the real-data folder beside the repository, and small simulations."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


@pytest.fixture(scope="session")
def realdata() -> Path:
    """Path of ../shared/realdata; the test is skipped when it is absent."""
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not present")
    return REALDATA

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def notes():
    """Notifications napari dispatches during the test (GUI tests)."""
    from napari.utils.notifications import notification_manager

    got = []
    notification_manager.notification_ready.connect(got.append)
    yield got
    notification_manager.notification_ready.disconnect(got.append)


def pytest_collection_modifyitems(config, items):
    """Skip the napari GUI tests where no X display can exist (no DISPLAY, no Xvfb).

    ``.ci/run`` installs Xvfb (pytest-xvfb then starts it), so CI always runs them; a
    bare machine without it skips them with a reason instead of aborting the whole run.
    """
    if os.environ.get("DISPLAY") or shutil.which("Xvfb"):
        return
    skip = pytest.mark.skip(reason="no X display and no Xvfb: install xvfb (see .ci/run)")
    for item in items:
        if "gui" in item.keywords:
            item.add_marker(skip)
