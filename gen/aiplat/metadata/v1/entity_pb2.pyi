import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EntityKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTITY_KIND_UNSPECIFIED: _ClassVar[EntityKind]
    ENTITY_KIND_DATA_SOURCE: _ClassVar[EntityKind]
    ENTITY_KIND_DATASET: _ClassVar[EntityKind]
    ENTITY_KIND_MODEL: _ClassVar[EntityKind]
    ENTITY_KIND_MODEL_VERSION: _ClassVar[EntityKind]
    ENTITY_KIND_TRAINING_JOB: _ClassVar[EntityKind]
    ENTITY_KIND_DEPLOYMENT: _ClassVar[EntityKind]
ENTITY_KIND_UNSPECIFIED: EntityKind
ENTITY_KIND_DATA_SOURCE: EntityKind
ENTITY_KIND_DATASET: EntityKind
ENTITY_KIND_MODEL: EntityKind
ENTITY_KIND_MODEL_VERSION: EntityKind
ENTITY_KIND_TRAINING_JOB: EntityKind
ENTITY_KIND_DEPLOYMENT: EntityKind

class Entity(_message.Message):
    __slots__ = ("name", "kind", "resource", "display_name", "properties", "create_time", "update_time", "etag")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: EntityKind
    resource: str
    display_name: str
    properties: _containers.MessageMap[str, _struct_pb2.Value]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[EntityKind, str]] = ..., resource: _Optional[str] = ..., display_name: _Optional[str] = ..., properties: _Optional[_Mapping[str, _struct_pb2.Value]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...
