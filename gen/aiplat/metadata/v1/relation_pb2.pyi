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

class RelationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RELATION_KIND_UNSPECIFIED: _ClassVar[RelationKind]
    RELATION_KIND_INPUT_OF: _ClassVar[RelationKind]
    RELATION_KIND_OUTPUT_OF: _ClassVar[RelationKind]
    RELATION_KIND_DEPLOYED_BY: _ClassVar[RelationKind]
    RELATION_KIND_VERSION_OF: _ClassVar[RelationKind]
    RELATION_KIND_READS_FROM: _ClassVar[RelationKind]
RELATION_KIND_UNSPECIFIED: RelationKind
RELATION_KIND_INPUT_OF: RelationKind
RELATION_KIND_OUTPUT_OF: RelationKind
RELATION_KIND_DEPLOYED_BY: RelationKind
RELATION_KIND_VERSION_OF: RelationKind
RELATION_KIND_READS_FROM: RelationKind

class Relation(_message.Message):
    __slots__ = ("name", "kind", "source", "target", "properties", "create_time")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: RelationKind
    source: str
    target: str
    properties: _containers.MessageMap[str, _struct_pb2.Value]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[RelationKind, str]] = ..., source: _Optional[str] = ..., target: _Optional[str] = ..., properties: _Optional[_Mapping[str, _struct_pb2.Value]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
