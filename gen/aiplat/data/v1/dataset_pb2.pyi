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

class FieldType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FIELD_TYPE_UNSPECIFIED: _ClassVar[FieldType]
    FIELD_TYPE_BOOL: _ClassVar[FieldType]
    FIELD_TYPE_INT32: _ClassVar[FieldType]
    FIELD_TYPE_INT64: _ClassVar[FieldType]
    FIELD_TYPE_FLOAT32: _ClassVar[FieldType]
    FIELD_TYPE_FLOAT64: _ClassVar[FieldType]
    FIELD_TYPE_DECIMAL: _ClassVar[FieldType]
    FIELD_TYPE_STRING: _ClassVar[FieldType]
    FIELD_TYPE_BYTES: _ClassVar[FieldType]
    FIELD_TYPE_DATE: _ClassVar[FieldType]
    FIELD_TYPE_TIMESTAMP: _ClassVar[FieldType]
    FIELD_TYPE_JSON: _ClassVar[FieldType]

class MaskingMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MASKING_METHOD_UNSPECIFIED: _ClassVar[MaskingMethod]
    MASKING_METHOD_NONE: _ClassVar[MaskingMethod]
    MASKING_METHOD_REDACT: _ClassVar[MaskingMethod]
    MASKING_METHOD_HASH_SHA256: _ClassVar[MaskingMethod]
    MASKING_METHOD_PARTIAL: _ClassVar[MaskingMethod]
    MASKING_METHOD_NULLIFY: _ClassVar[MaskingMethod]
FIELD_TYPE_UNSPECIFIED: FieldType
FIELD_TYPE_BOOL: FieldType
FIELD_TYPE_INT32: FieldType
FIELD_TYPE_INT64: FieldType
FIELD_TYPE_FLOAT32: FieldType
FIELD_TYPE_FLOAT64: FieldType
FIELD_TYPE_DECIMAL: FieldType
FIELD_TYPE_STRING: FieldType
FIELD_TYPE_BYTES: FieldType
FIELD_TYPE_DATE: FieldType
FIELD_TYPE_TIMESTAMP: FieldType
FIELD_TYPE_JSON: FieldType
MASKING_METHOD_UNSPECIFIED: MaskingMethod
MASKING_METHOD_NONE: MaskingMethod
MASKING_METHOD_REDACT: MaskingMethod
MASKING_METHOD_HASH_SHA256: MaskingMethod
MASKING_METHOD_PARTIAL: MaskingMethod
MASKING_METHOD_NULLIFY: MaskingMethod

class Dataset(_message.Message):
    __slots__ = ("name", "display_name", "description", "labels", "data_source", "table", "sql_query", "schema", "schema_time", "column_masks", "row_limit", "creator", "create_time", "update_time", "etag")
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
    DATA_SOURCE_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    SQL_QUERY_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_TIME_FIELD_NUMBER: _ClassVar[int]
    COLUMN_MASKS_FIELD_NUMBER: _ClassVar[int]
    ROW_LIMIT_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    labels: _containers.ScalarMap[str, str]
    data_source: str
    table: str
    sql_query: str
    schema: Schema
    schema_time: _timestamp_pb2.Timestamp
    column_masks: _containers.RepeatedCompositeFieldContainer[ColumnMask]
    row_limit: int
    creator: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., data_source: _Optional[str] = ..., table: _Optional[str] = ..., sql_query: _Optional[str] = ..., schema: _Optional[_Union[Schema, _Mapping]] = ..., schema_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., column_masks: _Optional[_Iterable[_Union[ColumnMask, _Mapping]]] = ..., row_limit: _Optional[int] = ..., creator: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class Schema(_message.Message):
    __slots__ = ("fields",)
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedCompositeFieldContainer[SchemaField]
    def __init__(self, fields: _Optional[_Iterable[_Union[SchemaField, _Mapping]]] = ...) -> None: ...

class SchemaField(_message.Message):
    __slots__ = ("name", "type", "nullable", "precision", "scale", "masking")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NULLABLE_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    MASKING_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: FieldType
    nullable: bool
    precision: int
    scale: int
    masking: MaskingMethod
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[FieldType, str]] = ..., nullable: _Optional[bool] = ..., precision: _Optional[int] = ..., scale: _Optional[int] = ..., masking: _Optional[_Union[MaskingMethod, str]] = ...) -> None: ...

class ColumnMask(_message.Message):
    __slots__ = ("column", "method", "keep_last_characters")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    KEEP_LAST_CHARACTERS_FIELD_NUMBER: _ClassVar[int]
    column: str
    method: MaskingMethod
    keep_last_characters: int
    def __init__(self, column: _Optional[str] = ..., method: _Optional[_Union[MaskingMethod, str]] = ..., keep_last_characters: _Optional[int] = ...) -> None: ...
