"""`devenv gpu-check`: the GPU layers on the host, then inside a running service container."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv.core import services
from devenv.core.errors import GpuUnavailableError, StackUnhealthyError
from devenv.core.result import report
from devenv.core.services import check_names
from devenv.docker import gpu
from devenv.docker.engine import Engine
from devenv.docker.gpu import Layer
from devenv.ml.gpu import probe as gpu_probe


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
        return report(
            self.layers,
            service=self.service,
            cuda_available=self.cuda_available,
            probe=self.probe,
            comparison=self.comparison,
        )


def container_layer(engine: Engine, service: str) -> Layer:
    result = engine.exec(service, ["nvidia-smi", "-L"])
    if not result.ok:
        detail = result.last_line("nvidia-smi failed")
        if "executable file not found" in detail or "no such file" in detail.lower():
            detail = "no GPU passed into the container (nvidia-smi is not there)"
        return Layer(
            "container",
            False,
            f"{service}: {detail}",
            "start the stack with the GPU overlay: devenv up --gpu nvidia",
        )
    gpus = [line for line in result.stdout.splitlines() if line.startswith("GPU ")]
    return Layer(
        "container",
        bool(gpus),
        f"{service}: " + ("; ".join(gpus) or "no GPU listed"),
        data={"gpus": gpus},
    )


def framework_layer(engine: Engine, service: str) -> tuple[Layer, dict[str, Any]]:
    """Run gpu_probe.py with the container's own Python and torch."""
    source = Path(gpu_probe.__file__).read_text(encoding="utf-8")
    result = engine.exec(
        service, ["python", "-c", source], waiting=f"the GPU probe in {service} (about a minute)"
    )
    try:
        if not result.ok:
            raise ValueError(result.last_line())
        probe: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        if not isinstance(probe, dict):
            raise ValueError(f"it printed {result.stdout.strip()[-80:]!r}, not its JSON report")
    except (ValueError, IndexError) as error:
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


def run(engine: Engine, service: str) -> GpuReport:
    check_names(services.from_config(engine.config), [service])
    running = engine.states().get(service)
    if running is None or not running.running:
        raise StackUnhealthyError(
            f"{service} is not running", hint=f"start it first: devenv up {service}"
        )
    layers = gpu.layers(engine.info.facts, engine.env.get("TORCH_INDEX_URL"))
    layers.append(container_layer(engine, service))
    framework, probe = framework_layer(engine, service)
    layers.append(framework)
    return GpuReport(service, layers, probe, gpu.compare(probe))


def missing_cuda(report: GpuReport) -> GpuUnavailableError | None:
    """`--require-gpu`: the error when CUDA is not usable in the service."""
    if report.cuda_available:
        return None
    failing = next((layer for layer in report.layers if not layer.ok), None)
    return GpuUnavailableError(
        f"CUDA is not usable in {report.service}: {failing.detail if failing else 'no GPU'}",
        hint=(failing.fix if failing and failing.fix else "see devenv gpu-check"),
    )
