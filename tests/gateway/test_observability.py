"""What the gateway tells operators: a JSON access log line per call, per-method Prometheus stats, traces."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiplat.models.v1 import registry_service_pb2, registry_service_pb2_grpc
from services.models.store import open_store
from services.runtime.devkeys import DevKeys
from services.runtime.tracing import Tracing
from tests.otlp_collector import Collector, running_collector

from .support import (
    MODELS,
    BackgroundLoop,
    Envoy,
    bearer,
    envoy_config,
    gateway_settings,
    models_settings,
    prometheus,
    rest,
    start_envoy,
    start_models,
    stop_models,
)

pytestmark = pytest.mark.envoy

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN_ID = "b7ad6b7169203331"


def test_each_call_is_one_json_access_log_line(gateway: Envoy, dev_keys: DevKeys, tenant: str) -> None:
    token = bearer(dev_keys, tenant, "viewer", subject="logged-user")
    assert rest(gateway.address, "GET", "/v1/models/absent", authorization=token).status == 404
    with grpc.insecure_channel(gateway.address) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        stub.ListModels(
            registry_service_pb2.ListModelsRequest(), metadata=(("authorization", token),), timeout=10
        )

    rest_line = gateway.wait_for_log(
        lambda r: r["subject"] == "logged-user" and r["path"] == "/v1/models/absent"
    )
    assert rest_line["tenant"] == tenant
    assert rest_line["method"] == "GET"
    assert rest_line["rpc"] == "/aiplat.models.v1.ModelRegistryService/GetModel"
    assert rest_line["status"] == 404
    # The transcoder turns the gRPC status into the JSON body, so for REST the HTTP status is the record.
    assert rest_line["response_flags"] == "-"
    assert isinstance(rest_line["duration_ms"], int)

    grpc_line = gateway.wait_for_log(
        lambda r: r["subject"] == "logged-user" and r["path"].endswith("/ListModels")
    )
    assert (grpc_line["tenant"], grpc_line["grpc_status"], grpc_line["protocol"]) == (tenant, "OK", "HTTP/2")


def test_per_method_stats_on_the_admin_port(gateway: Envoy, dev_keys: DevKeys, tenant: str) -> None:
    assert (
        rest(gateway.address, "GET", "/v1/models", authorization=bearer(dev_keys, tenant, "viewer")).status
        == 200
    )
    series = prometheus(gateway)
    labels = (
        'envoy_grpc_bridge_method="ListModels",'
        'envoy_grpc_bridge_service="aiplat_models_v1_ModelRegistryService",'
        'envoy_cluster_name="models"'
    )
    assert series[f"envoy_cluster_grpc_success{{{labels}}}"] >= 1
    assert not [name for name in series if "aiplat.models" in name], "dots left in a service name"


@dataclass
class Traced:
    gateway: Envoy
    collector: Collector
    service_spans: InMemorySpanExporter


@pytest.fixture(scope="module")
def traced(
    loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory, dev_keys: DevKeys
) -> Iterator[Traced]:
    """A gateway sending spans to a collector, in front of a model server that keeps its spans."""
    with running_collector() as collector:
        yield from _traced(collector, loop, tmp_path_factory, dev_keys)


def _traced(
    collector: Collector, loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory, dev_keys: DevKeys
) -> Iterator[Traced]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    root = tmp_path_factory.mktemp("traced")
    db = open_store(f"sqlite:///{root / 'models.db'}")
    instance = loop.run(start_models(models_settings(root, dev_keys), db, Tracing(provider, exporting=True)))
    settings = gateway_settings(otlp_endpoint=collector.endpoint)
    upstream = envoy_config.Upstream.local(MODELS, "127.0.0.1", instance.port)
    config = envoy_config.local_config(settings, [upstream], jwks_path=dev_keys.jwks_path)
    # Envoy exports spans every 5 s or 5 spans by default; sooner here.
    runtime = {"tracing.opentelemetry.flush_interval_ms": 100, "tracing.opentelemetry.min_flush_spans": 1}
    envoy = start_envoy(config, root / "envoy", runtime=runtime)
    try:
        yield Traced(envoy, collector, exporter)
    finally:
        envoy.stop()
        loop.run(stop_models(instance))
        db.dispose()
        provider.shutdown()


def test_the_trace_continues_through_the_gateway_into_the_service(
    traced: Traced, dev_keys: DevKeys, tenant: str
) -> None:
    metadata = (
        ("authorization", bearer(dev_keys, tenant, "viewer")),
        ("traceparent", f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"),
    )
    with grpc.insecure_channel(traced.gateway.address) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        stub.ListModels(registry_service_pb2.ListModelsRequest(), metadata=metadata, timeout=10)

    spans = traced.collector.wait(lambda spans: any(s.trace_id == TRACE_ID for s in spans), timeout=10)
    (gateway_span,) = [s for s in spans if s.trace_id == TRACE_ID]
    assert gateway_span.service == "gateway"
    assert gateway_span.parent_id == CLIENT_SPAN_ID
    deadline = time.monotonic() + 10

    def service_spans() -> list[ReadableSpan]:
        finished = traced.service_spans.get_finished_spans()
        return [s for s in finished if s.context is not None and f"{s.context.trace_id:032x}" == TRACE_ID]

    while not service_spans():
        assert time.monotonic() < deadline, "the service recorded no span of the trace"
        time.sleep(0.05)
    (service_span,) = service_spans()
    assert service_span.parent is not None
    assert f"{service_span.parent.span_id:016x}" == gateway_span.span_id
