"""GPU inside the containers: the check (devenv gpu-check) and the probe script it runs."""
