"""Extend's webhooks as hints: a verified delivery makes the exporter sync that kind now (see listener.py)."""
