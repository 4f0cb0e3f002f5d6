"""The rendered cluster manifests give each pod what its service needs to start, share and stop cleanly."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.inference.settings import InferenceSettings
from services.launcher import envoy_config
from services.launcher.catalog import SERVICES, service_by_name
from services.launcher.cluster_names import GATEWAY_NAME, GRPC_PORT, NAMESPACE
from services.launcher.manifests import _LARGEST_ARTIFACT_GIB, INGRESS_TLS_SECRET, render
from services.launcher.settings import LauncherSettings
from services.models.settings import ModelsSettings
from services.runtime.settings import ServiceSettings

_PLACEHOLDER = {"secretKeyRef": "postgresql+psycopg://aiplat:secret@postgres/aiplat"}


@functools.cache
def _rendered() -> dict[str, str]:
    """The manifests with the default settings, rendered once (rendering builds the gateway's
    configuration too)."""
    return render(SERVICES)


def _all_objects() -> list[dict[str, Any]]:
    files = _rendered()
    return [
        document
        for path, text in sorted(files.items())
        if not path.endswith("kustomization.yaml")
        for document in yaml.safe_load_all(text)
        if document
    ]


def _deployment(name: str) -> dict[str, Any]:
    (found,) = [o for o in _all_objects() if o["kind"] == "Deployment" and o["metadata"]["name"] == name]
    return found


def _pod(name: str) -> dict[str, Any]:
    pod: dict[str, Any] = _deployment(name)["spec"]["template"]["spec"]
    return pod


def _env(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment, with values from Secrets replaced by a realistic one."""
    env = {}
    for variable in container["env"]:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            (source,) = variable["valueFrom"]
            assert source == "secretKeyRef", f"{variable['name']}: unexpected source {source}"
            assert variable["valueFrom"][source].get("optional", False) is False
            env[variable["name"]] = _PLACEHOLDER[source]
    return env


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("AIPLAT_") or name == "OTEL_EXPORTER_OTLP_ENDPOINT":
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize(
    ("name", "settings_class"), [("models", ModelsSettings), ("inference", InferenceSettings)]
)
def test_each_pod_environment_starts_its_service_with_the_clusters_identity_provider(
    clean_environment: pytest.MonkeyPatch, name: str, settings_class: type[ServiceSettings]
) -> None:
    (container,) = _pod(name)["containers"]
    for key, value in _env(container).items():
        clean_environment.setenv(key, value)
    # Required settings without a default (peer address, service token, keys) must all be there.
    settings = settings_class()
    launcher = LauncherSettings()
    assert settings.jwks_url == launcher.idp_jwks_url
    assert settings.jwt_issuer == launcher.idp_issuer
    assert settings.jwt_audience == launcher.idp_audience
    if isinstance(settings, InferenceSettings):
        assert settings.models_address == f"models.{NAMESPACE}.svc.cluster.local:{GRPC_PORT}"


def test_the_service_token_comes_from_a_mounted_secret() -> None:
    pod = _pod("inference")
    (container,) = pod["containers"]
    token_file = _env(container)["AIPLAT_INFERENCE_SERVICE_TOKEN_FILE"]
    mounts = [m for m in container["volumeMounts"] if token_file.startswith(m["mountPath"] + "/")]
    (mount,) = mounts
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "aiplat-inference-service-token"
    assert volume["secret"].get("optional", False) is False
    assert "subPath" not in mount, "a subPath mount never sees the rotated token"


def test_the_model_store_url_comes_from_a_required_secret() -> None:
    # Without it two model management replicas would each write their own SQLite file.
    (container,) = _pod("models")["containers"]
    (variable,) = [v for v in container["env"] if v["name"] == "AIPLAT_MODELS_DATABASE_URL"]
    reference = variable["valueFrom"]["secretKeyRef"]
    assert reference["name"] == "aiplat-models-database"
    assert reference.get("optional", False) is False


