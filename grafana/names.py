"""UIDs and titles that tie the generated files together (alert rules link to dashboard panels by them)."""

from __future__ import annotations

#: UID of the Prometheus data source that `grafana/provisioning/datasources` creates; the Grafana alert
#: rules query it (a provisioned rule cannot use a dashboard variable).
DATASOURCE_UID = "extend-prometheus"
#: Grafana folder of the dashboards and the Grafana-managed rules.
GRAFANA_FOLDER = "Extend"
#: The one rule group, in the Prometheus rule file and among the Grafana-managed rules.
GROUP_NAME = "extend-exporter"

RUNS_DASHBOARD_UID = "extend-runs-overview"
HEALTH_DASHBOARD_UID = "extend-exporter-health"
#: A panel title that both an alert's description and the runs overview name.
FAILURE_REASONS_PANEL = "Failed runs per minute by failure reason"
BATCH_PROGRESS_PANEL = "Batch progress"
