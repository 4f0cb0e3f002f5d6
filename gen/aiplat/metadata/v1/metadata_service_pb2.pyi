from aiplat.metadata.v1 import entity_pb2 as _entity_pb2
from aiplat.metadata.v1 import relation_pb2 as _relation_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import client_pb2 as _client_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LineageDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LINEAGE_DIRECTION_UNSPECIFIED: _ClassVar[LineageDirection]
    LINEAGE_DIRECTION_UPSTREAM: _ClassVar[LineageDirection]
    LINEAGE_DIRECTION_DOWNSTREAM: _ClassVar[LineageDirection]
    LINEAGE_DIRECTION_BOTH: _ClassVar[LineageDirection]
LINEAGE_DIRECTION_UNSPECIFIED: LineageDirection
LINEAGE_DIRECTION_UPSTREAM: LineageDirection
LINEAGE_DIRECTION_DOWNSTREAM: LineageDirection
LINEAGE_DIRECTION_BOTH: LineageDirection

class CreateEntityRequest(_message.Message):
    __slots__ = ("entity", "entity_id")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    entity: _entity_pb2.Entity
    entity_id: str
    def __init__(self, entity: _Optional[_Union[_entity_pb2.Entity, _Mapping]] = ..., entity_id: _Optional[str] = ...) -> None: ...

class GetEntityRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListEntitiesRequest(_message.Message):
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

class ListEntitiesResponse(_message.Message):
    __slots__ = ("entities", "next_page_token", "total_size")
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    entities: _containers.RepeatedCompositeFieldContainer[_entity_pb2.Entity]
    next_page_token: str
    total_size: int
    def __init__(self, entities: _Optional[_Iterable[_Union[_entity_pb2.Entity, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdateEntityRequest(_message.Message):
    __slots__ = ("entity", "update_mask")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    entity: _entity_pb2.Entity
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, entity: _Optional[_Union[_entity_pb2.Entity, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteEntityRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class LookupEntityRequest(_message.Message):
    __slots__ = ("kind", "resource")
    KIND_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    kind: _entity_pb2.EntityKind
    resource: str
    def __init__(self, kind: _Optional[_Union[_entity_pb2.EntityKind, str]] = ..., resource: _Optional[str] = ...) -> None: ...

class SearchEntitiesRequest(_message.Message):
    __slots__ = ("query", "kinds", "page_size", "page_token")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    query: str
    kinds: _containers.RepeatedScalarFieldContainer[_entity_pb2.EntityKind]
    page_size: int
    page_token: str
    def __init__(self, query: _Optional[str] = ..., kinds: _Optional[_Iterable[_Union[_entity_pb2.EntityKind, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchEntitiesResult(_message.Message):
    __slots__ = ("entity", "relevance_score")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    RELEVANCE_SCORE_FIELD_NUMBER: _ClassVar[int]
    entity: _entity_pb2.Entity
    relevance_score: float
    def __init__(self, entity: _Optional[_Union[_entity_pb2.Entity, _Mapping]] = ..., relevance_score: _Optional[float] = ...) -> None: ...

class SearchEntitiesResponse(_message.Message):
    __slots__ = ("results", "next_page_token")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SearchEntitiesResult]
    next_page_token: str
    def __init__(self, results: _Optional[_Iterable[_Union[SearchEntitiesResult, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetLineageRequest(_message.Message):
    __slots__ = ("name", "direction", "max_depth", "relation_kinds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    RELATION_KINDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    direction: LineageDirection
    max_depth: int
    relation_kinds: _containers.RepeatedScalarFieldContainer[_relation_pb2.RelationKind]
    def __init__(self, name: _Optional[str] = ..., direction: _Optional[_Union[LineageDirection, str]] = ..., max_depth: _Optional[int] = ..., relation_kinds: _Optional[_Iterable[_Union[_relation_pb2.RelationKind, str]]] = ...) -> None: ...

class LineageEntity(_message.Message):
    __slots__ = ("entity", "distance", "direction")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    entity: _entity_pb2.Entity
    distance: int
    direction: LineageDirection
    def __init__(self, entity: _Optional[_Union[_entity_pb2.Entity, _Mapping]] = ..., distance: _Optional[int] = ..., direction: _Optional[_Union[LineageDirection, str]] = ...) -> None: ...

class GetLineageResponse(_message.Message):
    __slots__ = ("entities", "relations", "truncated")
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    RELATIONS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    entities: _containers.RepeatedCompositeFieldContainer[LineageEntity]
    relations: _containers.RepeatedCompositeFieldContainer[_relation_pb2.Relation]
    truncated: bool
    def __init__(self, entities: _Optional[_Iterable[_Union[LineageEntity, _Mapping]]] = ..., relations: _Optional[_Iterable[_Union[_relation_pb2.Relation, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class CreateRelationRequest(_message.Message):
    __slots__ = ("relation",)
    RELATION_FIELD_NUMBER: _ClassVar[int]
    relation: _relation_pb2.Relation
    def __init__(self, relation: _Optional[_Union[_relation_pb2.Relation, _Mapping]] = ...) -> None: ...

class GetRelationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListRelationsRequest(_message.Message):
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

class ListRelationsResponse(_message.Message):
    __slots__ = ("relations", "next_page_token")
    RELATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    relations: _containers.RepeatedCompositeFieldContainer[_relation_pb2.Relation]
    next_page_token: str
    def __init__(self, relations: _Optional[_Iterable[_Union[_relation_pb2.Relation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteRelationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...
