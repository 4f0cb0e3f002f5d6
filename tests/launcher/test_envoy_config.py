"""The rendered gateway configuration is accepted by the real Envoy binary."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from services.launcher import envoy_config
from services.launcher.catalog import ServiceSpec
from services.launcher.supervisor import envoy_binary

pytestmark = pytest.mark.envoy

_SPEC = ServiceSpec(
    name="models",
    module="services.models",
    env_prefix="AIPLAT_MODELS_",
    grpc_services=("aiplat.models.v1.ModelRegistryService", "aiplat.models.v1.DeploymentService"),
    port=50051,
    metrics_port=9101,
)


def test_config_with_an_upstream_passes_envoy_validate(tmp_path: Path) -> None:
    config = envoy_config.render(
        [envoy_config.Upstream(spec=_SPEC, host="127.0.0.1", port=50051)],
        listen_host="127.0.0.1",
        listen_port=8080,
        admin_port=9901,
    )
    path = envoy_config.write(config, tmp_path / "envoy.json")
    result = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "--config-path", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    routes = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
        "route_config"
    ]["virtual_hosts"][0]["routes"]
    assert [r["match"]["prefix"] for r in routes] == [
        "/aiplat.models.v1.ModelRegistryService/",
        "/aiplat.models.v1.DeploymentService/",
    ]
