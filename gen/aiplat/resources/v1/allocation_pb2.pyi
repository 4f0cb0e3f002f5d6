import datetime

from aiplat.resources.v1 import node_pb2 as _node_pb2
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

class AllocationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALLOCATION_STATE_UNSPECIFIED: _ClassVar[AllocationState]
    ALLOCATION_STATE_PENDING: _ClassVar[AllocationState]
    ALLOCATION_STATE_GRANTED: _ClassVar[AllocationState]
    ALLOCATION_STATE_RELEASED: _ClassVar[AllocationState]
    ALLOCATION_STATE_REJECTED: _ClassVar[AllocationState]
ALLOCATION_STATE_UNSPECIFIED: AllocationState
ALLOCATION_STATE_PENDING: AllocationState
ALLOCATION_STATE_GRANTED: AllocationState
ALLOCATION_STATE_RELEASED: AllocationState
ALLOCATION_STATE_REJECTED: AllocationState

class Allocation(_message.Message):
    __slots__ = ("name", "deployment", "training_job", "resources", "node_selector", "state", "node", "gpu_indices", "reason", "creator", "create_time", "grant_time", "end_time", "update_time")
    class NodeSelectorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    TRAINING_JOB_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    NODE_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    GPU_INDICES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    GRANT_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    deployment: str
    training_job: str
    resources: _node_pb2.ResourceAmounts
    node_selector: _containers.ScalarMap[str, str]
    state: AllocationState
    node: str
    gpu_indices: _containers.RepeatedScalarFieldContainer[int]
    reason: str
    creator: str
    create_time: _timestamp_pb2.Timestamp
    grant_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., deployment: _Optional[str] = ..., training_job: _Optional[str] = ..., resources: _Optional[_Union[_node_pb2.ResourceAmounts, _Mapping]] = ..., node_selector: _Optional[_Mapping[str, str]] = ..., state: _Optional[_Union[AllocationState, str]] = ..., node: _Optional[str] = ..., gpu_indices: _Optional[_Iterable[int]] = ..., reason: _Optional[str] = ..., creator: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., grant_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
