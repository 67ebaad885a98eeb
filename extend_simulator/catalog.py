"""Static catalog: processors (extractors, classifiers, splitters) and workflows, derived from the seed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .enums import FAMILIES
from .ids import derived_id

_NAMES: dict[str, tuple[str, ...]] = {
    "extract": (
        "Invoice Extractor",
        "Receipt Extractor",
        "Bank Statement Extractor",
        "W-2 Extractor",
        "Purchase Order Extractor",
        "Insurance Claim Extractor",
    ),
    "classify": (
        "Document Type Classifier",
        "Mail Room Classifier",
        "Claims Classifier",
        "Loan Document Classifier",
        "KYC Classifier",
        "Support Ticket Classifier",
    ),
    "split": (
        "Loan Packet Splitter",
        "Claims Bundle Splitter",
        "Mortgage Splitter",
        "Shipping Docs Splitter",
        "Medical Records Splitter",
        "Tax Packet Splitter",
    ),
    "workflow": (
        "Invoice Processing",
        "Claims Intake",
        "Loan Onboarding",
        "KYC Review",
        "Accounts Payable",
        "Freight Audit",
    ),
}
_PREFIX: dict[str, tuple[str, str]] = {
    "extract": ("ex_", "exv_"),
    "classify": ("cl_", "clv_"),
    "split": ("spl_", "splv_"),
    "workflow": ("workflow_", "workflow_version_"),
}
_SALT = {"extract": 0x1001, "classify": 0x1002, "split": 0x1003, "workflow": 0x1004}
DAY_MS = 86_400_000


@dataclass
class Processor:
    """An extractor, classifier, splitter or workflow (with its one published version)."""

    family: str
    index: int
    id: str
    name: str
    version_id: str
    version: str
    created_ms: int
    updated_ms: int
    # Pre-rendered JSON fragments (filled by views.py on first use).
    cache: dict[str, Any] = field(default_factory=dict)


def build_catalog(seed: int, per_family: int, workflows: int, epoch_ms: int) -> dict[str, list[Processor]]:
    out: dict[str, list[Processor]] = {f: [] for f in FAMILIES}
    for fam, names in _NAMES.items():
        count = workflows if fam == "workflow" else per_family
        count = max(1, min(count, len(names)))
        pid_prefix, ver_prefix = _PREFIX[fam]
        for i in range(count):
            created = epoch_ms - (400 - 37 * i) * DAY_MS
            out[fam].append(
                Processor(
                    family=fam,
                    index=i,
                    id=derived_id(pid_prefix, seed, i, _SALT[fam]),
                    name=names[i],
                    version_id=derived_id(ver_prefix, seed, i, _SALT[fam] + 0x10),
                    version=str(3 + i),
                    created_ms=created,
                    updated_ms=created + (20 + i) * DAY_MS,
                )
            )
    return out
