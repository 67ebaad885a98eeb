"""Console-script entry: `healthcheck` answers without importing the exporter's dependencies."""

from __future__ import annotations

import sys


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["healthcheck"]:
        from .web.healthcheck import main as healthcheck

        return healthcheck(args[1:])
    from .cli import main as cli_main

    return cli_main(args)
