"""Clients of the stack's own APIs over the HTTP door: MLflow's REST API, the canary gateway's
Envoy admin API, and the Distribution API of image registries."""
