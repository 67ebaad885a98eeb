"""Reference material generated from the code so it cannot drift: the README's kinds line,
docs/configuration.md's settings and kinds tables, docs/metrics.md's metrics table and its stability,
label and worst-case series sections (from metrics/families.py, labels.py and cardinality.py).

`python -m exporter.docs` (`make docs`) rewrites the marked sections of those files; `--check` and a test
fail when one differs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from .config import Settings, env_name, flag_name
from .kinds import API_VERSIONS, DEFAULT_KINDS, KINDS, KINDS_BY_VERSION
from .metrics import labels as lb
from .metrics.cardinality import HTTP_CODES, Caps, kinds_of, label_values, worst_case
from .metrics.families import FAMILIES, STABILITY_RULES
from .metrics.family import Family

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONFIG_DOC = ROOT / "docs" / "configuration.md"
METRICS_DOC = ROOT / "docs" / "metrics.md"


def config_table() -> str:
    rows = ["| Environment variable | Flag | Default | Meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if name == "kinds":
            shown = "the API version's [default kinds](#run-kinds)"
        elif default in (None, [], ""):
            shown = "—"
        else:
            shown = f"`{default}`"
        rows.append(f"| `{env_name(name)}` | `{flag_name(name)}` | {shown} | {field.description} |")
    return "\n".join(rows)


def _opt_in(family: Family) -> str:
    return f"`{env_name(family.opt_in)}`" if family.opt_in else "—"


def metrics_table() -> str:
    rows = ["| Metric | Type | Labels | Stability | Opt-in | Help |", "|---|---|---|---|---|---|"]
    for f in FAMILIES:
        label_list = ", ".join(f"`{x}`" for x in f.label_names) or "—"
        rows.append(f"| `{f.exposed}` | {f.type} | {label_list} | {f.stability} | {_opt_in(f)} | {f.help} |")
    return "\n".join(rows)


def kinds_line() -> str:
    """The README's one line of run kinds: the defaults, then the opt-in ones."""
    default = DEFAULT_KINDS[API_VERSIONS[0]]
    names = ", ".join(f"`{k}`" for k in default)
    extra = []
    for kind in (k for k in KINDS if k not in default):
        elsewhere = [v for v in API_VERSIONS if kind in DEFAULT_KINDS[v]]
        extra.append(f"`{kind}` (opt-in{'; default under ' + ', '.join(elsewhere) if elsewhere else ''})")
    more = f"; {', '.join(extra)}" if extra else ""
    return f"Run kinds: {names}{more} ([details](docs/configuration.md#run-kinds))."


def kinds_table() -> str:
    """docs/configuration.md's table of run kinds: endpoint, API versions, default, statuses."""
    rows = [
        "| Kind | Endpoint | API versions | Default | Active statuses | Terminal statuses |",
        "|---|---|---|---|---|---|",
    ]
    for name, spec in KINDS.items():
        versions = [v for v in API_VERSIONS if name in KINDS_BY_VERSION[v]]
        default = [v for v in versions if name in DEFAULT_KINDS[v]]
        rows.append(
            f"| `{name}` | `{spec.path}` | {', '.join(versions)} | {', '.join(default) or 'no'} | "
            f"{', '.join(spec.active_statuses)} | {', '.join(spec.terminal_statuses)} |"
        )
    return "\n".join(rows)


