"""deploy/k8s: rendered with kustomize, validated offline against the Kubernetes schemas
(PyPI ``kubernetes-validate``, strict: unknown fields are errors), and checked against the
worker's own configuration and the measured per-call figures.
"""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from containers import REPO, SCRIPTS
from voxplug import load_config

K8S = REPO / "deploy" / "k8s"
# the oldest Kubernetes the manifests target, and the newest the validator knows
VERSIONS = ("1.29", kubernetes_validate.latest_version())
CRDS = {"ServiceMonitor"}  # not in the Kubernetes schemas; checked below by reference

Doc = dict[str, Any]


def render(path: Path) -> list[Doc]:
    proc = subprocess.run([str(SCRIPTS / "kustomize.sh"), "build", str(path)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.fixture(scope="module")
def base() -> list[Doc]:
    return render(K8S / "base")


@pytest.fixture(scope="module")
def operator() -> list[Doc]:
    return render(K8S / "overlays" / "prometheus-operator")


def one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in found])
    return found[0]


def problems(doc: Doc) -> list[str]:
    out = []
    for version in VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            out.append(f"{doc['kind']}/{doc['metadata']['name']} on {version}: {exc.message}")
    return out


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_every_object_validates_against_the_kubernetes_schemas(base: list[Doc], operator: list[Doc]) -> None:
    kinds = sorted(d["kind"] for d in base)
    assert kinds == sorted([
        "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Job", "PodDisruptionBudget", "Secret", "Service",
    ])
    assert sorted(d["kind"] for d in operator) == sorted([*kinds, "Namespace", "ServiceMonitor"])
    errors = [p for doc in base + operator if doc["kind"] not in CRDS for p in problems(doc)]
    assert errors == []
    assert {d["metadata"].get("namespace") for d in operator if d["kind"] != "Namespace"} == {"voxplug"}


def test_the_validator_rejects_unknown_fields_and_wrong_types(base: list[Doc]) -> None:
    deployment = one(base, "Deployment")
    typo = copy.deepcopy(deployment)
    pod = typo["spec"]["template"]["spec"]
    pod["terminationGracePeriodSecond"] = pod.pop("terminationGracePeriodSeconds")
    assert problems(typo)
    wrong = copy.deepcopy(deployment)
    wrong["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "health"
    assert problems(wrong)


def worker_config(base: list[Doc], tmp_path: Path) -> Any:
    """The VoxplugConfig the workers load: the ConfigMap's voxplug.yaml."""
    text = one(base, "ConfigMap")["data"]["voxplug.yaml"]
    assert text == (REPO / "deploy" / "compose" / "voxplug.yaml").read_text(), "one config for compose and k8s"
    path = tmp_path / "voxplug.yaml"
    path.write_text(text)
    return load_config(path, env={"OPENAI_API_KEY": "sk-test"})


def test_worker_deployment_fits_the_worker_config(base: list[Doc], tmp_path: Path) -> None:
    config = worker_config(base, tmp_path)
    deployment = one(base, "Deployment", "voxplug-worker")
    pod = deployment["spec"]["template"]["spec"]
    # SIGKILL only after the drain: the grace period outlasts worker.drain_timeout
    assert pod["terminationGracePeriodSeconds"] > config.worker.drain_timeout
    # a rolling update adds a worker before it drains one
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": config.worker.health_port, "metrics": config.telemetry.prometheus_port}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/", "port": "health"}, probe
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(config.telemetry.prometheus_port)
    # the config is mounted where VOXPLUG_CONFIG points, from the generated (hashed) ConfigMap
    env = {e["name"]: e.get("value") for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert env["VOXPLUG_CONFIG"] == f"{mount['mountPath']}/voxplug.yaml"
    volume = next(v for v in pod["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == one(base, "ConfigMap")["metadata"]["name"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user


def quantity(text: str) -> float:
    """A Kubernetes quantity in cores or bytes."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "": 1}
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", text).groups()  # type: ignore[union-attr]
    return float(number) * units[unit]


def measured_per_worker(sessions: int, executor: str) -> tuple[float, float]:
    """Worker CPU cores and memory (bytes) for ``sessions`` calls, from docs/benchmarks.md P4's
    table (its first one; PSS per call, the worker's CPU) for ``executor``."""
    text = (REPO / "docs" / "benchmarks.md").read_text()
    section = text.split("<!-- p4:start -->")[1].split("<!-- p4:end -->")[0]
    table = section[section.index("\n|"):].split("\n\n")[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.strip().splitlines()]
    header = rows[0]
    data = [dict(zip(header, r, strict=True)) for r in rows[2:]]
    data = [r for r in data if r["executor"] == executor]
    assert data, f"no {executor} rows in the P4 table"
    row = min((r for r in data if int(r["rooms N"]) >= sessions), key=lambda r: int(r["rooms N"]), default=data[-1])
    return float(row["worker CPU cores"]), float(row["PSS per call MB"]) * 2**20 * sessions


def test_resource_requests_cover_the_measured_per_call_figures(base: list[Doc], tmp_path: Path) -> None:
    config = worker_config(base, tmp_path)
    assert config.worker.max_sessions > 0, "requests are sized per call: cap the calls per worker"
    (container,) = one(base, "Deployment")["spec"]["template"]["spec"]["containers"]
    requests, limits = container["resources"]["requests"], container["resources"]["limits"]
    cpu, memory = measured_per_worker(config.worker.max_sessions, config.worker.executor)
    assert quantity(requests["cpu"]) >= cpu
    assert quantity(requests["memory"]) >= memory
    assert quantity(limits["memory"]) > quantity(requests["memory"])
    # a runaway call is killed before the pod is
    assert config.worker.job_memory_limit_mb * 2**20 < quantity(limits["memory"])


def test_pdb_hpa_service_and_servicemonitor_select_the_workers(base: list[Doc], operator: list[Doc]) -> None:
    deployment = one(base, "Deployment")
    workers = deployment["spec"]["template"]["metadata"]["labels"]
    migrate = one(base, "Job")["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"]["matchLabels"], workers)
    for kind in ("PodDisruptionBudget",):
        selector = one(base, kind)["spec"]["selector"]["matchLabels"]
        assert selects(selector, workers) and not selects(selector, migrate), kind
    service = one(base, "Service")
    assert selects(service["spec"]["selector"], workers) and not selects(service["spec"]["selector"], migrate)
    assert one(base, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    hpa = one(base, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    monitor = one(operator, "ServiceMonitor")
    assert selects(monitor["spec"]["selector"]["matchLabels"], one(operator, "Service")["metadata"]["labels"])
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"] and "metrics" in service_ports


def test_workers_and_migration_read_the_secret(base: list[Doc]) -> None:
    secret = one(base, "Secret")
    assert {"LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "VOXPLUG_PERSISTENCE__DATABASE_URL"} <= set(secret["stringData"])
    for kind in ("Deployment", "Job"):
        (container,) = one(base, kind)["spec"]["template"]["spec"]["containers"]
        assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}], kind
    (job,) = one(base, "Job")["spec"]["template"]["spec"]["containers"]
    assert job["args"] == ["db", "upgrade"]
