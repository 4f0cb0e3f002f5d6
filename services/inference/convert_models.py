"""Loaded versions to the protocol's model messages: metadata, configuration, statistics, index.

The configuration follows Triton's ``ModelConfig`` conventions, so its tools
read it as they read Triton's own: with ``max_batch_size`` > 0 the batch
dimension is implied and left out of ``dims``; types are ``TYPE_*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from inference import grpc_service_pb2 as pb
from inference import model_config_pb2 as mc
from services.inference.controller import IndexEntry
from services.inference.preprocessing import Layout
from services.inference.signature import TensorSpec
from services.inference.stats import Duration, VersionStats
from services.inference.version import LoadedVersion

__all__ = ["PLATFORM", "model_config", "model_metadata", "model_statistics", "repository_index"]

PLATFORM = "onnxruntime_onnx"
"""Triton's platform name for ONNX models run by ONNX Runtime."""

_TensorMetadata = pb.ModelMetadataResponse.TensorMetadata
_UINT64_MAX = 2**64 - 1

_FORMATS = {Layout.HWC: mc.ModelInput.FORMAT_NHWC, Layout.CHW: mc.ModelInput.FORMAT_NCHW}


def _metadata(spec: TensorSpec) -> _TensorMetadata:
    return _TensorMetadata(name=spec.name, datatype=spec.datatype, shape=spec.shape)


def model_metadata(
    name: str, versions: Sequence[LoadedVersion], shown: LoadedVersion
) -> pb.ModelMetadataResponse:
    """``name``'s metadata: every routable version, and the tensors clients send to ``shown``."""
    signature = shown.request_signature
    return pb.ModelMetadataResponse(
        name=name,
        versions=[version.version for version in versions],
        platform=PLATFORM,
        inputs=[_metadata(spec) for spec in signature.inputs],
        outputs=[_metadata(spec) for spec in signature.outputs],
    )


def _data_type(datatype: str) -> str:
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"


def model_config(version: LoadedVersion) -> mc.ModelConfig:
    """The Triton-style configuration of one loaded version."""
    config = version.config
    signature = version.request_signature
    batched = signature.batched
    skip = 1 if batched else 0
    formats = {p.input: _FORMATS[p.source_layout] for p in config.preprocessing}
    batching = config.batching
    result = mc.ModelConfig(
        name=config.model,
        platform=PLATFORM,
        backend="onnxruntime",
        max_batch_size=batching.max_batch_size if batched else 0,
        input=[
            mc.ModelInput(
                name=spec.name,
                data_type=_data_type(spec.datatype),
                format=formats.get(spec.name, mc.ModelInput.FORMAT_NONE),
                dims=spec.shape[skip:],
            )
            for spec in signature.inputs
        ],
        output=[
            mc.ModelOutput(name=spec.name, data_type=_data_type(spec.datatype), dims=spec.shape[skip:])
            for spec in signature.outputs
        ],
        instance_group=[_instance_group(version)],
    )
    if config.version.isdigit():
        result.version_policy.specific.versions.append(int(config.version))
    if batched and batching.max_batch_size > 1:
        result.dynamic_batching.preferred_batch_size.extend(batching.preferred_batch_sizes)
        result.dynamic_batching.max_queue_delay_microseconds = batching.max_queue_delay_us
        result.dynamic_batching.default_queue_policy.max_queue_size = batching.max_queue_size
    return result


def _instance_group(version: LoadedVersion) -> mc.ModelInstanceGroup:
    device = version.device
    group = mc.ModelInstanceGroup(
        name=f"{version.model}_{version.version}",
        count=version.instances,
        kind=mc.ModelInstanceGroup.KIND_GPU if device.startswith("cuda") else mc.ModelInstanceGroup.KIND_CPU,
    )
    if device.startswith("cuda:"):
        group.gpus.append(int(device.partition(":")[2]))
    return group


def _duration(duration: Duration) -> pb.StatisticDuration:
    return pb.StatisticDuration(count=duration.count, ns=duration.ns)


def model_statistics(model: str, version: str, stats: VersionStats) -> pb.ModelStatistics:
    """One version's statistics as Triton reports them: counts and cumulative nanoseconds."""
    inference = stats.inference
    return pb.ModelStatistics(
        name=model,
        version=version,
        last_inference=stats.last_inference_ms,
        inference_count=min(stats.inference_count, _UINT64_MAX),
        execution_count=stats.execution_count,
        inference_stats=pb.InferStatistics(
            success=_duration(inference.success),
            fail=_duration(inference.fail),
            queue=_duration(inference.queue),
            compute_input=_duration(inference.compute_input),
            compute_infer=_duration(inference.compute_infer),
            compute_output=_duration(inference.compute_output),
        ),
        batch_stats=[
            pb.InferBatchStatistics(
                batch_size=batch.batch_size,
                compute_input=_duration(batch.compute_input),
                compute_infer=_duration(batch.compute_infer),
                compute_output=_duration(batch.compute_output),
            )
            for batch in sorted(stats.batches.values(), key=lambda b: b.batch_size)
        ],
    )


def repository_index(entries: Iterable[IndexEntry]) -> pb.RepositoryIndexResponse:
    return pb.RepositoryIndexResponse(
        models=[
            pb.RepositoryIndexResponse.ModelIndex(
                name=entry.name, version=entry.version, state=entry.state, reason=entry.reason
            )
            for entry in entries
        ]
    )