def test_artifacts_are_shared_by_every_model_management_and_inference_pod(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    objects = _all_objects()
    (claim,) = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    (models,) = _pod("models")["containers"]
    for key, value in _env(models).items():
        clean_environment.setenv(key, value)
    artifact_root = ModelsSettings().resolved_artifact_url()
    for name in ("models", "inference"):
        pod = _pod(name)
        (container,) = pod["containers"]
        (volume,) = [
            v
            for v in pod["volumes"]
            if v.get("persistentVolumeClaim", {}).get("claimName") == claim["metadata"]["name"]
        ]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
        assert mount["mountPath"] == artifact_root, f"{name} reads artifacts where models writes them"
        assert mount.get("readOnly", False) is (name == "inference")


def test_pods_outlast_the_drain_of_their_service_and_of_their_sidecar() -> None:
    for spec in SERVICES:
        pod = _pod(spec.name)
        (container,) = pod["containers"]
        env = _env(container)
        grace = float(env[f"{spec.env_prefix}SHUTDOWN_GRACE_SECONDS"])
        stalled = float(env[f"{spec.env_prefix}PEER_PING_TIMEOUT_SECONDS"])
        pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
        assert pre_stop[0] == "sleep"
        delay = float(pre_stop[1])
        assert delay >= 5, "the gateway re-resolves the headless Service every 5 s"
        assert pod["terminationGracePeriodSeconds"] > delay + grace + stalled
    gateway = _pod(GATEWAY_NAME)
    (envoy,) = gateway["containers"]
    assert envoy["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert gateway["terminationGracePeriodSeconds"] > float(
        envoy["lifecycle"]["preStop"]["exec"]["command"][1]
    )


def test_the_mesh_overlay_holds_apps_for_the_proxy_and_drains_it_as_long_as_the_app() -> None:
    (kustomization,) = yaml.safe_load_all(_rendered()["mesh/kustomization.yaml"])
    patched: dict[str, dict[str, Any]] = {}
    for patch in kustomization["patches"]:
        if patch["target"].get("kind") != "Deployment":
            continue
        body = yaml.safe_load(patch["patch"])
        annotations = body["spec"]["template"]["metadata"]["annotations"]
        patched[patch["target"]["name"]] = json.loads(annotations["proxy.istio.io/config"])
    assert set(patched) == {*(s.name for s in SERVICES), GATEWAY_NAME}
    for name, config in patched.items():
        pod = _pod(name)
        assert config["holdApplicationUntilProxyStarts"] is True
        drain = float(config["terminationDrainDuration"].removesuffix("s"))
        assert drain >= pod["terminationGracePeriodSeconds"] - 5, name
        assert drain < pod["terminationGracePeriodSeconds"], name


def test_replicated_deployments_have_a_disruption_budget() -> None:
    objects = _all_objects()
    budgets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "PodDisruptionBudget"}
    replicated = [o for o in objects if o["kind"] == "Deployment" and o["spec"]["replicas"] >= 2]
    assert {d["metadata"]["name"] for d in replicated} == {"models", "inference", GATEWAY_NAME}
    for deployment in replicated:
        budget = budgets[deployment["metadata"]["name"]]
        assert budget["spec"]["selector"] == deployment["spec"]["selector"]
        assert budget["spec"]["maxUnavailable"] == 1


def _policies() -> dict[str, dict[str, Any]]:
    documents = yaml.safe_load_all(_rendered()["mesh/mesh.yaml"])
    return {
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]: d
        for d in documents
        if d["kind"] == "AuthorizationPolicy"
    }


def _principal(name: str) -> str:
    return f"cluster.local/ns/{NAMESPACE}/sa/aiplat-{name}"


def test_each_service_admits_only_the_gateway_and_its_callers() -> None:
    policies = _policies()
    assert set(policies) == {*(s.name for s in SERVICES), GATEWAY_NAME}
    for name, policy in policies.items():
        assert policy["spec"]["action"] == "ALLOW"
        for rule in policy["spec"]["rules"]:
            assert "ns/istio-system" not in json.dumps(rule) or name == GATEWAY_NAME
    # Inference is called by the gateway only; model management calls nothing.
    (rule,) = policies["inference"]["spec"]["rules"]
    assert rule["from"] == [{"source": {"principals": [_principal(GATEWAY_NAME)]}}]
    # The edge reaches the platform's gateway, not the services around it.
    (edge,) = policies[GATEWAY_NAME]["spec"]["rules"]
    (source,) = edge["from"]
    assert source["source"]["principals"] == [
        "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
    ]


def test_inference_reaches_model_management_only_for_what_it_follows_and_reports() -> None:
    rules = _policies()["models"]["spec"]["rules"]
    by_caller = {rule["from"][0]["source"]["principals"][0]: rule for rule in rules}
    assert set(by_caller) == {_principal(GATEWAY_NAME), _principal("inference")}
    assert "to" not in by_caller[_principal(GATEWAY_NAME)]
    (operation,) = by_caller[_principal("inference")]["to"]
    paths = set(operation["operation"]["paths"])
    assert "/aiplat.models.v1.DeploymentService/WatchDeployments" in paths
    assert "/aiplat.models.v1.DeploymentService/ReportDeploymentStatus" in paths
    assert not any(verb in p for p in paths for verb in ("Create", "Delete", "Update", "Upload", "Import"))
    assert "models" in service_by_name("inference").peers


@pytest.mark.parametrize(
    ("name", "directory"),
    [
        ("inference", lambda: InferenceSettings().resolved_cache_dir()),
        ("models", lambda: ModelsSettings().resolved_staging_dir()),
    ],
)
def test_the_cache_and_the_uploads_in_progress_have_volumes_sized_by_their_settings(
    clean_environment: pytest.MonkeyPatch, name: str, directory: Callable[[], Path]
) -> None:
    pod = _pod(name)
    (container,) = pod["containers"]
    for key, value in _env(container).items():
        clean_environment.setenv(key, value)
    path = directory()
    (mount,) = [m for m in container["volumeMounts"] if path.is_relative_to(m["mountPath"])]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    launcher = LauncherSettings()
    gib = launcher.cluster_inference_cache_gib if name == "inference" else launcher.cluster_upload_staging_gib
    assert volume["emptyDir"] == {"sizeLimit": f"{gib}Gi"}, "not the data directory's small volume"


