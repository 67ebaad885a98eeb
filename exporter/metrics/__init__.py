"""Metric families: the registry, label rules, the run-series collector and the exporter's own telemetry."""
