"""Dashboards and alert rules for extend-exporter, as code.

`python -m grafana.generate` (`make dashboards`) writes every generated file: the Grafana dashboards,
the Grafana provisioning files (data source, dashboard provider, Grafana-managed alert rules) and the
Prometheus rule file. Both alert forms come from the one definition in `grafana/alerts.py`.
"""
