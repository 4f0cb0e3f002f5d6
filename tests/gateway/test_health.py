"""gRPC health through the gateway: ``Check`` is a unary call, ``Watch`` a stream that the call timeout
does not cut."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.devkeys import DevKeys

from .support import (
    BackgroundLoop,
    Envoy,
    ModelsInstance,
    gateway_settings,
    local_gateway,
    models_instances,
    start_envoy,
)

pytestmark = pytest.mark.envoy

UNARY_TIMEOUT_SECONDS = 1.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture(scope="module")
def short_timeout(
    loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory, dev_keys: DevKeys
) -> Iterator[tuple[Envoy, ModelsInstance]]:
    """A model server of its own (a test changes its health) behind a gateway whose unary calls may take
    one second."""
    with models_instances(loop, tmp_path_factory.mktemp("watched"), dev_keys, 1) as (instance,):
        settings = gateway_settings(unary_timeout_seconds=UNARY_TIMEOUT_SECONDS)
        config = local_gateway(settings, dev_keys, [instance])
        with start_envoy(config, tmp_path_factory.mktemp("watched-envoy")) as envoy:
            yield envoy, instance


def test_a_health_watch_outlives_the_call_timeout(
    short_timeout: tuple[Envoy, ModelsInstance], loop: BackgroundLoop
) -> None:
    envoy, instance = short_timeout
    with grpc.insecure_channel(envoy.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == SERVING
        watch = health.Watch(health_pb2.HealthCheckRequest())
        try:
            assert next(watch).status == SERVING
            time.sleep(2 * UNARY_TIMEOUT_SECONDS)
            loop.run(instance.server.set_not_serving())
            # Still open past the call timeout: the change arrives on the same stream.
            assert next(watch).status == NOT_SERVING
            loop.run(instance.server.set_serving())
            assert next(watch).status == SERVING
        finally:
            loop.run(instance.server.set_serving())
            watch.cancel()
        with pytest.raises(grpc.RpcError) as ended:
            next(watch)
        assert ended.value.code() == grpc.StatusCode.CANCELLED
