"""Reference tables for the README, generated from the code so they cannot drift.

`python -m exporter.docs` rewrites the marked sections of README.md; a test fails when they differ.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from .apikey import ApiKeySource
from .config import Settings, env_name, flag_name, load_settings
from .families import FAMILIES
from .kinds import KINDS

README = Path(__file__).resolve().parent.parent / "README.md"


def config_table() -> str:
    rows = ["| Environment variable | Flag | Default | Meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if name == "kinds":
            shown = "all seven 2026-02-09 kinds (2025-04-21: `processor_run,workflow_run`)"
        elif default in (None, [], ""):
            shown = "—"
        else:
            shown = f"`{default}`"
        rows.append(f"| `{env_name(name)}` | `{flag_name(name)}` | {shown} | {field.description} |")
    return "\n".join(rows)


def metrics_table() -> str:
    from .app import Exporter  # heavy import only when generating

    settings = load_settings(
        {
            "api_key": "docs",
            "kinds": ",".join(KINDS),
            "per_resource_labels": True,
            "usage_tags": "docs",
            "api_base_url": "http://127.0.0.1:1",
        }
    )
    exporter = Exporter(settings, ApiKeySource(SecretStr("docs"), None))
    exporter.load_state()
    text = exporter.exposition.refresh().text.decode()
    exporter.client.close()
    known = {f.name: f.label_names for f in FAMILIES}
    rows = ["| Metric | Type | Labels | Help |", "|---|---|---|---|"]
    for family in text_string_to_metric_families(text):
        if family.name.startswith(("python_", "process_")):
            continue
        labels: set[str] = set(known.get(family.name, ()))
        for sample in family.samples:
            labels.update(k for k in sample.labels if k not in ("le", "quantile"))
        suffix = "_total" if family.type == "counter" else ""
        label_list = ", ".join(f"`{x}`" for x in sorted(labels)) or "—"
        rows.append(f"| `{family.name}{suffix}` | {family.type} | {label_list} | {family.documentation} |")
    return "\n".join(rows)


SECTIONS = {"config": config_table, "metrics": metrics_table}


def render(readme: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(
            rf"(<!-- BEGIN GENERATED {name} -->\n)(?:.*?\n)?(<!-- END GENERATED {name} -->)", re.S
        )
        if pattern.search(readme) is None:
            raise ValueError(f"README.md lacks the markers of the generated {name} table")
        match = pattern.search(readme)
        assert match is not None
        readme = (
            readme[: match.start()] + match.group(1) + make() + "\n" + match.group(2) + readme[match.end() :]
        )
    return readme


def main() -> int:
    current = README.read_text()
    updated = render(current)
    if "--check" in sys.argv:
        if updated != current:
            print("README.md reference tables are out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    README.write_text(updated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
