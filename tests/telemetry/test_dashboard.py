"""Static checks of the dashboard, provisioning files and docs (no Prometheus needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from voxplug.telemetry import INSTRUMENTS

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "voxplug.json"


def series_names() -> set[str]:
    names = set()
    for spec in INSTRUMENTS:
        if spec.kind == "histogram":
            names |= {f"{spec.prometheus}_{s}" for s in ("bucket", "sum", "count")}
        else:
            names.add(spec.prometheus)
    return names


def test_dashboard_uses_only_existing_series_and_covers_the_issue() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {m for e in exprs for m in re.findall(r"\b(voxplug_[a-z0-9_]+)", e)}
    assert used and used <= series_names(), used - series_names()
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for wanted in (
        "voice-to-voice latency (p50 / p95 / p99)",
        "by provider",
        "turns",
        "error rate by stage",
        "fallback",
        "active sessions",
        "tokens",
        "characters",
        "audio seconds",
        "cost per hour",
        "worker load",
    ):
        assert wanted in titles, wanted
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel["targets"], panel["title"]
    agent = next(v for v in dashboard["templating"]["list"] if v["name"] == "agent")
    assert agent["allValue"] == ".*"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_provisioning_files_point_at_the_dashboard() -> None:
    prov = ROOT / "deploy" / "grafana" / "provisioning"
    datasources = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())
    assert datasources["datasources"][0]["type"] == "prometheus"
    providers = yaml.safe_load((prov / "dashboards" / "voxplug.yml").read_text())
    assert providers["providers"][0]["options"]["path"].endswith("/voxplug")


def test_docs_list_every_metric() -> None:
    docs = (ROOT / "docs" / "observability.md").read_text()
    for spec in INSTRUMENTS:
        assert f"`{spec.name}`" in docs and f"`{spec.prometheus}`" in docs, spec.name
