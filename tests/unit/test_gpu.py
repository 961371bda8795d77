"""GPU layers from recorded real outputs of nvidia-smi and docker info (fixtures/gpu/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devenv.docker import gpu

FIX = Path(__file__).parent / "fixtures" / "gpu"


def read(name: str) -> str:
    return (FIX / name).read_text()


def info(name: str) -> dict[str, object]:
    return json.loads(read(name))


def test_no_driver() -> None:
    layer = gpu.parse_host(None, None)
    assert not layer.ok and "nvidia-smi not found" in layer.detail and layer.fix


def test_driver_not_loaded() -> None:
    text = read("no-driver-comm.txt")
    layer = gpu.parse_host(text, text, returncode=9)
    assert not layer.ok and "cannot talk to the NVIDIA driver" in layer.detail


def test_nvml_unknown_error_after_daemon_reload() -> None:
    text = read("nvml-unknown.txt")
    layer = gpu.parse_host(text, text, returncode=255)
    assert not layer.ok and "Unknown Error" in layer.detail
    assert "daemon-reload" in (layer.fix or "")


def test_driver_library_mismatch() -> None:
    text = read("mismatch.txt")
    layer = gpu.parse_host(text, text, returncode=18)
    assert not layer.ok and "reboot" in (layer.fix or "")


def test_one_h100() -> None:
    layer = gpu.parse_host(read("h100-query.txt"), read("h100-header.txt"))
    assert layer.ok
    assert layer.data["driver"] == "550.54.15" and layer.data["cuda"] == "12.4"
    assert layer.data["gpus"][0]["capability"] == "9.0"


def test_two_gpus() -> None:
    layer = gpu.parse_host(read("two-gpus-query.txt"), read("two-gpus-header.txt"))
    assert layer.ok and len(layer.data["gpus"]) == 2 and layer.detail.startswith("2 GPU(s)")


def test_driver_too_old_for_cuda12() -> None:
    host = gpu.parse_host(read("old-driver-query.txt"), read("old-driver-header.txt"))
    assert host.ok
    compat = gpu.parse_compat(host, 12)
    assert not compat.ok and "470.182.03" in compat.detail and "525.60" in compat.detail
    assert gpu.parse_compat(host, 11).ok


def test_cuda13_needs_580() -> None:
    host = gpu.parse_host(read("h100-query.txt"), read("h100-header.txt"))
    assert gpu.parse_compat(host, 12).ok
    assert not gpu.parse_compat(host, 13).ok


@pytest.mark.parametrize(
    ("url", "major"),
    [
        ("https://download.pytorch.org/whl/cu130", 13),
        ("https://download.pytorch.org/whl/cu126", 12),
        ("https://download.pytorch.org/whl/cpu", 12),
        ("https://pypi.org/simple", 12),
        (None, 12),
    ],
)
def test_required_cuda_major(url: str | None, major: int) -> None:
    assert gpu.required_cuda_major(url) == major


def test_engine_runtime_missing() -> None:
    layer = gpu.parse_engine(info("docker-info-runc.json"), hook_installed=False)
    assert (
        not layer.ok
        and "no NVIDIA runtime" in layer.detail
        and "Container Toolkit" in (layer.fix or "")
    )


def test_engine_with_nvidia_runtime() -> None:
    assert gpu.parse_engine(info("docker-info-nvidia.json"), hook_installed=False).ok


def test_engine_cdi_only() -> None:
    layer = gpu.parse_engine(info("docker-info-cdi-only.json"), hook_installed=False)
    assert not layer.ok and "CDI" in layer.detail and "nvidia-ctk" in (layer.fix or "")
    assert gpu.parse_engine(info("docker-info-cdi-only.json"), hook_installed=True).ok


def test_compare_flags_low_figures() -> None:
    probe = {
        "device_name": "NVIDIA H100 80GB HBM3",
        "bf16_tflops": 790.0,
        "fp32_tflops": 20.0,
        "d2d_gbps": 2900.0,
    }
    rows = {r["metric"]: r for r in gpu.compare(probe)}
    assert not rows["bf16_tflops"]["low"] and rows["bf16_tflops"]["percent"] == 99
    assert rows["fp32_tflops"]["low"]
    assert "h2d_gbps" not in rows  # not measured, not compared
    assert gpu.compare({"device_name": "Unknown Card"}) == []


def test_probe_is_self_contained_and_prints_one_json_document(tmp_path: Path) -> None:
    """Run as a plain script by a Python with no torch: one JSON document, no traceback."""
    import subprocess
    import sys

    from devenv.ml.gpu import probe as gpu_probe

    script = tmp_path / "gpu_probe.py"
    script.write_text(Path(gpu_probe.__file__).read_text())
    # -I: isolated from this checkout and site-packages, as on a bare machine.
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(script)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0 and not result.stderr
    (line,) = result.stdout.strip().splitlines()
    report = json.loads(line)
    assert report["cuda_available"] is False and "torch" in report["error"]
