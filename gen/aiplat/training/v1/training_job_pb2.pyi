import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrainingJobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRAINING_JOB_STATE_UNSPECIFIED: _ClassVar[TrainingJobState]
    TRAINING_JOB_STATE_QUEUED: _ClassVar[TrainingJobState]
    TRAINING_JOB_STATE_RUNNING: _ClassVar[TrainingJobState]
    TRAINING_JOB_STATE_SUCCEEDED: _ClassVar[TrainingJobState]
    TRAINING_JOB_STATE_FAILED: _ClassVar[TrainingJobState]
    TRAINING_JOB_STATE_CANCELLING: _ClassVar[TrainingJobState]
    TRAINING_JOB_STATE_CANCELLED: _ClassVar[TrainingJobState]

class TrialState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIAL_STATE_UNSPECIFIED: _ClassVar[TrialState]
    TRIAL_STATE_PENDING: _ClassVar[TrialState]
    TRIAL_STATE_RUNNING: _ClassVar[TrialState]
    TRIAL_STATE_SUCCEEDED: _ClassVar[TrialState]
    TRIAL_STATE_FAILED: _ClassVar[TrialState]
    TRIAL_STATE_CANCELLED: _ClassVar[TrialState]

class SearchAlgorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_ALGORITHM_UNSPECIFIED: _ClassVar[SearchAlgorithm]
    SEARCH_ALGORITHM_GRID: _ClassVar[SearchAlgorithm]
    SEARCH_ALGORITHM_RANDOM: _ClassVar[SearchAlgorithm]

