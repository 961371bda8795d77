"""GPU readiness in layers: host driver -> Docker engine -> driver/CUDA compatibility.

"Detected" is not "working": each layer says ok or not, why, and how to fix it. `devenv up
--gpu auto` adds the GPU overlay only when every layer is ok; `devenv gpu-check` then goes on
inside the containers (`nvidia-smi -L`, then gpu_probe.py with the container's torch).

Parsing is separate from running commands, so tests feed recorded real outputs.
"""

from __future__ import annotations

import re
from typing import Any

from devenv.core import proc
from devenv.core.errors import DevenvError
from devenv.core.result import Result

# Minimum driver for each CUDA major the images' torch wheels are built for (NVIDIA's CUDA
# toolkit release notes, "minimum required driver version" for Linux).
MIN_DRIVER = {11: (450, 80), 12: (525, 60), 13: (580, 65)}
TOOLKIT_DOCS = "https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/"

# Measured figures (not datasheet peaks) for cards we know; flags go up below 70 % of these.
REFERENCE: dict[str, dict[str, float]] = {
    "H200": {"bf16_tflops": 800, "fp32_tflops": 50, "d2d_gbps": 3800, "h2d_gbps": 50},
    "H100": {"bf16_tflops": 800, "fp32_tflops": 50, "d2d_gbps": 3000, "h2d_gbps": 50},
    "A100": {"bf16_tflops": 270, "fp32_tflops": 19, "d2d_gbps": 1500, "h2d_gbps": 24},
    "L40S": {"bf16_tflops": 300, "fp32_tflops": 80, "d2d_gbps": 800, "h2d_gbps": 24},
    "RTX 4090": {"bf16_tflops": 160, "fp32_tflops": 80, "d2d_gbps": 900, "h2d_gbps": 24},
    "A10G": {"bf16_tflops": 60, "fp32_tflops": 30, "d2d_gbps": 550, "h2d_gbps": 12},
}
THRESHOLD = 0.7


class Layer(Result):
    """A GPU layer as the one result type: ok, or warn. A missing GPU is a caveat, not a
    failure: the CPU path still works."""

    def __init__(
        self,
        name: str,
        ok: bool,
        detail: str,
        fix: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name, "ok" if ok else "warn", detail, fix, data or {})


# ---------------------------------------------------------------- host


def parse_host(query: str | None, header: str | None, *, returncode: int = 0) -> Layer:
    """From `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` and plain `nvidia-smi`.

    `query` None means nvidia-smi is not installed.
    """
    if query is None:
        return Layer(
            "host",
            False,
            "no NVIDIA driver on this host (nvidia-smi not found)",
            "install the NVIDIA driver, or run on CPU (--gpu none)",
        )
    text = f"{query}\n{header or ''}"
    if "Failed to initialize NVML: Unknown Error" in text:
        return Layer(
            "host",
            False,
            'NVML cannot be initialised ("Unknown Error")',
            "this often follows a systemd daemon-reload: restart Docker (or reboot); "
            "for good, set the cgroup driver to cgroupfs for NVIDIA containers",
        )
    if "Driver/library version mismatch" in text:
        return Layer(
            "host",
            False,
            "the NVIDIA kernel module and library versions differ",
            "a driver update is half applied: reboot the machine",
        )
    if "couldn't communicate with the NVIDIA driver" in text or returncode != 0:
        return Layer(
            "host",
            False,
            "nvidia-smi cannot talk to the NVIDIA driver",
            "load the driver (reboot after installing it) and check nvidia-smi",
        )
    gpus: list[dict[str, Any]] = []
    for line in query.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 4 and parts[0].isdigit():
            gpus.append(
                {
                    "index": int(parts[0]),
                    "name": parts[1],
                    "driver": parts[2],
                    "memory_mib": int(float(parts[3]))
                    if parts[3].replace(".", "").isdigit()
                    else None,
                    "capability": parts[4] if len(parts) > 4 else None,
                }
            )
    if not gpus:
        return Layer("host", False, "nvidia-smi lists no GPU", "check nvidia-smi -L")
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", header or "")
    data = {"gpus": gpus, "driver": gpus[0]["driver"], "cuda": cuda[1] if cuda else None}
    names = ", ".join(sorted({str(g["name"]) for g in gpus}))
    return Layer(
        "host",
        True,
        f"{len(gpus)} GPU(s): {names}; driver {data['driver']}, CUDA {data['cuda'] or '?'}",
        data=data,
    )


