import datetime

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

class ModelTask(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_TASK_UNSPECIFIED: _ClassVar[ModelTask]
    MODEL_TASK_CLASSIFICATION: _ClassVar[ModelTask]
    MODEL_TASK_REGRESSION: _ClassVar[ModelTask]
    MODEL_TASK_ANOMALY_DETECTION: _ClassVar[ModelTask]
    MODEL_TASK_IMAGE: _ClassVar[ModelTask]
    MODEL_TASK_TEXT: _ClassVar[ModelTask]
    MODEL_TASK_EMBEDDING: _ClassVar[ModelTask]
    MODEL_TASK_OTHER: _ClassVar[ModelTask]

class ArtifactFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARTIFACT_FORMAT_UNSPECIFIED: _ClassVar[ArtifactFormat]
    ARTIFACT_FORMAT_ONNX: _ClassVar[ArtifactFormat]

class ModelVersionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_VERSION_STATE_UNSPECIFIED: _ClassVar[ModelVersionState]
    MODEL_VERSION_STATE_PENDING: _ClassVar[ModelVersionState]
    MODEL_VERSION_STATE_READY: _ClassVar[ModelVersionState]
    MODEL_VERSION_STATE_FAILED: _ClassVar[ModelVersionState]
    MODEL_VERSION_STATE_ARCHIVED: _ClassVar[ModelVersionState]

class TensorDataType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TENSOR_DATA_TYPE_UNSPECIFIED: _ClassVar[TensorDataType]
    TENSOR_DATA_TYPE_BOOL: _ClassVar[TensorDataType]
    TENSOR_DATA_TYPE_UINT8: _ClassVar[TensorDataType]
    TENSOR_DATA_TYPE_UINT16: _ClassVar[TensorDataType]
    TENSOR_DATA_TYPE_UINT32: _ClassVar[TensorDataType]
    TENSOR_DATA_TYPE_UINT64: _ClassVar[TensorDataType]
    TENSOR_DATA_TYPE_INT8: _ClassVar[TensorDataType]
    TENSOR_DATA_TYPE_INT16: _ClassVar[TensorDataType]
    TENSOR_DATA_TYPE_INT32: _ClassVar[TensorDataType]
    TENSOR_DATA_TYPE_INT64: _ClassVar[TensorDataType]
    TENSOR_DATA_TYPE_FP16: _ClassVar[TensorDataType]
    TENSOR_DATA_TYPE_FP32: _ClassVar[TensorDataType]
    TENSOR_DATA_TYPE_FP64: _ClassVar[TensorDataType]
    TENSOR_DATA_TYPE_BYTES: _ClassVar[TensorDataType]
    TENSOR_DATA_TYPE_BF16: _ClassVar[TensorDataType]
MODEL_TASK_UNSPECIFIED: ModelTask
MODEL_TASK_CLASSIFICATION: ModelTask
MODEL_TASK_REGRESSION: ModelTask
MODEL_TASK_ANOMALY_DETECTION: ModelTask
MODEL_TASK_IMAGE: ModelTask
MODEL_TASK_TEXT: ModelTask
MODEL_TASK_EMBEDDING: ModelTask
MODEL_TASK_OTHER: ModelTask
ARTIFACT_FORMAT_UNSPECIFIED: ArtifactFormat
ARTIFACT_FORMAT_ONNX: ArtifactFormat
MODEL_VERSION_STATE_UNSPECIFIED: ModelVersionState
MODEL_VERSION_STATE_PENDING: ModelVersionState
MODEL_VERSION_STATE_READY: ModelVersionState
MODEL_VERSION_STATE_FAILED: ModelVersionState
MODEL_VERSION_STATE_ARCHIVED: ModelVersionState
TENSOR_DATA_TYPE_UNSPECIFIED: TensorDataType
TENSOR_DATA_TYPE_BOOL: TensorDataType
TENSOR_DATA_TYPE_UINT8: TensorDataType
TENSOR_DATA_TYPE_UINT16: TensorDataType
TENSOR_DATA_TYPE_UINT32: TensorDataType
TENSOR_DATA_TYPE_UINT64: TensorDataType
TENSOR_DATA_TYPE_INT8: TensorDataType
TENSOR_DATA_TYPE_INT16: TensorDataType
TENSOR_DATA_TYPE_INT32: TensorDataType
TENSOR_DATA_TYPE_INT64: TensorDataType
TENSOR_DATA_TYPE_FP16: TensorDataType
TENSOR_DATA_TYPE_FP32: TensorDataType
TENSOR_DATA_TYPE_FP64: TensorDataType
TENSOR_DATA_TYPE_BYTES: TensorDataType
TENSOR_DATA_TYPE_BF16: TensorDataType

class Model(_message.Message):
    __slots__ = ("name", "display_name", "description", "labels", "task", "latest_version_id", "create_time", "update_time", "etag")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    labels: _containers.ScalarMap[str, str]
    task: ModelTask
    latest_version_id: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., task: _Optional[_Union[ModelTask, str]] = ..., latest_version_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class TensorSignature(_message.Message):
    __slots__ = ("name", "data_type", "dims")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    DIMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    data_type: TensorDataType
    dims: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., data_type: _Optional[_Union[TensorDataType, str]] = ..., dims: _Optional[_Iterable[int]] = ...) -> None: ...

class ModelVersion(_message.Message):
    __slots__ = ("name", "description", "artifact_uri", "sha256", "size_bytes", "format", "onnx_opset", "inputs", "outputs", "metrics", "source_training_job", "state", "state_message", "labels", "aliases", "creator", "create_time", "update_time")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_URI_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ONNX_OPSET_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TRAINING_JOB_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    artifact_uri: str
    sha256: str
    size_bytes: int
    format: ArtifactFormat
    onnx_opset: int
    inputs: _containers.RepeatedCompositeFieldContainer[TensorSignature]
    outputs: _containers.RepeatedCompositeFieldContainer[TensorSignature]
    metrics: _containers.ScalarMap[str, float]
    source_training_job: str
    state: ModelVersionState
    state_message: str
    labels: _containers.ScalarMap[str, str]
    aliases: _containers.RepeatedScalarFieldContainer[str]
    creator: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., artifact_uri: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., format: _Optional[_Union[ArtifactFormat, str]] = ..., onnx_opset: _Optional[int] = ..., inputs: _Optional[_Iterable[_Union[TensorSignature, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[TensorSignature, _Mapping]]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., source_training_job: _Optional[str] = ..., state: _Optional[_Union[ModelVersionState, str]] = ..., state_message: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., aliases: _Optional[_Iterable[str]] = ..., creator: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ModelAlias(_message.Message):
    __slots__ = ("name", "version", "update_time", "updater")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATER_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    update_time: _timestamp_pb2.Timestamp
    updater: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updater: _Optional[str] = ...) -> None: ...

class ImportModelVersionMetadata(_message.Message):
    __slots__ = ("version", "bytes_copied", "start_time")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BYTES_COPIED_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    version: str
    bytes_copied: int
    start_time: _timestamp_pb2.Timestamp
    def __init__(self, version: _Optional[str] = ..., bytes_copied: _Optional[int] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
