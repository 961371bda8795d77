"""One vocabulary on every screen: ok, warn, FAIL and - (skipped)."""

from __future__ import annotations

import io

from rich.console import Console

from devenv import render
from devenv.doctor import Check
from devenv.onboard import Phase


def shown(renderable: object) -> str:
    screen = io.StringIO()
    Console(file=screen, width=120, color_system=None).print(renderable)
    return screen.getvalue()


def test_doctor_marks_and_fixes() -> None:
    text = shown(
        render.doctor(
            [
                Check("disk", "ok", "60 GB free", "never shown for ok"),
                Check("memory", "warn", "4 GB", "give Docker 8 GB"),
                Check("engine", "fail", "not answering [start it]", "start Docker"),
            ]
        )
    )
    lines = text.splitlines()
    assert lines[1].split()[:2] == ["ok", "disk"] and "never shown" not in text
    assert lines[2].split()[:2] == ["warn", "memory"] and "fix: give Docker 8 GB" in text
    assert "FAIL" in text and "not answering [start it]" in text, "details are not markup"


def test_phases_use_the_same_words() -> None:
    lines = [
        shown(render.phase(Phase("up", "done", "up in 30s", 30.0))),
        shown(render.phase(Phase("smoke", "skipped", "served", 0.0))),
        shown(render.phase(Phase("doctor", "failed", "x", 0.1))),
    ]
    assert [line.split()[0] for line in lines] == ["ok", "-", "FAIL"]
    assert len({line.index(line.split()[1]) for line in lines}) == 1, "names line up"