def host_layer() -> Layer:
    if not proc.which("nvidia-smi"):
        return parse_host(None, None)
    try:
        query = proc.run(
            [
                "nvidia-smi",
                "--query-gpu=index,name,driver_version,memory.total,compute_cap",
                "--format=csv,noheader,nounits",
            ],
            timeout=30,
        )
        header = proc.run(["nvidia-smi"], timeout=30)
    except DevenvError as error:  # a hung driver: nvidia-smi never returns
        return Layer("host", False, error.message, "check nvidia-smi; reboot if it hangs")
    return parse_host(
        query.stdout + query.stderr, header.stdout + header.stderr, returncode=query.code
    )


# ---------------------------------------------------------------- engine


def parse_engine(info: dict[str, Any], *, hook_installed: bool) -> Layer:
    """From `docker info --format '{{json .}}'` (Runtimes, CDISpecDirs)."""
    runtimes = sorted((info.get("Runtimes") or {}).keys())
    cdi_dirs = info.get("CDISpecDirs") or []
    data = {"runtimes": runtimes, "cdi_spec_dirs": cdi_dirs, "hook": hook_installed}
    if "nvidia" in runtimes:
        return Layer("engine", True, "the NVIDIA runtime is registered with Docker", data=data)
    if hook_installed:
        return Layer("engine", True, "the NVIDIA Container Toolkit hook is installed", data=data)
    if cdi_dirs:
        return Layer(
            "engine",
            False,
            "CDI is enabled but the NVIDIA Container Toolkit is not registered with Docker",
            "the GPU overlay uses the nvidia device driver: run `sudo nvidia-ctk runtime "
            "configure --runtime=docker` and restart Docker",
            data=data,
        )
    return Layer(
        "engine",
        False,
        "the Docker engine has no NVIDIA runtime",
        f"install the NVIDIA Container Toolkit ({TOOLKIT_DOCS}), then restart Docker",
        data=data,
    )


# ---------------------------------------------------------------- compatibility


def _version(text: str | None) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text or ""))


def required_cuda_major(torch_index_url: str | None) -> int:
    """CUDA major of the torch wheels the Jupyter image installs (cuXYZ index URLs)."""
    match = re.search(r"/cu(\d\d)\d\b", torch_index_url or "")
    return int(match[1]) if match else 12  # PyPI's default Linux wheels: CUDA 12


def parse_compat(host: Layer, cuda_major: int) -> Layer:
    if not host.ok:
        return Layer("compatibility", False, "skipped: no working driver", host.fix)
    driver = _version(host.data.get("driver"))
    need = MIN_DRIVER.get(cuda_major, MIN_DRIVER[13])
    data = {
        "driver": host.data.get("driver"),
        "cuda_major_needed": cuda_major,
        "min_driver": ".".join(map(str, need)),
    }
    if driver[:2] < need:
        return Layer(
            "compatibility",
            False,
            f"driver {host.data.get('driver')} is too old for CUDA {cuda_major} "
            f"(needs {data['min_driver']} or newer)",
            "update the NVIDIA driver, or use a torch build for an older CUDA (TORCH_INDEX_URL)",
            data=data,
        )
    return Layer(
        "compatibility",
        True,
        f"driver {host.data.get('driver')} runs CUDA {cuda_major} images",
        data=data,
    )


def problems(checked: list[Layer]) -> list[Layer]:
    """The failing layers worth reporting (a layer skipped because of another is not one)."""
    return [layer for layer in checked if not layer.ok and not layer.detail.startswith("skipped")]


def layers(info: dict[str, Any], torch_index_url: str | None) -> list[Layer]:
    hook = bool(proc.which("nvidia-container-runtime-hook"))
    host = host_layer()
    return [
        host,
        parse_engine(info, hook_installed=hook),
        parse_compat(host, required_cuda_major(torch_index_url)),
    ]


# ---------------------------------------------------------------- measured vs reference


def reference_for(device_name: str) -> tuple[str, dict[str, float]] | None:
    for key, figures in REFERENCE.items():
        if key.lower() in device_name.lower():
            return key, figures
    return None


def compare(probe: dict[str, Any]) -> list[dict[str, Any]]:
    """Measured figures against the reference card; `low` below 70 %."""
    found = reference_for(str(probe.get("device_name", "")))
    if not found:
        return []
    card, figures = found
    rows = []
    for metric, expected in figures.items():
        if isinstance(probe.get(metric), (int, float)):
            ratio = probe[metric] / expected
            rows.append(
                {
                    "metric": metric,
                    "measured": probe[metric],
                    "reference": expected,
                    "card": card,
                    "percent": round(100 * ratio),
                    "low": ratio < THRESHOLD,
                }
            )
    return rows