def test_the_gateway_pod_is_hardened_like_the_services() -> None:
    gateway = _pod(GATEWAY_NAME)
    service = _pod("models")
    assert gateway["securityContext"] == service["securityContext"]
    assert gateway["automountServiceAccountToken"] is False


def _mesh(settings: LauncherSettings | None = None) -> list[dict[str, Any]]:
    files = render(SERVICES, settings) if settings else _rendered()
    return [d for d in yaml.safe_load_all(files["mesh/mesh.yaml"]) if d]


def _virtual_services(settings: LauncherSettings | None = None) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _mesh(settings) if d["kind"] == "VirtualService"}


def test_the_ingress_serves_the_platform_host_over_tls_and_hands_every_call_to_the_gateway() -> None:
    settings = LauncherSettings(ingress_host="ml.example.com")
    (ingress,) = [d for d in _mesh(settings) if d["kind"] == "Gateway"]
    # The ingress gateway whose service account the gateway's AuthorizationPolicy admits.
    assert ingress["spec"]["selector"] == {"istio": "ingressgateway"}
    assert "istio-ingressgateway-service-account" in json.dumps(_policies()[GATEWAY_NAME])
    (server,) = ingress["spec"]["servers"]
    assert server["port"] == {"number": 443, "name": "https", "protocol": "HTTPS"}
    assert server["tls"] == {"mode": "SIMPLE", "credentialName": INGRESS_TLS_SECRET}
    assert server["hosts"] == ["ml.example.com"]

    edge = _virtual_services(settings)["aiplat"]["spec"]
    assert edge["gateways"] == [ingress["metadata"]["name"]]
    assert edge["hosts"] == ["ml.example.com"]
    (http,) = edge["http"]
    (destination,) = http["route"]
    (gateway_service,) = [
        o for o in _all_objects() if o["kind"] == "Service" and o["metadata"]["name"] == GATEWAY_NAME
    ]
    assert destination["destination"] == {
        "host": f"{GATEWAY_NAME}.{NAMESPACE}.svc.cluster.local",
        "port": {"number": gateway_service["spec"]["ports"][0]["port"]},
    }
    # No path rules, no timeout: every method, streams included, reaches the gateway as it was sent.
    assert set(http) == {"route", "retries"}
    assert http["retries"] == {"attempts": 0}


def test_no_sidecar_retries_a_call_on_any_host_of_the_mesh() -> None:
    """Istio's default (two retries on UNAVAILABLE and CANCELLED) would run writes and inference again."""
    routed = {
        vs["spec"]["hosts"][0]: vs["spec"]["http"]
        for vs in _virtual_services().values()
        if "gateways" not in vs["spec"]
    }
    hosts = {
        f"{o['metadata']['name']}.{NAMESPACE}.svc.cluster.local"
        for o in _all_objects()
        if o["kind"] == "Service" and o["metadata"]["name"] != GATEWAY_NAME
    }
    assert set(routed) == hosts
    for host, http in routed.items():
        (rule,) = http
        (destination,) = rule["route"]
        assert destination["destination"] == {"host": host, "port": {"number": GRPC_PORT}}
        assert rule["retries"] == {"attempts": 0}, host


def test_the_gateway_names_the_host_it_calls_so_the_sidecar_applies_that_hosts_routes() -> None:
    """A call keeps the client's authority unless rewritten, and no mesh route would match it."""
    cluster = yaml.safe_load((envoy_config.ROOT / envoy_config.CLUSTER_FILE).read_text())
    (local,) = [
        yaml.safe_load((envoy_config.ROOT / name).read_text())
        for name in envoy_config.committed_files(LauncherSettings())
        if name != envoy_config.CLUSTER_FILE
    ]
    dns_clusters = {c["name"] for c in cluster["static_resources"]["clusters"] if c["type"] == "STRICT_DNS"}
    assert {spec.name for spec in SERVICES} <= dns_clusters
    for config, rewritten in ((cluster, True), (local, False)):
        for route in _routes(config):
            if "route" in route and route["route"]["cluster"] in dns_clusters | {s.name for s in SERVICES}:
                assert route["route"].get("auto_host_rewrite", False) is rewritten, route["name"]


def _routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    (listener,) = config["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    manager = next(f for f in chain["filters"] if f["name"].endswith("http_connection_manager"))
    (host,) = manager["typed_config"]["route_config"]["virtual_hosts"]
    routes: list[dict[str, Any]] = host["routes"]
    return routes


def test_the_room_the_inference_cache_keeps_for_a_download_is_the_largest_upload() -> None:
    # The launcher does not import the services, so it holds a copy of the upload limit's default.
    assert ModelsSettings.model_fields["max_upload_bytes"].default == _LARGEST_ARTIFACT_GIB * 1024**3
