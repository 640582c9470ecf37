"""Shared fixtures: the real-data folder beside the repository, and small simulations."""

from __future__ import annotations

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
