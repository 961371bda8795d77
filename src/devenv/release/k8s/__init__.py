"""Kubernetes: render and validate the overlays offline, apply them to a local cluster."""
