"""The rendered gateway configuration: accepted by Envoy, committed up to date, shaped as specified."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.launcher import envoy_config
from services.launcher.catalog import SERVICES, TrafficClass
from services.launcher.gateway_model import Bucket
from services.launcher.gateway_rpcs import DESCRIPTOR_SET
from services.launcher.settings import LauncherSettings, TenantRateLimits
from services.launcher.supervisor import envoy_binary
from services.runtime.devkeys import DevKeys
from services.runtime.server import DEFAULT_MAX_MESSAGE_BYTES

from .support import INFERENCE, MODELS, gateway_settings

pytestmark = pytest.mark.envoy


def _validate(path: Path, cwd: Path) -> None:
    result = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "--config-path", str(path)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Envoy also warns about the host (a container whose cgroup files it cannot read); only the
    # configuration's warnings are ours.
    warnings = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "warning" in line and "cgroup_cpu_util" not in line
    ]
    assert warnings == []


@pytest.fixture
def repository_like(tmp_path: Path, dev_keys: DevKeys) -> Path:
    """A working directory laid out like the repository root after `aiplat token`."""
    (tmp_path / "gen").mkdir()
    shutil.copy(DESCRIPTOR_SET, tmp_path / "gen" / DESCRIPTOR_SET.name)
    keys = tmp_path / ".aiplat" / "keys"
    keys.mkdir(parents=True)
    shutil.copy(dev_keys.jwks_path, keys / "jwks.json")
    return tmp_path


def test_committed_files_are_up_to_date() -> None:
    rendered = envoy_config.committed_files(gateway_settings(gateway_port=8080, admin_port=9901))
    committed = {p.name: p.read_text(encoding="utf-8") for p in envoy_config.ROOT.glob("*.yaml")}
    assert committed == rendered, "envoy/ is stale: run `python -m services.launcher.envoy_config`"


@pytest.mark.parametrize("name", [envoy_config.LOCAL_FILE, envoy_config.CLUSTER_FILE])
def test_committed_file_passes_envoy_validate(name: str, repository_like: Path) -> None:
    _validate(envoy_config.ROOT / name, cwd=repository_like)


def test_inference_and_tracing_pass_envoy_validate(tmp_path: Path, dev_keys: DevKeys) -> None:
    settings = gateway_settings(otlp_endpoint="http://collector.example.internal:4317")
    upstreams = [
        envoy_config.Upstream.local(MODELS, "127.0.0.1", 50051),
        envoy_config.Upstream.local(INFERENCE, "127.0.0.1", 50052, 50062),
    ]
    config = envoy_config.local_config(settings, upstreams, jwks_path=dev_keys.jwks_path)
    path = envoy_config.write(envoy_config.render(config), tmp_path / "envoy.yaml")
    _validate(path, cwd=tmp_path)


def _manager(rendered: dict[str, Any]) -> dict[str, Any]:
    (listener,) = rendered["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (manager,) = chain["filters"]
    typed: dict[str, Any] = manager["typed_config"]
    return typed


def _filter(rendered: dict[str, Any], name: str) -> dict[str, Any]:
    """The HTTP filter ``envoy.filters.http.<name>``."""
    (found,) = [f for f in _manager(rendered)["http_filters"] if f["name"] == f"envoy.filters.http.{name}"]
    return found


def _named_filter(rendered: dict[str, Any], name: str) -> dict[str, Any]:
    """The HTTP filter named ``name``."""
    (found,) = [f for f in _manager(rendered)["http_filters"] if f["name"] == name]
    return found


def _routes(rendered: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (host,) = _manager(rendered)["route_config"]["virtual_hosts"]
    return {route["name"]: route for route in host["routes"]}


def test_one_listener_with_the_filters_in_order_and_admin_on_loopback() -> None:
    config = envoy_config.local_config(
        gateway_settings(), [envoy_config.Upstream.local(MODELS, "127.0.0.1", 1)], jwks_path="jwks.json"
    )
    rendered = envoy_config.render(config)
    assert rendered["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    manager = _manager(rendered)  # the one listener
    assert manager.get("codec_type", "AUTO") == "AUTO"  # AUTO is the default, so it may be left out
    assert [f["name"] for f in manager["http_filters"]] == [
        "aiplat.token_identity",  # jwt_authn: a valid token's claims as headers, none refused
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.jwt_authn",  # refusals after the rate limit carry its headers
        "envoy.filters.http.buffer",
        "aiplat.rest_challenge",  # WWW-Authenticate on a service's 401, before the transcoder
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.grpc_stats",
        "envoy.filters.http.router",
    ]
    assert "tracing" not in manager
    with pytest.raises(ValueError, match="loopback"):
        dataclasses.replace(config, admin=envoy_config.Endpoint("0.0.0.0", 9901))


def test_cluster_file_reaches_services_by_dns_and_fetches_the_identity_providers_keys() -> None:
    settings = gateway_settings(
        idp_issuer="https://login.aiplat.internal",
        idp_jwks_url="https://login.aiplat.internal/keys",
        otlp_endpoint="http://otel.aiplat.svc.cluster.local:4317",
    )
    rendered = envoy_config.render(envoy_config.cluster_config(settings, [MODELS, INFERENCE]))
    clusters = {c["name"]: c for c in rendered["static_resources"]["clusters"]}
    for name in ("models", "inference"):
        (endpoint,) = clusters[name]["load_assignment"]["endpoints"][0]["lb_endpoints"]
        assert endpoint["endpoint"]["address"]["socket_address"] == {
            "address": f"{name}-instances.aiplat.svc.cluster.local",  # headless: every pod
            "port_value": 50051,
        }
        assert clusters[name]["type"] == "STRICT_DNS"
    manager = _manager(rendered)
    for name in ("aiplat.token_identity", "envoy.filters.http.jwt_authn"):  # both passes, the same keys
        jwt = _named_filter(rendered, name)["typed_config"]["providers"]["aiplat"]
        assert jwt["issuer"] == "https://login.aiplat.internal"
        remote = jwt["remote_jwks"]
        assert remote["http_uri"]["uri"] == "https://login.aiplat.internal/keys"
        assert remote["http_uri"]["cluster"] == "identity_provider"
        assert "async_fetch" in remote
        assert remote["cache_duration"] == "600s"
    tls = clusters["identity_provider"]["transport_socket"]["typed_config"]
    assert tls["sni"] == "login.aiplat.internal"
    assert manager["tracing"]["provider"]["name"] == "envoy.tracers.opentelemetry"
    collector = clusters["opentelemetry_collector"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert collector["endpoint"]["address"]["socket_address"]["port_value"] == 4317


def test_upstreams_are_health_checked_and_unhealthy_instances_get_nothing() -> None:
    upstream = envoy_config.Upstream.local(MODELS, "127.0.0.1", 50051, 50061)
    rendered = envoy_config.render(
        envoy_config.local_config(gateway_settings(), [upstream], jwks_path="jwks.json")
    )
    (cluster,) = rendered["static_resources"]["clusters"]
    assert len(cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]) == 2
    (check,) = cluster["health_checks"]
    assert "grpc_health_check" in check
    assert check["interval"] == check["no_traffic_interval"] == "1s"
    assert cluster["common_lb_config"] == {"healthy_panic_threshold": {}, "update_merge_window": "0s"}  # 0 %
    assert "http2_protocol_options" in str(cluster["typed_extension_protocol_options"])
    assert "outlier_detection" in cluster


def test_reads_are_retried_on_another_instance_and_streams_are_not_cut() -> None:
    upstreams = [
        envoy_config.Upstream.local(MODELS, "127.0.0.1", 50051),
        envoy_config.Upstream.local(INFERENCE, "127.0.0.1", 50052),
    ]
    routes = _routes(
        envoy_config.render(envoy_config.local_config(gateway_settings(), upstreams, jwks_path="jwks.json"))
    )
    read = routes["grpc aiplat.models.v1.ModelRegistryService/GetModel"]["route"]
    policy = read["retry_policy"]
    assert policy["retry_on"] == "reset,connect-failure,refused-stream,unavailable"
    assert "per_try_timeout" not in policy
    assert policy["retry_host_predicate"][0]["name"] == "envoy.retry_host_predicates.previous_hosts"
    assert "retry_policy" in routes["grpc inference.GRPCInferenceService/ModelInfer"]["route"]
    assert "retry_policy" in routes["rest POST /v2/models/{model_name}/infer"]["route"]
    for name in (
        "grpc aiplat.models.v1.ModelRegistryService/CreateModel",
        "grpc aiplat.models.v1.ModelRegistryService/UploadModelVersion",
        "grpc inference.GRPCInferenceService/RepositoryModelLoad",
        "grpc inference.GRPCInferenceService/ModelStreamInfer",
    ):
        assert "retry_policy" not in routes[name]["route"], name
    assert routes["rest GET /v1/deployments:watch"]["route"]["timeout"] == "0s"
    assert routes["grpc aiplat.models.v1.DeploymentService/WatchDeployments"]["route"]["timeout"] == "0s"
    assert routes["rest GET /v1/{name=models/*}"]["route"]["timeout"] == "60s"
    assert routes["grpc health watch"]["match"]["path"] == "/grpc.health.v1.Health/Watch"
    assert routes["grpc health watch"]["route"]["timeout"] == "0s"
    assert routes["grpc health"]["route"]["timeout"] == "60s"  # Check and List


def test_every_rpc_of_every_catalogue_service_has_its_routes() -> None:
    upstreams = [envoy_config.Upstream.local(spec, "127.0.0.1", spec.port) for spec in SERVICES]
    rendered = envoy_config.render(envoy_config.local_config(gateway_settings(), upstreams, jwks_path="j"))
    routes = _routes(rendered)
    transcoder = _filter(rendered, "grpc_json_transcoder")["typed_config"]
    assert transcoder["services"] == sorted(name for spec in SERVICES for name in spec.grpc_services)
    assert "grpc aiplat.models.v1.ModelRegistryService/UploadModelVersion" in routes
    assert "rest POST /v1/models:uploadVersion" in routes
    assert "rest GET /v1/auditEvents" in routes


def test_only_health_and_server_metadata_are_open() -> None:
    upstreams = [
        envoy_config.Upstream.local(MODELS, "127.0.0.1", 50051),
        envoy_config.Upstream.local(INFERENCE, "127.0.0.1", 50052),
    ]
    rendered = envoy_config.render(envoy_config.local_config(gateway_settings(), upstreams, jwks_path="j"))
    token_if_any = {
        "requires_any": {"requirements": [{"provider_name": "aiplat"}, {"allow_missing_or_failed": {}}]}
    }
    # The first pass verifies a token wherever there is one, and refuses nothing.
    identity = _named_filter(rendered, "aiplat.token_identity")["typed_config"]
    assert identity["rules"] == [{"match": {"prefix": "/"}, "requires": token_if_any}]
    assert identity["stat_prefix"] == "identity"
    # The second, after the rate limit, requires one everywhere but on the open methods.
    jwt = _named_filter(rendered, "envoy.filters.http.jwt_authn")["typed_config"]
    *open_rules, last = jwt["rules"]
    assert last == {"match": {"prefix": "/"}, "requires": {"provider_name": "aiplat"}}
    assert not any("requires" in rule for rule in open_rules)  # no requirement: verification is off
    opened = {rule["match"].get("path") or rule["match"].get("prefix") for rule in open_rules}
    assert opened == {
        "/grpc.health.v1.Health/",
        "/inference.GRPCInferenceService/ServerLive",
        "/inference.GRPCInferenceService/ServerReady",
        "/inference.GRPCInferenceService/ServerMetadata",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2",
    }
    (metadata_rest,) = [rule for rule in open_rules if rule["match"].get("path") == "/v2"]
    assert metadata_rest["match"]["headers"] == [{"name": ":method", "string_match": {"exact": "GET"}}]
    for provider in (identity["providers"]["aiplat"], jwt["providers"]["aiplat"]):
        assert provider["forward"] is True
        assert provider["from_headers"] == [{"name": "authorization", "value_prefix": "Bearer "}]
        assert provider["jwt_cache_config"] == {"jwt_cache_size": 10_000}  # each pass verifies a token once
        assert [c["header_name"] for c in provider["claim_to_headers"]] == [
            "x-aiplat-subject",
            "x-aiplat-tenant",
            "x-aiplat-roles",
        ]


def test_rest_body_limits_come_from_the_settings() -> None:
    settings = gateway_settings(max_request_body_bytes=70_000, max_response_body_bytes=90_000)
    rendered = envoy_config.render(
        envoy_config.local_config(
            settings, [envoy_config.Upstream.local(MODELS, "127.0.0.1", 1)], jwks_path="jwks.json"
        )
    )
    transcoder = _filter(rendered, "grpc_json_transcoder")["typed_config"]
    assert transcoder["max_request_body_size"] == 70_000
    assert transcoder["max_response_body_size"] == 90_000
    # The whole body is held and measured on REST routes only: the buffer filter is off elsewhere.
    body_limit = _filter(rendered, "buffer")
    assert body_limit["disabled"] is True
    routes = _routes(rendered)
    per_route = "envoy.filters.http.buffer"
    assert routes["rest POST /v1/models"]["typed_per_filter_config"][per_route]["buffer"] == {
        "max_request_bytes": 70_000
    }
    assert all(
        per_route in r.get("typed_per_filter_config", {}) for n, r in routes.items() if n.startswith("rest ")
    )
    assert not any("typed_per_filter_config" in r for n, r in routes.items() if not n.startswith("rest "))


def test_the_default_rest_body_limit_is_what_the_services_accept() -> None:
    assert LauncherSettings.model_fields["max_request_body_bytes"].default == DEFAULT_MAX_MESSAGE_BYTES


def test_buckets_per_traffic_class_with_tenant_overrides_first() -> None:
    settings = gateway_settings(
        control_plane_requests_per_second=10,
        control_plane_burst=20,
        inference_requests_per_second=0.5,
        inference_burst=40,
        expected_tenants=300,
        tenant_rate_limits={
            "premium": TenantRateLimits(inference_requests_per_second=1000, inference_burst=5000)
        },
    )
    rendered = envoy_config.render(
        envoy_config.local_config(
            settings, [envoy_config.Upstream.local(MODELS, "127.0.0.1", 1)], jwks_path="jwks.json"
        )
    )
    limit = _filter(rendered, "local_ratelimit")["typed_config"]
    assert limit["filter_enabled"]["default_value"] == limit["filter_enforced"]["default_value"]
    assert limit["filter_enforced"]["default_value"] == {
        "numerator": 100
    }  # denominator HUNDRED is the default
    assert limit["always_consume_default_token_bucket"] is False
    assert limit["max_dynamic_descriptors"] == 600
    assert limit["rate_limited_as_resource_exhausted"] is True
    assert limit["enable_x_ratelimit_headers"] == "DRAFT_VERSION_03"
    buckets = {
        tuple(entry.get("value", "") for entry in d["entries"]): d["token_bucket"]
        for d in limit["descriptors"]
    }
    assert list(buckets) == [
        ("control-plane", "premium"),
        ("inference", "premium"),
        ("control-plane", ""),
        ("inference", ""),
    ]
    assert buckets[("inference", "premium")] == {
        "max_tokens": 5000,
        "tokens_per_fill": 1000,
        "fill_interval": "1s",
    }
    assert buckets[("control-plane", "premium")] == {
        "max_tokens": 20,
        "tokens_per_fill": 10,
        "fill_interval": "1s",
    }
    assert buckets[("inference", "")] == {"max_tokens": 40, "tokens_per_fill": 1, "fill_interval": "2s"}


def test_tenant_sizes_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIPLAT_TENANT_RATE_LIMITS", '{"premium": {"inference_burst": 9000}}')
    monkeypatch.setenv("AIPLAT_INFERENCE_REQUESTS_PER_SECOND", "250")
    limits = envoy_config.rate_limits(LauncherSettings())
    assert limits.bucket("premium", TrafficClass.INFERENCE) == Bucket(250, 9000)
    assert limits.bucket("anyone", TrafficClass.INFERENCE).burst == LauncherSettings().inference_burst
    assert limits.bucket(None, TrafficClass.INFERENCE) == limits.untenanted
