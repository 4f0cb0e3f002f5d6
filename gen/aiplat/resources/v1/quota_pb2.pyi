import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QuotaAmounts(_message.Message):
    __slots__ = ("cpu_millicores", "memory_bytes", "gpu_count", "deployment_count", "concurrent_training_job_count")
    CPU_MILLICORES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    GPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONCURRENT_TRAINING_JOB_COUNT_FIELD_NUMBER: _ClassVar[int]
    cpu_millicores: int
    memory_bytes: int
    gpu_count: int
    deployment_count: int
    concurrent_training_job_count: int
    def __init__(self, cpu_millicores: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., gpu_count: _Optional[int] = ..., deployment_count: _Optional[int] = ..., concurrent_training_job_count: _Optional[int] = ...) -> None: ...

class Quota(_message.Message):
    __slots__ = ("name", "tenant", "limits", "usage", "update_time", "updater", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATER_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    tenant: str
    limits: QuotaAmounts
    usage: QuotaAmounts
    update_time: _timestamp_pb2.Timestamp
    updater: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., tenant: _Optional[str] = ..., limits: _Optional[_Union[QuotaAmounts, _Mapping]] = ..., usage: _Optional[_Union[QuotaAmounts, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updater: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...
