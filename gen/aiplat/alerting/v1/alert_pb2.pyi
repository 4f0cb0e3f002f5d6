import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Comparison(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPARISON_UNSPECIFIED: _ClassVar[Comparison]
    COMPARISON_GT: _ClassVar[Comparison]
    COMPARISON_GE: _ClassVar[Comparison]
    COMPARISON_LT: _ClassVar[Comparison]
    COMPARISON_LE: _ClassVar[Comparison]
    COMPARISON_EQ: _ClassVar[Comparison]
    COMPARISON_NE: _ClassVar[Comparison]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_INFO: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
    SEVERITY_CRITICAL: _ClassVar[Severity]

class AlertRuleState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_RULE_STATE_UNSPECIFIED: _ClassVar[AlertRuleState]
    ALERT_RULE_STATE_OK: _ClassVar[AlertRuleState]
    ALERT_RULE_STATE_PENDING: _ClassVar[AlertRuleState]
    ALERT_RULE_STATE_FIRING: _ClassVar[AlertRuleState]

class AlertState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_STATE_UNSPECIFIED: _ClassVar[AlertState]
    ALERT_STATE_FIRING: _ClassVar[AlertState]
    ALERT_STATE_RESOLVED: _ClassVar[AlertState]

class NotificationEvent(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOTIFICATION_EVENT_UNSPECIFIED: _ClassVar[NotificationEvent]
    NOTIFICATION_EVENT_FIRING: _ClassVar[NotificationEvent]
    NOTIFICATION_EVENT_REPEAT: _ClassVar[NotificationEvent]
    NOTIFICATION_EVENT_RESOLVED: _ClassVar[NotificationEvent]

class SilenceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SILENCE_STATE_UNSPECIFIED: _ClassVar[SilenceState]
    SILENCE_STATE_PENDING: _ClassVar[SilenceState]
    SILENCE_STATE_ACTIVE: _ClassVar[SilenceState]
    SILENCE_STATE_EXPIRED: _ClassVar[SilenceState]

class LabelMatchType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LABEL_MATCH_TYPE_UNSPECIFIED: _ClassVar[LabelMatchType]
    LABEL_MATCH_TYPE_EQUAL: _ClassVar[LabelMatchType]
    LABEL_MATCH_TYPE_NOT_EQUAL: _ClassVar[LabelMatchType]
    LABEL_MATCH_TYPE_REGEX: _ClassVar[LabelMatchType]
    LABEL_MATCH_TYPE_NOT_REGEX: _ClassVar[LabelMatchType]
COMPARISON_UNSPECIFIED: Comparison
COMPARISON_GT: Comparison
COMPARISON_GE: Comparison
COMPARISON_LT: Comparison
COMPARISON_LE: Comparison
COMPARISON_EQ: Comparison
COMPARISON_NE: Comparison
SEVERITY_UNSPECIFIED: Severity
SEVERITY_INFO: Severity
SEVERITY_WARNING: Severity
SEVERITY_CRITICAL: Severity
ALERT_RULE_STATE_UNSPECIFIED: AlertRuleState
ALERT_RULE_STATE_OK: AlertRuleState
ALERT_RULE_STATE_PENDING: AlertRuleState
ALERT_RULE_STATE_FIRING: AlertRuleState
ALERT_STATE_UNSPECIFIED: AlertState
ALERT_STATE_FIRING: AlertState
ALERT_STATE_RESOLVED: AlertState
NOTIFICATION_EVENT_UNSPECIFIED: NotificationEvent
NOTIFICATION_EVENT_FIRING: NotificationEvent
NOTIFICATION_EVENT_REPEAT: NotificationEvent
NOTIFICATION_EVENT_RESOLVED: NotificationEvent
SILENCE_STATE_UNSPECIFIED: SilenceState
SILENCE_STATE_PENDING: SilenceState
SILENCE_STATE_ACTIVE: SilenceState
SILENCE_STATE_EXPIRED: SilenceState
LABEL_MATCH_TYPE_UNSPECIFIED: LabelMatchType
LABEL_MATCH_TYPE_EQUAL: LabelMatchType
LABEL_MATCH_TYPE_NOT_EQUAL: LabelMatchType
LABEL_MATCH_TYPE_REGEX: LabelMatchType
LABEL_MATCH_TYPE_NOT_REGEX: LabelMatchType

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

class AlertRule(_message.Message):
    __slots__ = ("name", "display_name", "metric_selector", "promql", "comparison", "threshold", "for_duration", "evaluation_interval", "severity", "labels", "annotations", "notification_channels", "repeat_interval", "notify_on_resolve", "enabled", "state", "last_evaluation_time", "last_evaluation_error", "creator", "create_time", "update_time", "etag")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class AnnotationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    METRIC_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    PROMQL_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    FOR_DURATION_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    REPEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    NOTIFY_ON_RESOLVE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_EVALUATION_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_EVALUATION_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    metric_selector: MetricSelector
    promql: str
    comparison: Comparison
    threshold: float
    for_duration: _duration_pb2.Duration
    evaluation_interval: _duration_pb2.Duration
    severity: Severity
    labels: _containers.ScalarMap[str, str]
    annotations: _containers.ScalarMap[str, str]
    notification_channels: _containers.RepeatedScalarFieldContainer[str]
    repeat_interval: _duration_pb2.Duration
    notify_on_resolve: bool
    enabled: bool
    state: AlertRuleState
    last_evaluation_time: _timestamp_pb2.Timestamp
    last_evaluation_error: str
    creator: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., metric_selector: _Optional[_Union[MetricSelector, _Mapping]] = ..., promql: _Optional[str] = ..., comparison: _Optional[_Union[Comparison, str]] = ..., threshold: _Optional[float] = ..., for_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., evaluation_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., severity: _Optional[_Union[Severity, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., annotations: _Optional[_Mapping[str, str]] = ..., notification_channels: _Optional[_Iterable[str]] = ..., repeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., notify_on_resolve: _Optional[bool] = ..., enabled: _Optional[bool] = ..., state: _Optional[_Union[AlertRuleState, str]] = ..., last_evaluation_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_evaluation_error: _Optional[str] = ..., creator: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class NotificationRecord(_message.Message):
    __slots__ = ("channel", "send_time", "event", "success", "error")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SEND_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    channel: str
    send_time: _timestamp_pb2.Timestamp
    event: NotificationEvent
    success: bool
    error: str
    def __init__(self, channel: _Optional[str] = ..., send_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event: _Optional[_Union[NotificationEvent, str]] = ..., success: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("name", "rule", "severity", "state", "labels", "annotations", "value", "start_time", "end_time", "fingerprint", "silenced", "silenced_by", "notifications", "update_time")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class AnnotationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    SILENCED_FIELD_NUMBER: _ClassVar[int]
    SILENCED_BY_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    rule: str
    severity: Severity
    state: AlertState
    labels: _containers.ScalarMap[str, str]
    annotations: _containers.ScalarMap[str, str]
    value: float
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    fingerprint: str
    silenced: bool
    silenced_by: _containers.RepeatedScalarFieldContainer[str]
    notifications: _containers.RepeatedCompositeFieldContainer[NotificationRecord]
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., rule: _Optional[str] = ..., severity: _Optional[_Union[Severity, str]] = ..., state: _Optional[_Union[AlertState, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., annotations: _Optional[_Mapping[str, str]] = ..., value: _Optional[float] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fingerprint: _Optional[str] = ..., silenced: _Optional[bool] = ..., silenced_by: _Optional[_Iterable[str]] = ..., notifications: _Optional[_Iterable[_Union[NotificationRecord, _Mapping]]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Silence(_message.Message):
    __slots__ = ("name", "matchers", "start_time", "end_time", "creator", "comment", "state", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MATCHERS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    matchers: _containers.RepeatedCompositeFieldContainer[LabelMatcher]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    creator: str
    comment: str
    state: SilenceState
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., matchers: _Optional[_Iterable[_Union[LabelMatcher, _Mapping]]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., creator: _Optional[str] = ..., comment: _Optional[str] = ..., state: _Optional[_Union[SilenceState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
