"""The running stack: start, status and probes, preflight, lifecycle, doctor, onboarding."""
