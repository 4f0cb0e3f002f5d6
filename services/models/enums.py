"""Enumerations of the model management service.

Member names are the protobuf value names without their prefix
(``ModelTask.CLASSIFICATION`` is ``MODEL_TASK_CLASSIFICATION``); the servicer
converts between the two by name, and the store keeps the names as text.
"""

from __future__ import annotations

import enum


class ModelTask(enum.Enum):
    """What a model is for (``aiplat.models.v1.ModelTask``)."""

    UNSPECIFIED = "UNSPECIFIED"
    CLASSIFICATION = "CLASSIFICATION"
    REGRESSION = "REGRESSION"
    ANOMALY_DETECTION = "ANOMALY_DETECTION"
    IMAGE = "IMAGE"
    TEXT = "TEXT"
    EMBEDDING = "EMBEDDING"
    OTHER = "OTHER"


class ArtifactFormat(enum.Enum):
    """Serialisation of a version's artifact (``ArtifactFormat``)."""

    UNSPECIFIED = "UNSPECIFIED"
    ONNX = "ONNX"


class VersionState(enum.Enum):
    """Lifecycle of a model version (``ModelVersionState``)."""

    UNSPECIFIED = "UNSPECIFIED"
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"
    ARCHIVED = "ARCHIVED"


class TensorType(enum.Enum):
    """Element type of a tensor, as the Open Inference Protocol spells it (``TensorDataType``)."""

    UNSPECIFIED = "UNSPECIFIED"
    BOOL = "BOOL"
    UINT8 = "UINT8"
    UINT16 = "UINT16"
    UINT32 = "UINT32"
    UINT64 = "UINT64"
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    FP16 = "FP16"
    FP32 = "FP32"
    FP64 = "FP64"
    BYTES = "BYTES"
    BF16 = "BF16"


class ExecutionDevice(enum.Enum):
    """Where a deployment's versions run (``ExecutionDevice``)."""

    UNSPECIFIED = "UNSPECIFIED"
    CPU = "CPU"
    GPU = "GPU"


class DeploymentState(enum.Enum):
    """Overall state of a deployment, computed from reported status (``DeploymentState``)."""

    UNSPECIFIED = "UNSPECIFIED"
    PENDING = "PENDING"
    READY = "READY"
    DEGRADED = "DEGRADED"
    FAILED = "FAILED"
    DELETING = "DELETING"


class PixelLayout(enum.Enum):
    """Tensor layout of image-like inputs (``PixelLayout``)."""

    UNSPECIFIED = "UNSPECIFIED"
    HWC = "HWC"
    CHW = "CHW"


class ResizeInterpolation(enum.Enum):
    """Interpolation used when resizing (``ResizeInterpolation``)."""

    UNSPECIFIED = "UNSPECIFIED"
    NEAREST = "NEAREST"
    BILINEAR = "BILINEAR"


class AuditAction(enum.Enum):
    """Kind of change recorded in the audit log (``AuditAction``)."""

    UNSPECIFIED = "UNSPECIFIED"
    ALIAS_SET = "ALIAS_SET"
    ALIAS_DELETED = "ALIAS_DELETED"
    DEPLOYMENT_CREATED = "DEPLOYMENT_CREATED"
    TRAFFIC_CHANGED = "TRAFFIC_CHANGED"
    ROLLED_BACK = "ROLLED_BACK"
    DEPLOYMENT_DELETED = "DEPLOYMENT_DELETED"


class WatchEventType(enum.Enum):
    """Kind of message on the deployment watch stream (``WatchEventType``)."""

    UNSPECIFIED = "UNSPECIFIED"
    EXISTING = "EXISTING"
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    SYNCED = "SYNCED"
