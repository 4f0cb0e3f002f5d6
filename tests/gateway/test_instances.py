"""Several instances behind one cluster: one that is not SERVING gets no call, and no call fails."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from aiplat.models.v1 import registry_service_pb2, registry_service_pb2_grpc
from services.runtime.devkeys import DevKeys

from .support import (
    MODELS,
    BackgroundLoop,
    Envoy,
    ModelsInstance,
    bearer,
    gateway_settings,
    local_gateway,
    models_instances,
    start_envoy,
    wait_for_health,
)

pytestmark = pytest.mark.envoy


@pytest.fixture(scope="module")
def pair(
    loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory, dev_keys: DevKeys
) -> Iterator[tuple[Envoy, list[ModelsInstance]]]:
    """Two model servers sharing one SQLite file, and a gateway balancing over both."""
    with models_instances(loop, tmp_path_factory.mktemp("pair"), dev_keys, 2) as instances:
        config = local_gateway(gateway_settings(), dev_keys, instances)
        with start_envoy(config, tmp_path_factory.mktemp("pair-envoy")) as envoy:
            yield envoy, instances


def test_an_instance_that_is_not_serving_gets_no_calls(
    pair: tuple[Envoy, list[ModelsInstance]], loop: BackgroundLoop, dev_keys: DevKeys, tenant: str
) -> None:
    envoy, (first, second) = pair
    metadata = (("authorization", bearer(dev_keys, tenant, "viewer")),)
    outcomes: list[str] = []
    with grpc.insecure_channel(envoy.address) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)

        def call() -> str:
            try:
                stub.ListModels(registry_service_pb2.ListModelsRequest(), metadata=metadata, timeout=10)
                return "OK"
            except grpc.RpcError as error:
                return str(error.code())

        wait_for_health(envoy, MODELS.name, {first.port: False, second.port: False}, outcomes, call)
        outcomes += [call() for _ in range(10)]
        assert first.handled("ListModels") > 0
        assert second.handled("ListModels") > 0, "both instances share the calls while both serve"

        loop.run(second.server.set_not_serving())
        wait_for_health(envoy, MODELS.name, {first.port: False, second.port: True}, outcomes, call)
        before_first, before_second = first.handled("ListModels"), second.handled("ListModels")
        outcomes += [call() for _ in range(20)]
        assert second.handled("ListModels") == before_second, "a NOT_SERVING instance got a call"
        assert first.handled("ListModels") == before_first + 20

        loop.run(second.server.set_serving())
        wait_for_health(envoy, MODELS.name, {first.port: False, second.port: False}, outcomes, call)
        outcomes += [call() for _ in range(10)]
        assert second.handled("ListModels") > before_second, "a recovered instance gets calls again"
    assert set(outcomes) == {"OK"}, "no call failed while an instance left and came back"