class ObjectiveGoal(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OBJECTIVE_GOAL_UNSPECIFIED: _ClassVar[ObjectiveGoal]
    OBJECTIVE_GOAL_MAXIMIZE: _ClassVar[ObjectiveGoal]
    OBJECTIVE_GOAL_MINIMIZE: _ClassVar[ObjectiveGoal]

class LogSeverity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_SEVERITY_UNSPECIFIED: _ClassVar[LogSeverity]
    LOG_SEVERITY_DEBUG: _ClassVar[LogSeverity]
    LOG_SEVERITY_INFO: _ClassVar[LogSeverity]
    LOG_SEVERITY_WARNING: _ClassVar[LogSeverity]
    LOG_SEVERITY_ERROR: _ClassVar[LogSeverity]
TRAINING_JOB_STATE_UNSPECIFIED: TrainingJobState
TRAINING_JOB_STATE_QUEUED: TrainingJobState
TRAINING_JOB_STATE_RUNNING: TrainingJobState
TRAINING_JOB_STATE_SUCCEEDED: TrainingJobState
TRAINING_JOB_STATE_FAILED: TrainingJobState
TRAINING_JOB_STATE_CANCELLING: TrainingJobState
TRAINING_JOB_STATE_CANCELLED: TrainingJobState
TRIAL_STATE_UNSPECIFIED: TrialState
TRIAL_STATE_PENDING: TrialState
TRIAL_STATE_RUNNING: TrialState
TRIAL_STATE_SUCCEEDED: TrialState
TRIAL_STATE_FAILED: TrialState
TRIAL_STATE_CANCELLED: TrialState
SEARCH_ALGORITHM_UNSPECIFIED: SearchAlgorithm
SEARCH_ALGORITHM_GRID: SearchAlgorithm
SEARCH_ALGORITHM_RANDOM: SearchAlgorithm
OBJECTIVE_GOAL_UNSPECIFIED: ObjectiveGoal
OBJECTIVE_GOAL_MAXIMIZE: ObjectiveGoal
OBJECTIVE_GOAL_MINIMIZE: ObjectiveGoal
LOG_SEVERITY_UNSPECIFIED: LogSeverity
LOG_SEVERITY_DEBUG: LogSeverity
LOG_SEVERITY_INFO: LogSeverity
LOG_SEVERITY_WARNING: LogSeverity
LOG_SEVERITY_ERROR: LogSeverity

class TrainingJob(_message.Message):
    __slots__ = ("name", "display_name", "description", "labels", "dataset", "target_column", "feature_columns", "validation_split", "seed", "sklearn", "pytorch", "hyperparameters", "hyperparameter_search", "resources", "max_run_duration", "output_model", "state", "error", "model_version", "metrics", "trials", "best_trial_id", "allocation", "effective_seed", "creator", "create_time", "start_time", "end_time", "update_time")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class HyperparametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    TARGET_COLUMN_FIELD_NUMBER: _ClassVar[int]
    FEATURE_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_SPLIT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SKLEARN_FIELD_NUMBER: _ClassVar[int]
    PYTORCH_FIELD_NUMBER: _ClassVar[int]
    HYPERPARAMETERS_FIELD_NUMBER: _ClassVar[int]
    HYPERPARAMETER_SEARCH_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    MAX_RUN_DURATION_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_MODEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    BEST_TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_SEED_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    labels: _containers.ScalarMap[str, str]
    dataset: str
    target_column: str
    feature_columns: _containers.RepeatedScalarFieldContainer[str]
    validation_split: float
    seed: int
    sklearn: SklearnTrainer
    pytorch: PytorchTrainer
    hyperparameters: _containers.MessageMap[str, _struct_pb2.Value]
    hyperparameter_search: HyperparameterSearch
    resources: ResourceRequirements
    max_run_duration: _duration_pb2.Duration
    output_model: OutputModel
    state: TrainingJobState
    error: _status_pb2.Status
    model_version: str
    metrics: _containers.ScalarMap[str, float]
    trials: _containers.RepeatedCompositeFieldContainer[Trial]
    best_trial_id: str
    allocation: str
    effective_seed: int
    creator: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., dataset: _Optional[str] = ..., target_column: _Optional[str] = ..., feature_columns: _Optional[_Iterable[str]] = ..., validation_split: _Optional[float] = ..., seed: _Optional[int] = ..., sklearn: _Optional[_Union[SklearnTrainer, _Mapping]] = ..., pytorch: _Optional[_Union[PytorchTrainer, _Mapping]] = ..., hyperparameters: _Optional[_Mapping[str, _struct_pb2.Value]] = ..., hyperparameter_search: _Optional[_Union[HyperparameterSearch, _Mapping]] = ..., resources: _Optional[_Union[ResourceRequirements, _Mapping]] = ..., max_run_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., output_model: _Optional[_Union[OutputModel, _Mapping]] = ..., state: _Optional[_Union[TrainingJobState, str]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., model_version: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ..., trials: _Optional[_Iterable[_Union[Trial, _Mapping]]] = ..., best_trial_id: _Optional[str] = ..., allocation: _Optional[str] = ..., effective_seed: _Optional[int] = ..., creator: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SklearnTrainer(_message.Message):
    __slots__ = ("estimator_class", "onnx_opset")
    ESTIMATOR_CLASS_FIELD_NUMBER: _ClassVar[int]
    ONNX_OPSET_FIELD_NUMBER: _ClassVar[int]
    estimator_class: str
    onnx_opset: int
    def __init__(self, estimator_class: _Optional[str] = ..., onnx_opset: _Optional[int] = ...) -> None: ...

class PytorchTrainer(_message.Message):
    __slots__ = ("entrypoint_source", "artifact_uri", "artifact_sha256", "module", "function", "onnx_opset")
    ENTRYPOINT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_URI_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_SHA256_FIELD_NUMBER: _ClassVar[int]
    MODULE_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    ONNX_OPSET_FIELD_NUMBER: _ClassVar[int]
    entrypoint_source: str
    artifact_uri: str
    artifact_sha256: str
    module: str
    function: str
    onnx_opset: int
    def __init__(self, entrypoint_source: _Optional[str] = ..., artifact_uri: _Optional[str] = ..., artifact_sha256: _Optional[str] = ..., module: _Optional[str] = ..., function: _Optional[str] = ..., onnx_opset: _Optional[int] = ...) -> None: ...

class HyperparameterSearch(_message.Message):
    __slots__ = ("parameters", "algorithm", "max_trials", "max_parallel_trials", "objective_metric", "goal")
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    MAX_TRIALS_FIELD_NUMBER: _ClassVar[int]
    MAX_PARALLEL_TRIALS_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_METRIC_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    parameters: _containers.RepeatedCompositeFieldContainer[HyperparameterSpec]
    algorithm: SearchAlgorithm
    max_trials: int
    max_parallel_trials: int
    objective_metric: str
    goal: ObjectiveGoal
    def __init__(self, parameters: _Optional[_Iterable[_Union[HyperparameterSpec, _Mapping]]] = ..., algorithm: _Optional[_Union[SearchAlgorithm, str]] = ..., max_trials: _Optional[int] = ..., max_parallel_trials: _Optional[int] = ..., objective_metric: _Optional[str] = ..., goal: _Optional[_Union[ObjectiveGoal, str]] = ...) -> None: ...

class HyperparameterSpec(_message.Message):
    __slots__ = ("name", "integer_range", "double_range", "categorical")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INTEGER_RANGE_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_RANGE_FIELD_NUMBER: _ClassVar[int]
    CATEGORICAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    integer_range: IntegerRange
    double_range: DoubleRange
    categorical: CategoricalValues
    def __init__(self, name: _Optional[str] = ..., integer_range: _Optional[_Union[IntegerRange, _Mapping]] = ..., double_range: _Optional[_Union[DoubleRange, _Mapping]] = ..., categorical: _Optional[_Union[CategoricalValues, _Mapping]] = ...) -> None: ...

class IntegerRange(_message.Message):
    __slots__ = ("min_value", "max_value", "step")
    MIN_VALUE_FIELD_NUMBER: _ClassVar[int]
    MAX_VALUE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    min_value: int
    max_value: int
    step: int
    def __init__(self, min_value: _Optional[int] = ..., max_value: _Optional[int] = ..., step: _Optional[int] = ...) -> None: ...

class DoubleRange(_message.Message):
    __slots__ = ("min_value", "max_value", "log_scale", "grid_point_count")
    MIN_VALUE_FIELD_NUMBER: _ClassVar[int]
    MAX_VALUE_FIELD_NUMBER: _ClassVar[int]
    LOG_SCALE_FIELD_NUMBER: _ClassVar[int]
    GRID_POINT_COUNT_FIELD_NUMBER: _ClassVar[int]
    min_value: float
    max_value: float
    log_scale: bool
    grid_point_count: int
    def __init__(self, min_value: _Optional[float] = ..., max_value: _Optional[float] = ..., log_scale: _Optional[bool] = ..., grid_point_count: _Optional[int] = ...) -> None: ...

class CategoricalValues(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Value]
    def __init__(self, values: _Optional[_Iterable[_Union[_struct_pb2.Value, _Mapping]]] = ...) -> None: ...

class ResourceRequirements(_message.Message):
    __slots__ = ("cpu_millicores", "memory_bytes", "gpu_count")
    CPU_MILLICORES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    GPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    cpu_millicores: int
    memory_bytes: int
    gpu_count: int
    def __init__(self, cpu_millicores: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., gpu_count: _Optional[int] = ...) -> None: ...

class OutputModel(_message.Message):
    __slots__ = ("model", "version_description", "version_labels")
    class VersionLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VERSION_LABELS_FIELD_NUMBER: _ClassVar[int]
    model: str
    version_description: str
    version_labels: _containers.ScalarMap[str, str]
    def __init__(self, model: _Optional[str] = ..., version_description: _Optional[str] = ..., version_labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Trial(_message.Message):
    __slots__ = ("trial_id", "parameters", "metrics", "state", "error", "start_time", "end_time")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    trial_id: str
    parameters: _containers.MessageMap[str, _struct_pb2.Value]
    metrics: _containers.ScalarMap[str, float]
    state: TrialState
    error: _status_pb2.Status
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, trial_id: _Optional[str] = ..., parameters: _Optional[_Mapping[str, _struct_pb2.Value]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., state: _Optional[_Union[TrialState, str]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TrainingJobOperationMetadata(_message.Message):
    __slots__ = ("training_job", "state", "progress_fraction", "completed_trial_count", "total_trial_count", "create_time", "update_time")
    TRAINING_JOB_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FRACTION_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_TRIAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TRIAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    training_job: str
    state: TrainingJobState
    progress_fraction: float
    completed_trial_count: int
    total_trial_count: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, training_job: _Optional[str] = ..., state: _Optional[_Union[TrainingJobState, str]] = ..., progress_fraction: _Optional[float] = ..., completed_trial_count: _Optional[int] = ..., total_trial_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("time", "severity", "message", "trial_id")
    TIME_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    severity: LogSeverity
    message: str
    trial_id: str
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., severity: _Optional[_Union[LogSeverity, str]] = ..., message: _Optional[str] = ..., trial_id: _Optional[str] = ...) -> None: ...

class MetricPoint(_message.Message):
    __slots__ = ("name", "step", "value", "time", "trial_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    step: int
    value: float
    time: _timestamp_pb2.Timestamp
    trial_id: str
    def __init__(self, name: _Optional[str] = ..., step: _Optional[int] = ..., value: _Optional[float] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trial_id: _Optional[str] = ...) -> None: ...
