"""The champion/challenger canary: its spec, the Envoy gateway and the flow of devenv canary."""
