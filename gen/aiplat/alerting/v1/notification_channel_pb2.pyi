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

class ChatWebhookKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHAT_WEBHOOK_KIND_UNSPECIFIED: _ClassVar[ChatWebhookKind]
    CHAT_WEBHOOK_KIND_SLACK: _ClassVar[ChatWebhookKind]
    CHAT_WEBHOOK_KIND_MATTERMOST: _ClassVar[ChatWebhookKind]
    CHAT_WEBHOOK_KIND_MICROSOFT_TEAMS: _ClassVar[ChatWebhookKind]
CHAT_WEBHOOK_KIND_UNSPECIFIED: ChatWebhookKind
CHAT_WEBHOOK_KIND_SLACK: ChatWebhookKind
CHAT_WEBHOOK_KIND_MATTERMOST: ChatWebhookKind
CHAT_WEBHOOK_KIND_MICROSOFT_TEAMS: ChatWebhookKind

class WebhookConfig(_message.Message):
    __slots__ = ("url", "headers", "secret", "has_secret")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    URL_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    HAS_SECRET_FIELD_NUMBER: _ClassVar[int]
    url: str
    headers: _containers.ScalarMap[str, str]
    secret: str
    has_secret: bool
    def __init__(self, url: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., secret: _Optional[str] = ..., has_secret: _Optional[bool] = ...) -> None: ...

class EmailConfig(_message.Message):
    __slots__ = ("addresses",)
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    addresses: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, addresses: _Optional[_Iterable[str]] = ...) -> None: ...

class ChatWebhookConfig(_message.Message):
    __slots__ = ("kind", "url", "url_host", "channel")
    KIND_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    URL_HOST_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    kind: ChatWebhookKind
    url: str
    url_host: str
    channel: str
    def __init__(self, kind: _Optional[_Union[ChatWebhookKind, str]] = ..., url: _Optional[str] = ..., url_host: _Optional[str] = ..., channel: _Optional[str] = ...) -> None: ...

class NotificationChannel(_message.Message):
    __slots__ = ("name", "display_name", "description", "webhook", "email", "chat_webhook", "labels", "enabled", "last_success_time", "last_error", "create_time", "update_time", "etag")
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
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CHAT_WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESS_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    webhook: WebhookConfig
    email: EmailConfig
    chat_webhook: ChatWebhookConfig
    labels: _containers.ScalarMap[str, str]
    enabled: bool
    last_success_time: _timestamp_pb2.Timestamp
    last_error: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., webhook: _Optional[_Union[WebhookConfig, _Mapping]] = ..., email: _Optional[_Union[EmailConfig, _Mapping]] = ..., chat_webhook: _Optional[_Union[ChatWebhookConfig, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., enabled: _Optional[bool] = ..., last_success_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...
