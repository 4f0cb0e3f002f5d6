"""Fixtures every test folder shares."""

from __future__ import annotations

import pytest

import services.runtime.grpc_core  # noqa: F401 - the services' gRPC core options, before grpc loads
from services.runtime.devkeys import DevKeys, ensure_dev_keys


@pytest.fixture(scope="session")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeys:
    """The trusted signing key pair (RSA generation is slow, so once per session)."""
    return ensure_dev_keys(tmp_path_factory.mktemp("keys"))
