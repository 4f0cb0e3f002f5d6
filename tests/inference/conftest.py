"""Fixtures shared by the inference tests."""

from __future__ import annotations

import pytest

from services.inference.sessions import OrtSession

from .support import linear_model, open_session


@pytest.fixture(scope="session")
def linear_session() -> OrtSession:
    return open_session(linear_model())
