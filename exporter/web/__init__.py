"""The exporter's HTTP server (/metrics, health) and the container health check client."""
