"""Grafana dashboards, provisioning and Prometheus rules for hazwatch; the dashboards are generated here."""
