"""The deployment files hold against their schemas, offline: infra/compose.yaml against the
Compose specification (the schema check-jsonschema ships), and every manifest infra/k8s renders
(`kubectl kustomize`) against the Kubernetes API schema, strictly (an unknown field is an error).
Neither Docker nor a cluster is needed; the rendering skips, saying so, where kubectl is missing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

INFRA = Path(__file__).resolve().parents[2] / "infra"
KUBERNETES_VERSION = "1.33.0"


def test_the_compose_file_follows_the_compose_specification():
    checked = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                              str(INFRA / "compose.yaml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    services = yaml.safe_load((INFRA / "compose.yaml").read_text())["services"]
    assert set(services) == {"redis", "postgres", "jobs", "shop"}
    assert {"SHOPML_REDIS", "SHOPML_REGISTRY_URL"} <= set(services["shop"]["environment"])


@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed: the kustomization cannot be rendered")
    rendered = subprocess.run(["kubectl", "kustomize", str(INFRA / "k8s")], capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def test_every_rendered_manifest_is_valid_kubernetes(manifests):
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    assert {m["kind"] for m in manifests} == {"Deployment", "Service", "HorizontalPodAutoscaler", "Secret"}


def test_the_deployment_probes_readiness_and_liveness_and_reads_its_stores_from_the_secret(manifests):
    by_kind = {m["kind"]: m for m in manifests}
    container = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["envFrom"][0]["secretRef"]["name"] == by_kind["Secret"]["metadata"]["name"]
    assert set(by_kind["Secret"]["data"]) == {"SHOPML_FEATURE_STORE_YAML", "SHOPML_REGISTRY_URL", "SHOPML_REDIS"}
    assert by_kind["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == by_kind["Deployment"]["metadata"]["name"]
    assert by_kind["Service"]["spec"]["selector"] == by_kind["Deployment"]["spec"]["selector"]["matchLabels"]
