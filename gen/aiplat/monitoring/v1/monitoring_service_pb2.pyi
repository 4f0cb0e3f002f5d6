import datetime

from aiplat.monitoring.v1 import health_pb2 as _health_pb2
from aiplat.monitoring.v1 import metric_pb2 as _metric_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import client_pb2 as _client_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListServiceHealthRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "filter", "order_by")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    filter: str
    order_by: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListServiceHealthResponse(_message.Message):
    __slots__ = ("services", "next_page_token")
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[_health_pb2.ServiceHealth]
    next_page_token: str
    def __init__(self, services: _Optional[_Iterable[_Union[_health_pb2.ServiceHealth, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetServiceHealthRequest(_message.Message):
    __slots__ = ("name", "refresh")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REFRESH_FIELD_NUMBER: _ClassVar[int]
    name: str
    refresh: bool
    def __init__(self, name: _Optional[str] = ..., refresh: _Optional[bool] = ...) -> None: ...

class QueryModelMetricsRequest(_message.Message):
    __slots__ = ("deployment", "version", "window", "end_time", "step")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    version: str
    window: _duration_pb2.Duration
    end_time: _timestamp_pb2.Timestamp
    step: _duration_pb2.Duration
    def __init__(self, deployment: _Optional[str] = ..., version: _Optional[str] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class QueryModelMetricsResponse(_message.Message):
    __slots__ = ("deployment", "start_time", "end_time", "versions", "total")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    versions: _containers.RepeatedCompositeFieldContainer[_metric_pb2.ModelMetrics]
    total: _metric_pb2.ModelMetrics
    def __init__(self, deployment: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., versions: _Optional[_Iterable[_Union[_metric_pb2.ModelMetrics, _Mapping]]] = ..., total: _Optional[_Union[_metric_pb2.ModelMetrics, _Mapping]] = ...) -> None: ...

class QueryMetricRequest(_message.Message):
    __slots__ = ("selector", "promql", "window", "end_time", "step", "max_series")
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    PROMQL_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    MAX_SERIES_FIELD_NUMBER: _ClassVar[int]
    selector: _metric_pb2.MetricSelector
    promql: str
    window: _duration_pb2.Duration
    end_time: _timestamp_pb2.Timestamp
    step: _duration_pb2.Duration
    max_series: int
    def __init__(self, selector: _Optional[_Union[_metric_pb2.MetricSelector, _Mapping]] = ..., promql: _Optional[str] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_series: _Optional[int] = ...) -> None: ...

class QueryMetricResponse(_message.Message):
    __slots__ = ("series", "truncated", "start_time", "end_time")
    SERIES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    series: _containers.RepeatedCompositeFieldContainer[_metric_pb2.TimeSeries]
    truncated: bool
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, series: _Optional[_Iterable[_Union[_metric_pb2.TimeSeries, _Mapping]]] = ..., truncated: _Optional[bool] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
