"""devenv new and devenv update: the Copier template, its cache, and the update guard rails."""
