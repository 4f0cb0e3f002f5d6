import datetime

from aiplat.models.v1 import model_pb2 as _model_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExecutionDevice(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXECUTION_DEVICE_UNSPECIFIED: _ClassVar[ExecutionDevice]
    EXECUTION_DEVICE_CPU: _ClassVar[ExecutionDevice]
    EXECUTION_DEVICE_GPU: _ClassVar[ExecutionDevice]

class DeploymentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPLOYMENT_STATE_UNSPECIFIED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_PENDING: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_READY: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_DEGRADED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_FAILED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_DELETING: _ClassVar[DeploymentState]

class PixelLayout(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PIXEL_LAYOUT_UNSPECIFIED: _ClassVar[PixelLayout]
    PIXEL_LAYOUT_HWC: _ClassVar[PixelLayout]
    PIXEL_LAYOUT_CHW: _ClassVar[PixelLayout]

class ResizeInterpolation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESIZE_INTERPOLATION_UNSPECIFIED: _ClassVar[ResizeInterpolation]
    RESIZE_INTERPOLATION_NEAREST: _ClassVar[ResizeInterpolation]
    RESIZE_INTERPOLATION_BILINEAR: _ClassVar[ResizeInterpolation]

class AuditAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIT_ACTION_UNSPECIFIED: _ClassVar[AuditAction]
    AUDIT_ACTION_ALIAS_SET: _ClassVar[AuditAction]
    AUDIT_ACTION_ALIAS_DELETED: _ClassVar[AuditAction]
    AUDIT_ACTION_DEPLOYMENT_CREATED: _ClassVar[AuditAction]
    AUDIT_ACTION_TRAFFIC_CHANGED: _ClassVar[AuditAction]
    AUDIT_ACTION_ROLLED_BACK: _ClassVar[AuditAction]
    AUDIT_ACTION_DEPLOYMENT_DELETED: _ClassVar[AuditAction]
EXECUTION_DEVICE_UNSPECIFIED: ExecutionDevice
EXECUTION_DEVICE_CPU: ExecutionDevice
EXECUTION_DEVICE_GPU: ExecutionDevice
DEPLOYMENT_STATE_UNSPECIFIED: DeploymentState
DEPLOYMENT_STATE_PENDING: DeploymentState
DEPLOYMENT_STATE_READY: DeploymentState
DEPLOYMENT_STATE_DEGRADED: DeploymentState
DEPLOYMENT_STATE_FAILED: DeploymentState
DEPLOYMENT_STATE_DELETING: DeploymentState
PIXEL_LAYOUT_UNSPECIFIED: PixelLayout
PIXEL_LAYOUT_HWC: PixelLayout
PIXEL_LAYOUT_CHW: PixelLayout
RESIZE_INTERPOLATION_UNSPECIFIED: ResizeInterpolation
RESIZE_INTERPOLATION_NEAREST: ResizeInterpolation
RESIZE_INTERPOLATION_BILINEAR: ResizeInterpolation
AUDIT_ACTION_UNSPECIFIED: AuditAction
AUDIT_ACTION_ALIAS_SET: AuditAction
AUDIT_ACTION_ALIAS_DELETED: AuditAction
AUDIT_ACTION_DEPLOYMENT_CREATED: AuditAction
AUDIT_ACTION_TRAFFIC_CHANGED: AuditAction
AUDIT_ACTION_ROLLED_BACK: AuditAction
AUDIT_ACTION_DEPLOYMENT_DELETED: AuditAction

class TrafficTarget(_message.Message):
    __slots__ = ("version", "percent")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    version: str
    percent: int
    def __init__(self, version: _Optional[str] = ..., percent: _Optional[int] = ...) -> None: ...

class BatchingConfig(_message.Message):
    __slots__ = ("max_batch_size", "max_queue_delay_micros", "preferred_batch_sizes", "max_queue_size", "hold_lone_requests")
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_DELAY_MICROS_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_BATCH_SIZES_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_SIZE_FIELD_NUMBER: _ClassVar[int]
    HOLD_LONE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    max_batch_size: int
    max_queue_delay_micros: int
    preferred_batch_sizes: _containers.RepeatedScalarFieldContainer[int]
    max_queue_size: int
    hold_lone_requests: bool
    def __init__(self, max_batch_size: _Optional[int] = ..., max_queue_delay_micros: _Optional[int] = ..., preferred_batch_sizes: _Optional[_Iterable[int]] = ..., max_queue_size: _Optional[int] = ..., hold_lone_requests: _Optional[bool] = ...) -> None: ...

class ExecutionConfig(_message.Message):
    __slots__ = ("device", "intra_op_threads", "inter_op_threads", "gpu_memory_fraction", "allow_spinning", "allow_tf32")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    INTRA_OP_THREADS_FIELD_NUMBER: _ClassVar[int]
    INTER_OP_THREADS_FIELD_NUMBER: _ClassVar[int]
    GPU_MEMORY_FRACTION_FIELD_NUMBER: _ClassVar[int]
    ALLOW_SPINNING_FIELD_NUMBER: _ClassVar[int]
    ALLOW_TF32_FIELD_NUMBER: _ClassVar[int]
    device: ExecutionDevice
    intra_op_threads: int
    inter_op_threads: int
    gpu_memory_fraction: float
    allow_spinning: bool
    allow_tf32: bool
    def __init__(self, device: _Optional[_Union[ExecutionDevice, str]] = ..., intra_op_threads: _Optional[int] = ..., inter_op_threads: _Optional[int] = ..., gpu_memory_fraction: _Optional[float] = ..., allow_spinning: _Optional[bool] = ..., allow_tf32: _Optional[bool] = ...) -> None: ...

class PreprocessingConfig(_message.Message):
    __slots__ = ("input", "source_layout", "target_layout", "resize_height", "resize_width", "interpolation", "scale", "means", "stds", "target_data_type")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LAYOUT_FIELD_NUMBER: _ClassVar[int]
    TARGET_LAYOUT_FIELD_NUMBER: _ClassVar[int]
    RESIZE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    RESIZE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    INTERPOLATION_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    MEANS_FIELD_NUMBER: _ClassVar[int]
    STDS_FIELD_NUMBER: _ClassVar[int]
    TARGET_DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    input: str
    source_layout: PixelLayout
    target_layout: PixelLayout
    resize_height: int
    resize_width: int
    interpolation: ResizeInterpolation
    scale: float
    means: _containers.RepeatedScalarFieldContainer[float]
    stds: _containers.RepeatedScalarFieldContainer[float]
    target_data_type: _model_pb2.TensorDataType
    def __init__(self, input: _Optional[str] = ..., source_layout: _Optional[_Union[PixelLayout, str]] = ..., target_layout: _Optional[_Union[PixelLayout, str]] = ..., resize_height: _Optional[int] = ..., resize_width: _Optional[int] = ..., interpolation: _Optional[_Union[ResizeInterpolation, str]] = ..., scale: _Optional[float] = ..., means: _Optional[_Iterable[float]] = ..., stds: _Optional[_Iterable[float]] = ..., target_data_type: _Optional[_Union[_model_pb2.TensorDataType, str]] = ...) -> None: ...

class DeploymentCondition(_message.Message):
    __slots__ = ("type", "status", "reason", "message", "version", "last_transition_time")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LAST_TRANSITION_TIME_FIELD_NUMBER: _ClassVar[int]
    type: str
    status: bool
    reason: str
    message: str
    version: str
    last_transition_time: _timestamp_pb2.Timestamp
    def __init__(self, type: _Optional[str] = ..., status: _Optional[bool] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., version: _Optional[str] = ..., last_transition_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LoadedVersionStatus(_message.Message):
    __slots__ = ("version", "ready_instances", "device", "execution_providers")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    READY_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    version: str
    ready_instances: int
    device: str
    execution_providers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, version: _Optional[str] = ..., ready_instances: _Optional[int] = ..., device: _Optional[str] = ..., execution_providers: _Optional[_Iterable[str]] = ...) -> None: ...

class Deployment(_message.Message):
    __slots__ = ("name", "display_name", "model", "traffic", "instances_per_version", "batching", "execution", "preprocessing", "labels", "state", "conditions", "loaded_versions", "generation", "create_time", "update_time", "etag", "observed_generation")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_PER_VERSION_FIELD_NUMBER: _ClassVar[int]
    BATCHING_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_FIELD_NUMBER: _ClassVar[int]
    PREPROCESSING_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    LOADED_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    model: str
    traffic: _containers.RepeatedCompositeFieldContainer[TrafficTarget]
    instances_per_version: int
    batching: BatchingConfig
    execution: ExecutionConfig
    preprocessing: _containers.RepeatedCompositeFieldContainer[PreprocessingConfig]
    labels: _containers.ScalarMap[str, str]
    state: DeploymentState
    conditions: _containers.RepeatedCompositeFieldContainer[DeploymentCondition]
    loaded_versions: _containers.RepeatedCompositeFieldContainer[LoadedVersionStatus]
    generation: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    observed_generation: int
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., model: _Optional[str] = ..., traffic: _Optional[_Iterable[_Union[TrafficTarget, _Mapping]]] = ..., instances_per_version: _Optional[int] = ..., batching: _Optional[_Union[BatchingConfig, _Mapping]] = ..., execution: _Optional[_Union[ExecutionConfig, _Mapping]] = ..., preprocessing: _Optional[_Iterable[_Union[PreprocessingConfig, _Mapping]]] = ..., labels: _Optional[_Mapping[str, str]] = ..., state: _Optional[_Union[DeploymentState, str]] = ..., conditions: _Optional[_Iterable[_Union[DeploymentCondition, _Mapping]]] = ..., loaded_versions: _Optional[_Iterable[_Union[LoadedVersionStatus, _Mapping]]] = ..., generation: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., observed_generation: _Optional[int] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("name", "action", "resource", "actor", "time", "before_json", "after_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    BEFORE_JSON_FIELD_NUMBER: _ClassVar[int]
    AFTER_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    action: AuditAction
    resource: str
    actor: str
    time: _timestamp_pb2.Timestamp
    before_json: str
    after_json: str
    def __init__(self, name: _Optional[str] = ..., action: _Optional[_Union[AuditAction, str]] = ..., resource: _Optional[str] = ..., actor: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., before_json: _Optional[str] = ..., after_json: _Optional[str] = ...) -> None: ...
