"""Model-serving API for the models in the MLflow registry."""
