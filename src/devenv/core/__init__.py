"""The bottom layer: errors, results, the project and its .env, the services compose declares,
and the two doors to the outside (external programs, HTTP). Imports nothing else of devenv."""
