"""One vocabulary on every screen: ok, warn, FAIL and - (skipped)."""

from __future__ import annotations

import io

from rich.console import Console

from devenv.core.result import Result
from devenv.ui import tables


def shown(renderable: object, width: int = 120) -> str:
    screen = io.StringIO()
    Console(file=screen, width=width, color_system=None, soft_wrap=True).print(renderable)
    return screen.getvalue()


def test_doctor_marks_and_fixes() -> None:
    text = shown(
        tables.results(
            [
                Result("disk", "ok", "60 GB free", "never shown for ok"),
                Result("memory", "warn", "4 GB", "give Docker 8 GB"),
                Result("engine", "fail", "not answering [start it]", "start Docker"),
            ]
        )
    )
    lines = text.splitlines()
    assert lines[1].split()[:2] == ["ok", "disk"] and "never shown" not in text
    assert lines[2].split()[:2] == ["warn", "memory"] and "fix: give Docker 8 GB" in text
    assert "FAIL" in text and "not answering [start it]" in text, "details are not markup"


def test_phases_use_the_same_words() -> None:
    lines = [
        shown(tables.line(Result("up", "ok", "up in 30s", seconds=30.0))),
        shown(tables.line(Result("smoke", "skip", "served", seconds=0.0))),
        shown(tables.line(Result("doctor", "fail", "x", seconds=0.1))),
    ]
    assert [line.split()[0] for line in lines] == ["ok", "-", "FAIL"]
    assert len({line.index(line.split()[1]) for line in lines}) == 1, "names line up"


def test_every_result_kind_shares_one_table() -> None:
    """A GPU layer and a smoke step are results too: same marks, same columns."""
    from devenv.docker.gpu import Layer
    from devenv.ml.smoke import step

    text = shown(
        tables.results(
            [Layer("host", False, "no driver", "install it"), step("train", None, "skipped", 0.0)]
        )
    )
    marked = [line.split()[:2] for line in text.splitlines()[1:] if "fix:" not in line]
    assert marked == [["warn", "host"], ["-", "train"]] and "fix: install it" in text


def test_a_narrow_terminal_still_shows_every_detail_and_fix() -> None:
    """At COLUMNS=20 the table had no room for its detail column: doctor showed names alone."""
    items = [
        Result("docker engine", "warn", "Docker Engine 20.10: older than 25", "upgrade to 28"),
        Result("disk", "ok", "60 GB free at /var/lib/docker"),
    ]
    text = shown(tables.results(items), width=20)
    words = " ".join(text.split())
    for expected in ("warn docker engine", "older than 25", "fix: upgrade to 28", "60 GB free"):
        assert expected in words, text
    assert max(len(line) for line in text.splitlines()) <= 20
