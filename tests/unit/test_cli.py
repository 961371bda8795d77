from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devenv import __version__
from tests.helpers import rendered_project, run_cli


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "--version")
    assert result.code == 0 and result.out.strip() == f"devenv {__version__}"


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "new", "--help")
    assert result.code == 0
    for word in ("--defaults", "--data", "KEY=VALUE", "Examples"):
        assert word in result.out


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "new", "--bogus")
    assert result.code == 2 and "Traceback" not in result.err and "--bogus" in result.err


def test_new_json_is_data_on_stdout(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    dest = tmp_path / "proj"
    result = run_cli(capsys, "new", str(dest), "--defaults", "--json", "-d", "object_store=rustfs")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["path"] == str(dest.resolve())
    assert data["answers"]["object_store"] == "rustfs"
    assert data["git"] is True and (dest / ".git").is_dir()
    secrets = [
        line.split("=", 1)[1]
        for line in (dest / ".env").read_text().splitlines()
        if line.startswith(("POSTGRES_PASSWORD=", "JUPYTER_TOKEN="))
    ]
    assert secrets and not any(s in result.out for s in secrets)


def test_new_refuses_a_non_empty_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    result = run_cli(capsys, "new", str(tmp_path), "--defaults")
    assert result.code == 2 and "not empty" in result.err
    assert (tmp_path / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_urls_outside_a_project(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = run_cli(capsys, "urls", cwd=tmp_path)
    assert result.code == 4 and "hint: " in result.err


def test_up_help_with_pinned_width() -> None:
    from typer.testing import CliRunner

    from devenv.cli import app

    result = CliRunner().invoke(app, ["up", "--help"], env={"COLUMNS": "100", "NO_COLOR": "1"})
    assert result.exit_code == 0
    for word in ("--build", "--no-build", "--timeout", "--gpu", "--json"):
        assert word in result.output


def make_project(tmp_path: Path) -> Path:
    (tmp_path / ".copier-answers.yml").write_text("project_name: x\n")
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    return tmp_path


def test_ctrl_c_during_up_exits_130(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devenv.stack import start as stack

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(stack, "up", interrupted)
    result = run_cli(capsys, "up", cwd=make_project(tmp_path))
    assert result.code == 130
    assert result.err.startswith("error: interrupted") and "Traceback" not in result.err


def test_bad_gpu_value(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = run_cli(capsys, "up", "--gpu", "maybe", cwd=make_project(tmp_path))
    assert result.code == 2 and "auto, nvidia or none" in result.err


def test_gpu_words_are_the_templates_and_old_ones_still_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devenv.stack import start as stack

    asked: list[str] = []

    def fake_up(project: object, names: list[str], *, gpu: str, **_: object) -> None:
        asked.append(gpu)
        raise KeyboardInterrupt  # stop right there: only the mode matters here

    monkeypatch.setattr(stack, "up", fake_up)
    for word, mode, note in (
        ("on", "nvidia", True),
        ("off", "none", True),
        ("none", "none", False),
    ):
        result = run_cli(capsys, "up", "--gpu", word, cwd=make_project(tmp_path))
        assert result.code == 130 and asked[-1] == mode
        assert (f"--gpu {word} is now --gpu {mode}" in result.err) is note


def test_reset_never_deletes_without_consent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devenv.stack import lifecycle as stack

    deleted: list[object] = []
    monkeypatch.setattr(
        stack, "reset_plan", lambda project, names: [stack.VolumePlan("p_pg", ("postgres",))]
    )
    monkeypatch.setattr(stack, "reset", lambda *a: deleted.append(a) or ["p_pg"])
    result = run_cli(capsys, "reset", cwd=make_project(tmp_path))  # stdin is not a terminal
    assert result.code == 2 and "--yes" in result.err and "p_pg" in result.err
    assert deleted == []
    assert run_cli(capsys, "reset", "--yes", cwd=tmp_path).code == 0
    assert len(deleted) == 1


def test_env_formats(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    project = rendered_project(tmp_path)
    env = project / ".env"
    env.write_text(env.read_text() + "MLFLOW_PORT=5050\nS3_SECRET_KEY=hush\n")
    result = run_cli(capsys, "env", "--format", "json", cwd=project)
    assert result.code == 0
    assert json.loads(result.out)["MLFLOW_TRACKING_URI"] == "http://localhost:5050"
    assert "hush" not in result.out and "--show-secrets" in result.err
    assert run_cli(capsys, "env", "--format", "yaml", cwd=project).code == 2


def test_onboard_stops_at_a_failing_doctor_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devenv.core.result import Result
    from devenv.scaffold import new as scaffold
    from devenv.stack import doctor

    created: list[object] = []
    monkeypatch.setattr(
        doctor,
        "run",
        lambda project, engine=None: [
            Result("docker engine", "fail", "the Docker engine is not answering", "start it")
        ],
    )
    monkeypatch.setattr(scaffold, "new_project", lambda *a, **k: created.append(a))
    result = run_cli(capsys, "onboard", str(tmp_path / "new"), cwd=tmp_path)
    assert result.code == 19
    assert "doctor" in result.err and "hint: start it" in result.err
    assert created == [] and not (tmp_path / "new").exists()


def test_open_prints_or_hands_the_url_to_the_browser(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    from devenv.core.envfile import read_env

    project = rendered_project(tmp_path)
    token = read_env(project / ".env")["JUPYTER_TOKEN"]
    printed = run_cli(capsys, "open", "jupyter", "--print", cwd=project)
    assert printed.code == 0, printed.err
    assert printed.out.strip().endswith(f"/lab?token={token}")
    console = run_cli(capsys, "open", "objectstore", "--console", "--print", cwd=project)
    assert console.code == 0 and console.out.strip().startswith("http://localhost:")
    none = run_cli(capsys, "open", "mlflow", "--console", cwd=project)
    assert none.code == 2 and "has no web console" in none.err and "objectstore" in none.err
    unknown = run_cli(capsys, "open", "mlfow", cwd=project)
    assert unknown.code == 12 and "hint: services:" in unknown.err
    # A real browser hand-off: BROWSER names the program, as on any desktop.
    seen = tmp_path / "browser-got"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {seen}\n')
    browser.chmod(0o755)
    done = subprocess.run(
        [sys.executable, "-c", "from devenv.cli import main; main()", "open", "mlflow"],
        cwd=project,
        env={**os.environ, "BROWSER": f"{browser} %s"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert seen.read_text().strip().startswith("http://localhost:")


def test_start_and_stop_are_up_and_down(capsys: pytest.CaptureFixture[str]) -> None:
    for alias, command in (("start", "up"), ("stop", "down")):
        alias_help = run_cli(capsys, alias, "--help").out
        command_help = run_cli(capsys, command, "--help").out
        options = lambda text: sorted(set(re.findall(r"--[a-z-]+", text)))  # noqa: E731
        assert options(alias_help) == options(command_help), alias
        assert f"Same as devenv {command}" in alias_help


def test_exec_outside_a_project_and_unknown_service(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run_cli(capsys, "exec", "mlflow", "true", cwd=tmp_path).code == 4
    project = make_project(tmp_path)
    unknown = run_cli(capsys, "exec", "mlfow", "ls", "-la", cwd=project)
    assert unknown.code == 12 and "unknown service 'mlfow'" in unknown.err


@pytest.mark.parametrize("width", [40, 200])
def test_urls_are_never_cut(tmp_path: Path, width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """However narrow the terminal, every URL is printed whole, on one logical line."""
    import io
    import subprocess

    import yaml
    from rich.console import Console

    from devenv.ui import console

    project = rendered_project(tmp_path)
    screen = io.StringIO()
    terminal = Console(file=screen, width=width, force_terminal=True, color_system=None)
    monkeypatch.setitem(console._consoles, "out", terminal)
    monkeypatch.chdir(project)
    from devenv.cli.inspect import urls

    urls(json_output=False)
    rendered = subprocess.run(
        ["docker", "compose", "config", "--format", "json"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    labels = [s.get("labels") or {} for s in yaml.safe_load(rendered)["services"].values()]
    wanted = [v for lab in labels for k, v in lab.items() if k in ("devenv.url", "devenv.console")]
    assert len(wanted) >= 5
    lines = screen.getvalue().splitlines()
    for url in wanted:
        assert any(line.endswith(url) for line in lines), (url, screen.getvalue())
    assert "…" not in screen.getvalue()


@pytest.mark.parametrize(
    ("args", "must_not_load"),
    [
        (["--version"], ("typer", "rich", "python_on_whales", "httpx", "yaml")),
        (["-V"], ("typer", "rich")),
        (["--help"], ("rich", "python_on_whales", "httpx", "yaml", "copier")),
        (["up", "--help"], ("rich", "python_on_whales", "httpx", "copier")),
    ],
)
def test_fast_paths_load_nothing_they_do_not_need(
    args: list[str], must_not_load: tuple[str, ...]
) -> None:
    """What keeps --version and --help quick (figures: make bench-cli): the modules they skip."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        f"sys.argv = ['devenv', *{args!r}]\n"
        "from devenv.launch import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', *sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split("LOADED", 1)[1].split())
    assert "devenv" in out.stdout
    assert not loaded & set(must_not_load), loaded & set(must_not_load)
