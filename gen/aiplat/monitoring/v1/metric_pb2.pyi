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

class LabelMatchType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LABEL_MATCH_TYPE_UNSPECIFIED: _ClassVar[LabelMatchType]
    LABEL_MATCH_TYPE_EQUAL: _ClassVar[LabelMatchType]
    LABEL_MATCH_TYPE_NOT_EQUAL: _ClassVar[LabelMatchType]
    LABEL_MATCH_TYPE_REGEX: _ClassVar[LabelMatchType]
    LABEL_MATCH_TYPE_NOT_REGEX: _ClassVar[LabelMatchType]

class DeviceKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_KIND_UNSPECIFIED: _ClassVar[DeviceKind]
    DEVICE_KIND_CPU: _ClassVar[DeviceKind]
    DEVICE_KIND_GPU: _ClassVar[DeviceKind]
    DEVICE_KIND_MIXED: _ClassVar[DeviceKind]
LABEL_MATCH_TYPE_UNSPECIFIED: LabelMatchType
LABEL_MATCH_TYPE_EQUAL: LabelMatchType
LABEL_MATCH_TYPE_NOT_EQUAL: LabelMatchType
LABEL_MATCH_TYPE_REGEX: LabelMatchType
LABEL_MATCH_TYPE_NOT_REGEX: LabelMatchType
DEVICE_KIND_UNSPECIFIED: DeviceKind
DEVICE_KIND_CPU: DeviceKind
DEVICE_KIND_GPU: DeviceKind
DEVICE_KIND_MIXED: DeviceKind

class LabelMatcher(_message.Message):
    __slots__ = ("label", "match_type", "value")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MATCH_TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    label: str
    match_type: LabelMatchType
    value: str
    def __init__(self, label: _Optional[str] = ..., match_type: _Optional[_Union[LabelMatchType, str]] = ..., value: _Optional[str] = ...) -> None: ...

class MetricSelector(_message.Message):
    __slots__ = ("metric", "matchers")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MATCHERS_FIELD_NUMBER: _ClassVar[int]
    metric: str
    matchers: _containers.RepeatedCompositeFieldContainer[LabelMatcher]
    def __init__(self, metric: _Optional[str] = ..., matchers: _Optional[_Iterable[_Union[LabelMatcher, _Mapping]]] = ...) -> None: ...

class Point(_message.Message):
    __slots__ = ("time", "value")
    TIME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    value: float
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., value: _Optional[float] = ...) -> None: ...

class TimeSeries(_message.Message):
    __slots__ = ("metric", "labels", "points")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    METRIC_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    metric: str
    labels: _containers.ScalarMap[str, str]
    points: _containers.RepeatedCompositeFieldContainer[Point]
    def __init__(self, metric: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., points: _Optional[_Iterable[_Union[Point, _Mapping]]] = ...) -> None: ...

class ModelMetricsPoint(_message.Message):
    __slots__ = ("time", "requests_per_second", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "error_rate", "batch_size_mean", "gpu_utilization")
    TIME_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P90_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_MEAN_FIELD_NUMBER: _ClassVar[int]
    GPU_UTILIZATION_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    requests_per_second: float
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    error_rate: float
    batch_size_mean: float
    gpu_utilization: float
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requests_per_second: _Optional[float] = ..., latency_p50_ms: _Optional[float] = ..., latency_p90_ms: _Optional[float] = ..., latency_p99_ms: _Optional[float] = ..., error_rate: _Optional[float] = ..., batch_size_mean: _Optional[float] = ..., gpu_utilization: _Optional[float] = ...) -> None: ...

class ModelMetrics(_message.Message):
    __slots__ = ("version", "request_count", "requests_per_second", "traffic_fraction", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "error_rate", "batch_size_mean", "gpu_utilization", "device_kind", "devices", "points")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_COUNT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FRACTION_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P90_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_MEAN_FIELD_NUMBER: _ClassVar[int]
    GPU_UTILIZATION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_KIND_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    version: str
    request_count: int
    requests_per_second: float
    traffic_fraction: float
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    error_rate: float
    batch_size_mean: float
    gpu_utilization: float
    device_kind: DeviceKind
    devices: _containers.RepeatedScalarFieldContainer[str]
    points: _containers.RepeatedCompositeFieldContainer[ModelMetricsPoint]
    def __init__(self, version: _Optional[str] = ..., request_count: _Optional[int] = ..., requests_per_second: _Optional[float] = ..., traffic_fraction: _Optional[float] = ..., latency_p50_ms: _Optional[float] = ..., latency_p90_ms: _Optional[float] = ..., latency_p99_ms: _Optional[float] = ..., error_rate: _Optional[float] = ..., batch_size_mean: _Optional[float] = ..., gpu_utilization: _Optional[float] = ..., device_kind: _Optional[_Union[DeviceKind, str]] = ..., devices: _Optional[_Iterable[str]] = ..., points: _Optional[_Iterable[_Union[ModelMetricsPoint, _Mapping]]] = ...) -> None: ...
