"""Fixtures every test folder shares."""

from __future__ import annotations

import pytest

from services.runtime.devkeys import DevKeys, ensure_dev_keys


@pytest.fixture(scope="session")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeys:
    """The trusted signing key pair (RSA generation is slow, so once per session)."""
    return ensure_dev_keys(tmp_path_factory.mktemp("keys"))
