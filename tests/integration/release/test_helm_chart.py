"""The Helm chart, rendered and linted offline (helm-python-sdk bundles Helm itself): what an
operator relies on — probes, a non-root pod with a read-only root filesystem and a writable
/data, one replica on SQLite or several on PostgreSQL, and values that fail loudly when wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

helm = pytest.importorskip("helm_python", reason="helm-python-sdk is part of the test extra")

CHART = Path(__file__).resolve().parents[3] / "deploy" / "helm" / "opsroom"
HA = {
    "mode": "ha",
    "replicaCount": 3,
    "database": {"existingSecret": "opsroom-db"},
    "secretKey": {"existingSecret": "opsroom-signing"},
    "config": {"server": {"public_url": "https://opsroom.example.com"}},
}


def render(values: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Manifests by kind."""
    chart = helm.Chart.load(CHART)
    out: dict[str, list[dict[str, Any]]] = {}
    for path, text in chart.render(values, name="ops", namespace="chatops").items():
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                out.setdefault(doc["kind"], []).append(doc)
    return out


def container(manifests: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    (deployment,) = manifests["Deployment"]
    (ctr,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(ctr)


def test_lint_is_clean_in_strict_mode_for_each_shape() -> None:
    for values in ({}, HA):
        report = helm.lint(CHART, values, strict=True, kube_version="v1.31.0")
        problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
        assert problems == [], problems


def test_single_mode_is_one_replica_on_a_kept_volume_recreated_on_upgrade() -> None:
    manifests = render({})
    (deployment,) = manifests["Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    (claim,) = manifests["PersistentVolumeClaim"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert "PodDisruptionBudget" not in manifests and "Job" not in manifests
    # no config given: the bundled demo, so no --config argument and no ConfigMap
    assert container(manifests)["args"] == ["run"]
    assert "ConfigMap" not in manifests


def test_ha_mode_runs_replicas_on_postgres_with_a_budget_and_an_upgrade_hook() -> None:
    manifests = render(HA)
    (deployment,) = manifests["Deployment"]
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (pdb,) = manifests["PodDisruptionBudget"]
    assert pdb["spec"]["minAvailable"] == 1
    assert "PersistentVolumeClaim" not in manifests
    env = {e["name"]: e for e in container(manifests)["env"]}
    assert env["OPSROOM_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "opsroom-db"
    assert env["OPSROOM_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "opsroom-signing"
    (job,) = manifests["Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["args"] == ["db", "upgrade", "--config", "/config/opsroom.yaml"]
    (config_map,) = manifests["ConfigMap"]
    assert yaml.safe_load(config_map["data"]["opsroom.yaml"]) == HA["config"]
    assert container(manifests)["args"] == ["run", "--config", "/config/opsroom.yaml"]


@pytest.mark.parametrize("values", [{}, HA], ids=["single", "ha"])
def test_pods_are_non_root_read_only_with_data_and_tmp_writable(values: dict[str, Any]) -> None:
    manifests = render(values)
    pod = manifests["Deployment"][0]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    ctr = container(manifests)
    assert ctr["securityContext"]["readOnlyRootFilesystem"] is True
    assert ctr["securityContext"]["allowPrivilegeEscalation"] is False
    assert ctr["securityContext"]["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m for m in ctr["volumeMounts"]}
    assert "/data" in mounts and not mounts["/data"].get("readOnly")
    assert "/tmp" in mounts


def test_probes_ask_healthz_on_the_http_port() -> None:
    ctr = container(render({}))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert ctr[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert ctr["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    env = {e["name"]: e.get("value") for e in ctr["env"]}
    assert env["OPSROOM_HOST"] == "0.0.0.0"  # reachable from the Service, not just the pod


def test_optional_ingress_servicemonitor_and_read_only_runner_rbac() -> None:
    manifests = render(
        {
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "hosts": [{"host": "ops.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
            },
            "metrics": {"serviceMonitor": {"enabled": True, "bearerTokenSecret": {"name": "metrics-token"}}},
            "rbac": {"kubernetesRunner": {"enabled": True, "namespaces": ["payments", "checkout"]}},
        }
    )
    (ingress,) = manifests["Ingress"]
    assert ingress["spec"]["rules"][0]["host"] == "ops.example.com"
    (monitor,) = manifests["ServiceMonitor"]
    assert monitor["spec"]["endpoints"][0]["authorization"]["credentials"]["name"] == "metrics-token"
    roles = manifests["Role"]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["checkout", "payments"]
    verbs = {verb for role in roles for rule in role["rules"] for verb in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}
    assert len(manifests["RoleBinding"]) == 2
    assert "Ingress" not in render({}) and "Role" not in render({})


@pytest.mark.parametrize(
    "values, says",
    [
        ({"mode": "cluster"}, "mode"),
        ({"mode": "ha", "replicaCount": 1, **{k: HA[k] for k in ("database", "secretKey")}}, "replicaCount"),
        ({"service": {"port": 70000}}, "port"),
        ({"mode": "ha"}, "existingSecret"),
    ],
)
def test_the_schema_refuses_bad_values(values: dict[str, Any], says: str) -> None:
    chart = helm.Chart.load(CHART)
    with pytest.raises(helm.HelmError) as refused:
        chart.validate_schema(chart.merge_values(values))
    assert says in str(refused.value)


def test_ha_without_postgres_is_refused_at_install() -> None:
    chart = helm.Chart.load(CHART)
    with pytest.raises(helm.HelmError) as refused:
        chart.render({"mode": "ha", "secretKey": {"existingSecret": "k"}}, name="ops")
    assert "/database/existingSecret" in str(refused.value)


def test_a_servicemonitor_without_a_token_is_refused() -> None:
    chart = helm.Chart.load(CHART)
    with pytest.raises(helm.HelmError) as refused:
        chart.render({"metrics": {"serviceMonitor": {"enabled": True}}}, name="ops")
    assert "bearerTokenSecret" in str(refused.value)
