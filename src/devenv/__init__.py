"""ml-devenv: a local ML development environment on Docker Compose, in minutes."""

# The one place the version lives: pyproject.toml reads it (hatch), releases tag it (vX.Y.Z),
# and `devenv --version` prints it without the cost of importlib.metadata at start-up.
__version__ = "0.2.0"
