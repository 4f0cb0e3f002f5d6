"""The limit: ONNX Runtime called in-process, no network, no serialisation."""

from __future__ import annotations

import time

import onnxruntime as ort

from benchmarks.onnx_models import BenchModel
from benchmarks.stats import Row, quantiles_ms


def _session(model: BenchModel, device: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = ["CPUExecutionProvider"]
    if device == "gpu":
        providers.insert(0, "CUDAExecutionProvider")
    session = ort.InferenceSession(model.onnx_bytes, options, providers=providers)
    if device == "gpu" and session.get_providers()[0] != "CUDAExecutionProvider":
        raise RuntimeError(f"ONNX Runtime could not open {model.name} on CUDA: {session.get_providers()}")
    return session


def in_process_target(batch: int) -> str:
    """The name of the in-process reference row for batches of ``batch``."""
    return f"onnxruntime in-process (batch {batch})"


def measure_in_process(model: BenchModel, batch: int, seconds: float, device: str = "cpu") -> Row:
    """Run batches of `batch` back to back for about `seconds`; one request is one batch.

    On ``device="gpu"`` each run copies its host input to the GPU and its output back, as a
    service answering over the network must.
    """
    session = _session(model, device)
    feed = {model.input_name: model.sample(batch)}
    for _ in range(20):
        session.run(None, feed)
    latencies: list[float] = []
    started = time.perf_counter()
    while (now := time.perf_counter()) - started < seconds:
        session.run(None, feed)
        latencies.append(time.perf_counter() - now)
    elapsed = time.perf_counter() - started
    p50, p99 = quantiles_ms(latencies)
    return Row(
        model=model.name,
        target=in_process_target(batch),
        concurrency=1,
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=p50,
        p99_ms=p99,
        inferences_per_request=batch,
    )
