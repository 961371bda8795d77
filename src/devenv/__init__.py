"""ml-devenv: a local ML development environment on Docker Compose, in minutes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ml-devenv")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
