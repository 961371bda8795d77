"""`devenv gpu-check`: the GPU layers on the host, then inside a running service container."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv import gpu, gpu_probe, stack
from devenv.envfile import read_env
from devenv.errors import StackUnhealthyError
from devenv.gpu import Layer
from devenv.project import Project


@dataclass
class GpuReport:
    service: str
    layers: list[Layer]
    probe: dict[str, Any]
    comparison: list[dict[str, Any]]

    @property
    def cuda_available(self) -> bool:
        return bool(self.probe.get("cuda_available"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "cuda_available": self.cuda_available,
            "layers": [layer.as_dict() for layer in self.layers],
            "probe": self.probe,
            "comparison": self.comparison,
        }


def container_layer(project: Project, service: str) -> Layer:
    from python_on_whales.exceptions import DockerException

    try:
        out = str(project.docker().compose.execute(service, ["nvidia-smi", "-L"], tty=False))
    except DockerException as error:
        text = f"{error.stderr or ''}".strip().splitlines()
        detail = text[-1] if text else "nvidia-smi failed"
        if "executable file not found" in detail or "no such file" in detail.lower():
            detail = "no GPU passed into the container (nvidia-smi is not there)"
        return Layer(
            "container",
            False,
            f"{service}: {detail}",
            "start the stack with the GPU overlay: devenv up --gpu nvidia",
        )
    gpus = [line for line in out.splitlines() if line.startswith("GPU ")]
    return Layer(
        "container",
        bool(gpus),
        f"{service}: " + ("; ".join(gpus) or "no GPU listed"),
        data={"gpus": gpus},
    )


def framework_layer(project: Project, service: str) -> tuple[Layer, dict[str, Any]]:
    """Run gpu_probe.py with the container's own Python and torch."""
    from python_on_whales.exceptions import DockerException

    source = Path(gpu_probe.__file__).read_text(encoding="utf-8")
    try:
        out = str(project.docker().compose.execute(service, ["python", "-c", source], tty=False))
        probe: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    except (DockerException, ValueError, IndexError) as error:
        return Layer("framework", False, f"the probe did not run in {service}: {error}"), {}
    if probe.get("cuda_available"):
        detail = (
            f"torch {probe.get('torch')} (CUDA {probe.get('torch_cuda')}) on "
            f"{probe.get('device_name')}: bf16 {probe.get('bf16_tflops', '-')} TFLOP/s, "
            f"fp32 {probe.get('fp32_tflops')} TFLOP/s"
        )
        return Layer("framework", True, detail, data=probe), probe
    reason = probe.get("cuda_error") or probe.get("reason") or probe.get("error") or "no GPU"
    detail = (
        f"no GPU: {reason}; torch {probe.get('torch', '?')} on CPU: "
        f"{probe.get('cpu_fp32_gflops', '?')} GFLOP/s fp32"
    )
    return Layer("framework", False, detail, data=probe), probe


def run(project: Project, service: str) -> GpuReport:
    running = stack.containers(project).get(service)
    if running is None or running.state != "running":
        raise StackUnhealthyError(
            f"{service} is not running", hint=f"start it first: devenv up {service}"
        )
    with stack.engine_errors():
        info = project.docker().system.info()
    engine = gpu.engine_facts(info)
    torch_index = read_env(project.root / ".env").get("TORCH_INDEX_URL")
    layers = gpu.layers(engine, torch_index)
    layers.append(container_layer(project, service))
    framework, probe = framework_layer(project, service)
    layers.append(framework)
    return GpuReport(service, layers, probe, gpu.compare(probe))
