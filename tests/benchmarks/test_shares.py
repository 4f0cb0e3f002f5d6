"""The lines after the benchmark's table: each path as a share of its reference, and whose CPU the
difference is."""

from __future__ import annotations

from benchmarks.inference import (
    BARE_GATEWAY_GRPC,
    BARE_GRPC,
    DIRECT_GRPC,
    GATEWAY_GRPC,
    gateway_share,
    transport_share,
)
from benchmarks.stats import Row


def _row(target: str, per_second: int, **cpu_us: float) -> Row:
    return Row(
        "tiny_mlp", target, 32, requests=per_second * 10, seconds=10.0, p50_ms=1, p99_ms=2, cpu_us=cpu_us
    )


ROWS = [
    _row(DIRECT_GRPC, 8000, inference=200.0),
    _row(GATEWAY_GRPC, 4000, inference=300.0, gateway=110.0),
    _row(BARE_GATEWAY_GRPC, 5000, inference=280.0, gateway=80.0),
    _row(BARE_GRPC, 10000, inference=140.0),
]


def test_the_gateway_share_splits_envoy_cpu_into_proxying_and_filters() -> None:
    assert gateway_share(ROWS) == [
        "tiny_mlp c32: gRPC through the gateway = 50% of direct gRPC, through the bare Envoy = 62%; "
        "Envoy CPU/request: 80 us proxying + 30 us filters"
    ]


def test_the_transport_share_splits_inference_cpu_into_transport_and_service() -> None:
    assert transport_share(ROWS) == [
        "tiny_mlp c32: direct gRPC = 80% of the bare gRPC server; "
        "inference CPU/request: 140 us transport + 60 us service"
    ]


def test_rows_measured_without_cpu_give_the_shares_alone() -> None:
    bare = [Row(r.model, r.target, r.concurrency, r.requests, r.seconds, r.p50_ms, r.p99_ms) for r in ROWS]
    assert transport_share(bare) == ["tiny_mlp c32: direct gRPC = 80% of the bare gRPC server"]
