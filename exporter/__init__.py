"""Prometheus exporter for Extend (extend.ai) document-processing runs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("extend-exporter")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"
