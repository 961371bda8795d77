"""Live per-service progress for `devenv up`, fed by compose's JSON events (COMPOSE_PROGRESS=json).

No parsing of human-oriented text: compose prints one JSON object per line, either a resource
event (`{"id": "Container proj-svc-1", "status": "Healthy"}`) or BuildKit build progress
(`{"vertexes": [{"name": "[svc 3/5] RUN ..."}]}`).
"""

from __future__ import annotations

import base64
import json
import re
from collections import deque
from dataclasses import dataclass, field

STEP = re.compile(r"^\[(?P<service>[\w.-]+)(?: [^\]]*)?\]\s*(?P<step>.*)$")
DONE = {"Healthy", "Running", "Started", "Exited"}


@dataclass
class Row:
    phase: str = "pending"
    detail: str = ""


@dataclass
class Progress:
    project: str
    services: list[str]
    rows: dict[str, Row] = field(default_factory=dict)
    raw: deque[str] = field(default_factory=lambda: deque(maxlen=30))
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # What the build steps printed (BuildKit sends it base64 in `logs`): pip's reason for a
    # failed install is here, not in compose's one-line error.
    build_log: deque[str] = field(default_factory=lambda: deque(maxlen=60))

    def __post_init__(self) -> None:
        for name in self.services:
            self.rows.setdefault(name, Row())

    def _service_of(self, resource: str) -> str | None:
        """'Container myproj-mlflow-1' -> 'mlflow' (None for networks and volumes)."""
        if not resource.startswith("Container "):
            return None
        name = resource[len("Container ") :]
        prefix = f"{self.project}-"
        if name.startswith(prefix):
            name = name[len(prefix) :]
        return re.sub(r"-\d+$", "", name)

    def feed(self, line: str) -> bool:
        """Take one output line; True when it changed what the table shows."""
        line = line.strip()
        if not line:
            return False
        try:
            event = json.loads(line)
        except ValueError:
            self.raw.append(line)
            return False
        if not isinstance(event, dict):
            return False
        if "status" in event and "id" in event:
            service = self._service_of(str(event["id"]))
            if service is None:
                return False
            row = self.rows.setdefault(service, Row())
            row.phase, row.detail = str(event["status"]), ""
            return True
        if event.get("error") is True:
            self.errors.append(str(event.get("message", "")).strip())
            return False
        if event.get("level") in ("warning", "error") and "msg" in event:
            message = str(event["msg"])
            if "buildx isn't installed" not in message:  # compose falls back on its own
                self.warnings.append(message)
            return False
        for entry in event.get("logs") or []:
            try:
                text = base64.b64decode(str(entry.get("data", ""))).decode("utf-8", "replace")
            except ValueError:
                continue
            self.build_log.extend(t for t in text.splitlines() if t.strip())
        changed = False
        for vertex in event.get("vertexes") or []:
            match = STEP.match(str(vertex.get("name", "")))
            if match and match["service"] in self.rows:
                row = self.rows[match["service"]]
                row.phase, row.detail = "Building", match["step"][:60]
                changed = True
        return changed