def cardinality_sections() -> str:
    """docs/metrics.md: stability levels, label rules and worst-case series of every family."""
    caps = Caps()
    out = [
        "## Stability",
        "",
        *(f"- **{level}**: {rule}" for level, rule in STABILITY_RULES.items()),
        "",
        "## Label values that stand for no API value",
        "",
        "| Value | Meaning |",
        "|---|---|",
        *(f"| `{value}` | {meaning} |" for value, meaning in lb.MEANINGS.items()),
        "",
        "## Labels",
        "",
        "What each label holds and what bounds it; one name can carry two rules (`status` of the active",
        "gauges and of the finished counters, `reason` of three counters).",
        "",
        "| Label | Values and bound | Values that stand for no API value | Used by |",
        "|---|---|---|---|",
        *(f"| `{r.name}` | {r.values} | {r.overflow or '—'} | {_used_by(r)} |" for r in _rules()),
        "",
        "## Worst-case series",
        "",
        f"With all {len(caps.kinds)} kinds, every opt-in on, every cap filled, "
        f"`EXTEND_EXPORTER_PER_RESOURCE_MAX` at its default ({caps.per_resource_max})",
        f"and {caps.usage_tags} usage tags (the most `EXTEND_EXPORTER_USAGE_TAGS` takes). A histogram "
        "counts its buckets, `_sum` and `_count`.",
        f"`code` is counted as {HTTP_CODES:,} values (any three-digit status); an API answers with a "
        "handful. A workspace sees",
        "a fraction: values a kind never had do not appear (documented ones start at 0). A test fills every "
        "cap and checks these.",
        "The figures are per workspace: a family with a `workspace` label has them once for each workspace "
        "polled (`EXTEND_WORKSPACE_ID`).",
        "",
        "| Metric | Labels (most values per kind) | Kinds | Series at most |",
        "|---|---|---|---|",
        *(_series_row(f, caps) for f in FAMILIES),
        f"| all | | | {sum(worst_case(f, caps) for f in FAMILIES):,} |",
    ]
    return "\n".join(out)


Section = Callable[[], str]
#: Each generated file and its marked sections (`<!-- BEGIN GENERATED name -->` ... `END`).
FILES: dict[Path, dict[str, Section]] = {
    README: {"kinds": kinds_line},
    CONFIG_DOC: {"config": config_table, "kinds": kinds_table},
    METRICS_DOC: {"metrics": metrics_table, "cardinality": cardinality_sections},
}


def _rules() -> list[lb.Label]:
    """Every label rule the families use, in the order labels.py declares them."""
    used = {rule for f in FAMILIES for rule in f.labels}
    return [v for v in vars(lb).values() if isinstance(v, lb.Label) and v in used]


def _used_by(rule: lb.Label) -> str:
    names = [f"`{f.exposed}`" for f in FAMILIES if rule in f.labels]
    return ", ".join(names) if len(names) <= 3 else f"{len(names)} families"


def _series_row(family: Family, caps: Caps) -> str:
    kinds = kinds_of(family, caps)
    specs = [KINDS[k] for k in kinds] or [KINDS[caps.kinds[0]]]
    cells = []
    for rule in family.labels:
        most = max(label_values(rule, spec, caps) for spec in specs)
        cells.append(f"`{rule.name}`" if most == 1 else f"`{rule.name}` ≤ {most:,}")
    opt_in = f" (opt-in: {_opt_in(family)})" if family.opt_in else ""
    return (
        f"| `{family.exposed}`{opt_in} | {', '.join(cells) or '—'} | {len(kinds) or '—'} | "
        f"{worst_case(family, caps):,} |"
    )


def render(text: str, sections: dict[str, Section], where: str = "README.md") -> str:
    """`text` with each marked section replaced by what its function makes now."""
    for name, make in sections.items():
        pattern = re.compile(
            rf"(<!-- BEGIN GENERATED {name} -->\n)(?:.*?\n)?(<!-- END GENERATED {name} -->)", re.S
        )
        match = pattern.search(text)
        if match is None:
            raise ValueError(f"{where} lacks the markers of the generated {name} section")
        text = text[: match.start()] + match.group(1) + make() + "\n" + match.group(2) + text[match.end() :]
    return text


def rendered() -> dict[Path, str]:
    """Every generated file's content as the code says it should be."""
    return {
        path: render(path.read_text(), sections, str(path.relative_to(ROOT)))
        for path, sections in FILES.items()
    }


def main() -> int:
    outputs = rendered()
    stale = [p for p, text in outputs.items() if p.read_text() != text]
    if "--check" in sys.argv:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run `make docs`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(outputs[path])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
