"""What an operator sees of a running bot: ``/healthz`` and Prometheus ``/metrics``."""
