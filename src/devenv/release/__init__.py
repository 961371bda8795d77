"""Beyond the laptop: the canary, the image registry and Kubernetes."""
