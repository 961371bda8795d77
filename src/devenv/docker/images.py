"""The image half of the one door to Docker: local images by tag, pulls, pushes, facts.
A mixin of `Engine` (devenv.docker.engine), which brings `_call` and the error mapping."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from devenv.docker.records import ImageFacts

Client = Any  # python-on-whales' Client: only devenv.docker.engine imports it


class Images:
    def _call(self, action: Callable[[Client], Any], *, gpu: bool = False) -> Any:
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
