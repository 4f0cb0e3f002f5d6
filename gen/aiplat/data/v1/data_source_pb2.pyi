import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TlsMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TLS_MODE_UNSPECIFIED: _ClassVar[TlsMode]
    TLS_MODE_DISABLE: _ClassVar[TlsMode]
    TLS_MODE_PREFER: _ClassVar[TlsMode]
    TLS_MODE_REQUIRE: _ClassVar[TlsMode]
    TLS_MODE_VERIFY_CA: _ClassVar[TlsMode]
    TLS_MODE_VERIFY_FULL: _ClassVar[TlsMode]

class FileFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILE_FORMAT_UNSPECIFIED: _ClassVar[FileFormat]
    FILE_FORMAT_CSV: _ClassVar[FileFormat]
    FILE_FORMAT_PARQUET: _ClassVar[FileFormat]
TLS_MODE_UNSPECIFIED: TlsMode
TLS_MODE_DISABLE: TlsMode
TLS_MODE_PREFER: TlsMode
TLS_MODE_REQUIRE: TlsMode
TLS_MODE_VERIFY_CA: TlsMode
TLS_MODE_VERIFY_FULL: TlsMode
FILE_FORMAT_UNSPECIFIED: FileFormat
FILE_FORMAT_CSV: FileFormat
FILE_FORMAT_PARQUET: FileFormat

class DataSource(_message.Message):
    __slots__ = ("name", "display_name", "description", "labels", "postgresql", "mysql", "sqlite", "redis", "files", "nats", "creator", "create_time", "update_time", "etag")
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
    POSTGRESQL_FIELD_NUMBER: _ClassVar[int]
    MYSQL_FIELD_NUMBER: _ClassVar[int]
    SQLITE_FIELD_NUMBER: _ClassVar[int]
    REDIS_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    NATS_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    labels: _containers.ScalarMap[str, str]
    postgresql: PostgresqlConfig
    mysql: MysqlConfig
    sqlite: SqliteConfig
    redis: RedisConfig
    files: FileConfig
    nats: NatsConfig
    creator: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., postgresql: _Optional[_Union[PostgresqlConfig, _Mapping]] = ..., mysql: _Optional[_Union[MysqlConfig, _Mapping]] = ..., sqlite: _Optional[_Union[SqliteConfig, _Mapping]] = ..., redis: _Optional[_Union[RedisConfig, _Mapping]] = ..., files: _Optional[_Union[FileConfig, _Mapping]] = ..., nats: _Optional[_Union[NatsConfig, _Mapping]] = ..., creator: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class PostgresqlConfig(_message.Message):
    __slots__ = ("host", "port", "database", "user", "password", "has_password", "tls_mode", "ca_certificates_pem")
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    HAS_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TLS_MODE_FIELD_NUMBER: _ClassVar[int]
    CA_CERTIFICATES_PEM_FIELD_NUMBER: _ClassVar[int]
    host: str
    port: int
    database: str
    user: str
    password: str
    has_password: bool
    tls_mode: TlsMode
    ca_certificates_pem: str
    def __init__(self, host: _Optional[str] = ..., port: _Optional[int] = ..., database: _Optional[str] = ..., user: _Optional[str] = ..., password: _Optional[str] = ..., has_password: _Optional[bool] = ..., tls_mode: _Optional[_Union[TlsMode, str]] = ..., ca_certificates_pem: _Optional[str] = ...) -> None: ...

class MysqlConfig(_message.Message):
    __slots__ = ("host", "port", "database", "user", "password", "has_password", "tls_mode", "ca_certificates_pem")
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    HAS_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TLS_MODE_FIELD_NUMBER: _ClassVar[int]
    CA_CERTIFICATES_PEM_FIELD_NUMBER: _ClassVar[int]
    host: str
    port: int
    database: str
    user: str
    password: str
    has_password: bool
    tls_mode: TlsMode
    ca_certificates_pem: str
    def __init__(self, host: _Optional[str] = ..., port: _Optional[int] = ..., database: _Optional[str] = ..., user: _Optional[str] = ..., password: _Optional[str] = ..., has_password: _Optional[bool] = ..., tls_mode: _Optional[_Union[TlsMode, str]] = ..., ca_certificates_pem: _Optional[str] = ...) -> None: ...

