"""Benchmark suite of the exporter (``make bench``); not part of ``make test``. See bench/run.py."""
