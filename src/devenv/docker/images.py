"""The image half of the one door to Docker: builds, local images by tag, pulls, pushes, facts.
A mixin of `Engine` (devenv.docker.engine), which brings `_call` and the error mapping."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devenv.docker.records import ImageFacts


@contextmanager
def json_progress() -> Iterator[None]:
    """compose prints its progress as JSON lines (COMPOSE_PROGRESS=json) for the block."""
    old = os.environ.get("COMPOSE_PROGRESS")
    os.environ["COMPOSE_PROGRESS"] = "json"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COMPOSE_PROGRESS", None)
        else:
            os.environ["COMPOSE_PROGRESS"] = old


Client = Any  # python-on-whales' DockerClient: only devenv.docker.engine imports it


class Images:
    def _call(
        self, action: Callable[[Client], Any], *, gpu: bool = False, extra: Sequence[Path] = ()
    ) -> Any:
        raise NotImplementedError  # Engine's

    def _inspect(self, d: Client, reference: str) -> Any:
        raise NotImplementedError  # Engine's: the image, or None when there is none

    def image_ids(self, tags: Sequence[str]) -> dict[str, str]:
        """Tag -> the image ID it names now (tags that name no image are left out)."""

        def inspect(d: Client) -> dict[str, str]:
            found = {}
            for tag in tags:
                if (image := self._inspect(d, tag)) is not None:
                    found[tag] = str(image.id)
            return found

        ids: dict[str, str] = self._call(inspect)
        return ids

    def image_exists(self, tag: str) -> bool:
        return bool(self._call(lambda d: d.image.exists(tag)))

    def image_tag(self, source: str, target: str) -> None:
        self._call(lambda d: d.image.tag(source, target))

    def image_push(self, tag: str) -> None:
        self._call(lambda d: d.image.push(tag, quiet=True))

    def image_pull(self, reference: str) -> str:
        """Pull by tag or digest; the local image's id."""
        return str(self._call(lambda d: d.image.pull(reference, quiet=True)).id)

    def image_facts(self, reference: str) -> ImageFacts | None:
        """What a local image is: id, architecture, size, registry digests (None: no such)."""

        def inspect(d: Client) -> ImageFacts | None:
            image = self._inspect(d, reference)
            if image is None:
                return None
            return ImageFacts(
                str(image.id),
                str(image.architecture or ""),
                int(image.size or 0),
                tuple(image.repo_digests or ()),
            )

        facts: ImageFacts | None = self._call(inspect)
        return facts

    def image_remove(self, reference: str) -> None:
        self._call(lambda d: d.image.remove(reference, prune=False))

    def repo_digests(self, reference: str) -> list[str]:
        """`repository@sha256:…` for each registry this image was pushed to or pulled from."""
        return list(self._call(lambda d: d.image.inspect(reference)).repo_digests or [])

    def build(
        self,
        names: Sequence[str],
        *,
        gpu: bool,
        args: dict[str, str],
        on_line: Callable[[str], None],
        overlay: Path | None = None,
    ) -> None:
        """`compose build` of these services, its JSON progress lines handed to `on_line`;
        `overlay`: one more compose file for this build only (cache sources)."""

        def build(d: Client) -> None:
            with json_progress():
                stream = d.compose.build(list(names), build_args=args, stream_logs=True)
                for _source, line in stream or []:
                    on_line(line.decode(errors="replace"))

        self._call(build, gpu=gpu, extra=[overlay] if overlay else [])
