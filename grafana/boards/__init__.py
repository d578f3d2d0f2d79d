"""One module per dashboard, each a few short functions over ``grafana.panels``."""