class SqliteConfig(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class RedisConfig(_message.Message):
    __slots__ = ("host", "port", "database_index", "key_pattern", "user", "password", "has_password", "tls_mode", "ca_certificates_pem")
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    DATABASE_INDEX_FIELD_NUMBER: _ClassVar[int]
    KEY_PATTERN_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    HAS_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TLS_MODE_FIELD_NUMBER: _ClassVar[int]
    CA_CERTIFICATES_PEM_FIELD_NUMBER: _ClassVar[int]
    host: str
    port: int
    database_index: int
    key_pattern: str
    user: str
    password: str
    has_password: bool
    tls_mode: TlsMode
    ca_certificates_pem: str
    def __init__(self, host: _Optional[str] = ..., port: _Optional[int] = ..., database_index: _Optional[int] = ..., key_pattern: _Optional[str] = ..., user: _Optional[str] = ..., password: _Optional[str] = ..., has_password: _Optional[bool] = ..., tls_mode: _Optional[_Union[TlsMode, str]] = ..., ca_certificates_pem: _Optional[str] = ...) -> None: ...

class FileConfig(_message.Message):
    __slots__ = ("uri", "format", "csv_options")
    URI_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CSV_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    uri: str
    format: FileFormat
    csv_options: CsvOptions
    def __init__(self, uri: _Optional[str] = ..., format: _Optional[_Union[FileFormat, str]] = ..., csv_options: _Optional[_Union[CsvOptions, _Mapping]] = ...) -> None: ...

class CsvOptions(_message.Message):
    __slots__ = ("delimiter", "quote_character", "no_header_row", "null_value", "encoding", "skip_line_count")
    DELIMITER_FIELD_NUMBER: _ClassVar[int]
    QUOTE_CHARACTER_FIELD_NUMBER: _ClassVar[int]
    NO_HEADER_ROW_FIELD_NUMBER: _ClassVar[int]
    NULL_VALUE_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SKIP_LINE_COUNT_FIELD_NUMBER: _ClassVar[int]
    delimiter: str
    quote_character: str
    no_header_row: bool
    null_value: str
    encoding: str
    skip_line_count: int
    def __init__(self, delimiter: _Optional[str] = ..., quote_character: _Optional[str] = ..., no_header_row: _Optional[bool] = ..., null_value: _Optional[str] = ..., encoding: _Optional[str] = ..., skip_line_count: _Optional[int] = ...) -> None: ...

class NatsConfig(_message.Message):
    __slots__ = ("server_url", "stream", "subject", "durable_consumer", "user", "password", "has_password", "token", "has_token", "credentials", "has_credentials", "ca_certificates_pem")
    SERVER_URL_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    DURABLE_CONSUMER_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    HAS_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    HAS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    HAS_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    CA_CERTIFICATES_PEM_FIELD_NUMBER: _ClassVar[int]
    server_url: str
    stream: str
    subject: str
    durable_consumer: str
    user: str
    password: str
    has_password: bool
    token: str
    has_token: bool
    credentials: str
    has_credentials: bool
    ca_certificates_pem: str
    def __init__(self, server_url: _Optional[str] = ..., stream: _Optional[str] = ..., subject: _Optional[str] = ..., durable_consumer: _Optional[str] = ..., user: _Optional[str] = ..., password: _Optional[str] = ..., has_password: _Optional[bool] = ..., token: _Optional[str] = ..., has_token: _Optional[bool] = ..., credentials: _Optional[str] = ..., has_credentials: _Optional[bool] = ..., ca_certificates_pem: _Optional[str] = ...) -> None: ...
