"""JupyterLab server settings for the dev stack (the token comes from JUPYTER_TOKEN)."""

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - injected by Jupyter

c.ServerApp.ip = "0.0.0.0"  # inside the container; the host port binds to 127.0.0.1
c.ServerApp.port = 8888
c.ServerApp.open_browser = False
c.ServerApp.root_dir = "/home/app/work"
