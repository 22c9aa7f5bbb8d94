"""ops/k8s (issue 21 point 5): both overlays render with `kubectl kustomize` and
pass `kubernetes-validate --strict`; what the schemas cannot say is checked here:
the KEDA ScaledObject (a custom resource the validator skips), probes, Secrets only
referenced, a sandbox in development only, every setting a real one."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.core.queues import QUEUE_NAMES
from gateway.core.settings import setting_names
from tests.ops.tools import OPS, run, tool

OVERLAYS = ("development", "production")
# The oldest Kubernetes the manifests are written for (autoscaling/v2, policy/v1).
KUBERNETES_VERSION = "1.31.0"
SECRET = "gateway-secrets"
PROCESSES = {"api", "worker", "cron", "dashboard"}

Resource = dict[str, Any]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    kubectl = tool("kubectl")
    text = run(kubectl, "kustomize", str(OPS / "k8s" / "overlays" / request.param))
    path = tmp_path_factory.mktemp("k8s") / f"{request.param}.yaml"
    path.write_text(text)
    return path


@functools.cache
def _resources(path: Path) -> list[Resource]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [document for document in yaml.load_all(path.read_text(), loader) if document]


def _of_kind(path: Path, kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in _resources(path) if r["kind"] == kind}


def _pod_specs(path: Path) -> dict[str, Resource]:
    specs = {
        name: r["spec"]["template"]["spec"] for name, r in _of_kind(path, "Deployment").items()
    }
    specs |= {name: r["spec"]["template"]["spec"] for name, r in _of_kind(path, "Job").items()}
    return specs


@pytest.mark.slow
def test_kubernetes_validate_strict_accepts_the_overlay(rendered: Path) -> None:
    validator = tool("kubernetes-validate")
    run(validator, "--strict", "--quiet", "-k", KUBERNETES_VERSION, str(rendered))


def test_every_process_runs_and_the_sandbox_only_in_development(rendered: Path) -> None:
    deployments = set(_of_kind(rendered, "Deployment"))
    assert {f"gateway-{process}" for process in PROCESSES} <= deployments
    assert ("gateway-sandbox" in deployments) == (rendered.stem == "development")
    assert _of_kind(rendered, "Job")["gateway-migrate"]["spec"]["template"]["spec"]["containers"][
        0
    ]["args"] == ["migrate"]
    cron = _of_kind(rendered, "Deployment")["gateway-cron"]["spec"]
    assert cron["replicas"] == 1
    assert cron["strategy"]["type"] == "Recreate"


def test_the_api_probes_liveness_and_readiness(rendered: Path) -> None:
    api = _of_kind(rendered, "Deployment")["gateway-api"]["spec"]["template"]["spec"]
    container = api["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/v1/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/health"


def test_the_workers_scale_on_every_rq_queue_never_below_one(rendered: Path) -> None:
    scaled = _of_kind(rendered, "ScaledObject")["gateway-worker"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "gateway-worker"
    assert "gateway-worker" in _of_kind(rendered, "Deployment")
    assert spec["minReplicaCount"] == 1  # RQ's scheduler runs inside workers
    assert spec["maxReplicaCount"] >= spec["minReplicaCount"]
    triggers = spec["triggers"]
    assert {trigger["type"] for trigger in triggers} == {"redis"}
    assert sorted(trigger["metadata"]["listName"] for trigger in triggers) == sorted(
        f"rq:queue:{name}" for name in QUEUE_NAMES
    )
    for trigger in triggers:
        assert int(trigger["metadata"]["listLength"]) > 0
        assert trigger["authenticationRef"]["name"] in _of_kind(rendered, "TriggerAuthentication")
    for reference in _of_kind(rendered, "TriggerAuthentication")["gateway-redis"]["spec"][
        "secretTargetRef"
    ]:
        assert reference["name"] == SECRET
    # The HPA scales the API only: two autoscalers on one Deployment fight.
    targets = {
        h["spec"]["scaleTargetRef"]["name"]
        for h in _of_kind(rendered, "HorizontalPodAutoscaler").values()
    }
    assert targets == {"gateway-api"}


def test_disruption_budgets_cover_the_api_and_workers(rendered: Path) -> None:
    selected = {
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for pdb in _of_kind(rendered, "PodDisruptionBudget").values()
    }
    assert {"api", "worker"} <= selected


def test_secrets_are_referenced_never_inlined(rendered: Path) -> None:
    assert _of_kind(rendered, "Secret") == {}
    for name, spec in _pod_specs(rendered).items():
        for container in spec["containers"]:
            references = [s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s]
            assert references == [SECRET], name
            for variable in container.get("env", []):
                assert "value" not in variable or not any(
                    word in variable["name"] for word in ("KEY", "PASSWORD", "TOKEN", "URL")
                ), f"{name}: {variable['name']} belongs in the Secret"


def test_every_container_has_requests_limits_and_runs_unprivileged(rendered: Path) -> None:
    for name, spec in _pod_specs(rendered).items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), name
            assert "memory" in resources["limits"], name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name


def test_the_config_names_real_settings_and_the_overlay_environment(rendered: Path) -> None:
    (config,) = (
        c for n, c in _of_kind(rendered, "ConfigMap").items() if n.startswith("gateway-config")
    )
    settings = {name for name in config["data"] if name.startswith("GATEWAY_")}
    assert settings - setting_names() == set()
    assert config["data"]["GATEWAY_ENV"] == rendered.stem


def test_network_policies_deny_by_default_and_open_what_the_issue_lists(rendered: Path) -> None:
    policies = _of_kind(rendered, "NetworkPolicy")
    assert policies["gateway-default-deny"]["spec"]["podSelector"] == {}
    api_rules = policies["gateway-api"]["spec"]["ingress"]
    assert all("from" not in rule for rule in api_rules)  # from anywhere
    dashboard = policies["gateway-dashboard"]["spec"]["ingress"]
    assert all("ipBlock" in peer for rule in dashboard for peer in rule["from"])
    metrics = policies["gateway-metrics"]["spec"]["ingress"]
    assert [port["port"] for rule in metrics for port in rule["ports"]] == ["metrics"]
    if rendered.stem == "development":
        (rule,) = policies["gateway-sandbox"]["spec"]["ingress"]
        (peer,) = rule["from"]
        assert set(peer["podSelector"]["matchExpressions"][0]["values"]) == {"api", "worker"}
