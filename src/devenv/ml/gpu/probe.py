"""Measure what the GPU (or, without one, the CPU) really delivers. Self-contained on purpose.

Runs anywhere as `python3 gpu_probe.py`: inside a service container (`devenv gpu-check` sends
it there and runs it with the container's Python), or on a bare GPU machine. Needs only the
standard library and torch, and prints exactly one JSON document on stdout.

Timings follow the usual rules for GPU benchmarks: warm-up iterations first, then several
repetitions between explicit synchronisations, reporting the best (least disturbed) run.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from typing import Any

GIB = 1 << 30


def _best_seconds(fn: Any, sync: Any, *, warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    sync()
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_tflops(torch: Any, device: str, dtype: Any, n: int, *, warmup: int, reps: int) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    seconds = _best_seconds(lambda: torch.matmul(a, b), sync, warmup=warmup, reps=reps)
    return 2 * n**3 / seconds / 1e12


def copy_gbps(torch: Any, src: Any, dst: Any, *, reps: int) -> float:
    nbytes = src.numel() * src.element_size()
    seconds = _best_seconds(
        lambda: dst.copy_(src, non_blocking=False), torch.cuda.synchronize, warmup=2, reps=reps
    )
    return float(nbytes / seconds / 1e9)


def cuda_section(torch: Any, size: int, reps: int) -> dict[str, Any]:
    props = torch.cuda.get_device_properties(0)
    out: dict[str, Any] = {
        "device_name": props.name,
        "device_count": torch.cuda.device_count(),
        "capability": f"{props.major}.{props.minor}",
        "memory_gib": round(props.total_memory / GIB, 1),
        "bf16_supported": bool(torch.cuda.is_bf16_supported()),
        "tf32_supported": props.major >= 8,
    }
    # A large allocation: a quarter of the card (at most 16 GiB) must really be usable.
    alloc = min(props.total_memory // 4, 16 * GIB)
    block = torch.empty(alloc, dtype=torch.uint8, device="cuda")
    block.fill_(1)
    torch.cuda.synchronize()
    out["large_allocation_gib"] = round(alloc / GIB, 1)
    del block

    torch.backends.cuda.matmul.allow_tf32 = False
    out["fp32_tflops"] = round(
        gemm_tflops(torch, "cuda", torch.float32, size, warmup=3, reps=reps), 1
    )
    if out["bf16_supported"]:
        out["bf16_tflops"] = round(
            gemm_tflops(torch, "cuda", torch.bfloat16, size, warmup=3, reps=reps), 1
        )

    n = GIB // 4  # 1 GiB of float32
    src = torch.empty(n, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    # A device-to-device copy reads and writes every byte: count both, as bandwidth tools do.
    out["d2d_gbps"] = round(2 * copy_gbps(torch, src, dst, reps=reps), 1)
    host = torch.empty(n, dtype=torch.float32, pin_memory=True)
    out["h2d_gbps"] = round(copy_gbps(torch, host, dst, reps=reps), 1)
    return out


def main() -> int:
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cuda_available": False,
    }
    try:
        import torch
    except ImportError:
        report["error"] = "torch is not installed in this Python"
        print(json.dumps(report))
        return 0
    report["torch"] = torch.__version__
    report["torch_cuda"] = torch.version.cuda
    try:
        available = bool(torch.cuda.is_available())
    except Exception as error:  # a broken driver raises here on some torch versions
        available, report["cuda_error"] = False, str(error)
    report["cuda_available"] = available
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 8192
    if available:
        try:
            report.update(cuda_section(torch, size, reps=5))
        except Exception as error:  # report what was measured, and why the rest was not
            report["cuda_error"] = f"{type(error).__name__}: {error}"
    else:
        report.setdefault(
            "reason",
            "torch is a CPU-only build"
            if torch.version.cuda is None
            else "CUDA build of torch, but no usable GPU (driver, runtime or NVML)",
        )
    # The CPU path is always measured: it is what a notebook falls back to.
    n = 2048
    report["cpu_threads"] = torch.get_num_threads()
    report["cpu_fp32_gflops"] = round(
        gemm_tflops(torch, "cpu", torch.float32, n, warmup=1, reps=3) * 1000, 1
    )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
