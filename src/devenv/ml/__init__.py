"""The ML on the stack: the MLflow client, the smoke test (the golden path) and the GPU checks."""
