"""Dashboards and alert rules for extend-exporter, as code.

`python -m grafana.generate` (`make dashboards`) writes every generated file: the Grafana dashboards,
the Grafana provisioning files (data source, dashboard provider, Grafana-managed alert rules), the
Prometheus rule file and docs/runbook.md. Both alert forms come from the one definition of each alert in
`grafana/rules/`, joined in `grafana/alerts.py`; `promql.py` holds what rules and panels share.
"""
