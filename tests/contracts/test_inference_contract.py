"""The `inference` contract is wire-compatible with the published Open Inference Protocol.

Stock Triton and KServe clients talk to the inference service, so every RPC and
every message reachable from the served RPCs must carry the same names, field
numbers, types, labels, oneofs and map entries as the published definitions:

* Triton's grpc_service.proto and model_config.proto, read from the serialized
  descriptors that the installed ``tritonclient`` package embeds;
* KServe's V2 protocol (docs/predict-api/v2/grpc_predict_v2.proto in
  kserve/kserve), transcribed below as a table of facts.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import pytest
from google.protobuf import descriptor_pb2

from inference import grpc_service_pb2, model_config_pb2

_Fdp = descriptor_pb2.FieldDescriptorProto

SERVICE = "inference.GRPCInferenceService"

# The RPCs the inference service serves; Triton's shared-memory, trace and
# log-settings RPCs are deliberately absent.
SERVED_RPCS = (
    "ServerLive",
    "ServerReady",
    "ModelReady",
    "ServerMetadata",
    "ModelMetadata",
    "ModelInfer",
    "ModelStreamInfer",
    "ModelConfig",
    "ModelStatistics",
    "RepositoryIndex",
    "RepositoryModelLoad",
    "RepositoryModelUnload",
)

# Messages model_config.proto defines only in part, with the fields the subset
# must always contain. Every other message must match Triton's completely.
PARTIAL_MESSAGES: dict[str, frozenset[str]] = {
    "inference.ModelConfig": frozenset(
        {
            "name",
            "platform",
            "backend",
            "version_policy",
            "max_batch_size",
            "input",
            "output",
            "dynamic_batching",
            "instance_group",
            "parameters",
        }
    ),
    "inference.ModelInstanceGroup": frozenset({"name", "kind", "count", "gpus"}),
}


@dataclass(frozen=True)
class FieldFacts:
    """Everything about a field that decides its wire and JSON encoding."""

    number: int
    label: str
    type: str
    type_name: str
    oneof: str | None
    proto3_optional: bool
    packed: bool | None
    json_name: str


@dataclass(frozen=True)
class MessageFacts:
    fields: Mapping[str, FieldFacts]
    map_entry: bool


@dataclass(frozen=True)
class MethodFacts:
    input_type: str
    output_type: str
    client_streaming: bool
    server_streaming: bool


@dataclass(frozen=True)
class Schema:
    """The messages, enums and methods of a set of files, by full name."""

    messages: Mapping[str, MessageFacts]
    enums: Mapping[str, Mapping[str, int]]
    methods: Mapping[str, Mapping[str, MethodFacts]]


def _default_json_name(name: str) -> str:
    """The proto3 JSON name protoc derives from a field name (lowerCamelCase)."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _field_facts(field: descriptor_pb2.FieldDescriptorProto, oneofs: list[str]) -> FieldFacts:
    return FieldFacts(
        number=field.number,
        label=_Fdp.Label.Name(field.label),
        type=_Fdp.Type.Name(field.type),
        type_name=field.type_name.removeprefix("."),
        oneof=oneofs[field.oneof_index] if field.HasField("oneof_index") else None,
        proto3_optional=field.proto3_optional,
        packed=field.options.packed if field.options.HasField("packed") else None,
        json_name=field.json_name or _default_json_name(field.name),
    )


def _collect_message(
    message: descriptor_pb2.DescriptorProto,
    prefix: str,
    messages: dict[str, MessageFacts],
    enums: dict[str, Mapping[str, int]],
) -> None:
    full_name = f"{prefix}.{message.name}"
    oneofs = [oneof.name for oneof in message.oneof_decl]
    fields = {field.name: _field_facts(field, oneofs) for field in message.field}
    messages[full_name] = MessageFacts(fields=fields, map_entry=message.options.map_entry)
    for enum in message.enum_type:
        enums[f"{full_name}.{enum.name}"] = {value.name: value.number for value in enum.value}
    for nested in message.nested_type:
        _collect_message(nested, full_name, messages, enums)


def _schema(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> Schema:
    messages: dict[str, MessageFacts] = {}
    enums: dict[str, Mapping[str, int]] = {}
    methods: dict[str, Mapping[str, MethodFacts]] = {}
    for file in files:
        for enum in file.enum_type:
            enums[f"{file.package}.{enum.name}"] = {value.name: value.number for value in enum.value}
        for message in file.message_type:
            _collect_message(message, file.package, messages, enums)
        for service in file.service:
            methods[f"{file.package}.{service.name}"] = {
                method.name: MethodFacts(
                    input_type=method.input_type.removeprefix("."),
                    output_type=method.output_type.removeprefix("."),
                    client_streaming=method.client_streaming,
                    server_streaming=method.server_streaming,
                )
                for method in service.method
            }
    return Schema(messages=messages, enums=enums, methods=methods)


def _reachable(
    schema: Schema, roots: Iterable[str], follows: Callable[[str, str], bool] = lambda _m, _f: True
) -> set[str]:
    """Full names of the messages and enums reachable from `roots` through fields that `follows`."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in schema.messages:
            pending.extend(
                field.type_name
                for field_name, field in schema.messages[name].fields.items()
                if field.type_name and follows(name, field_name)
            )
    return seen


def _rpc_roots(schema: Schema) -> list[str]:
    """Request and response types of the served RPCs the schema defines (the RPC test reports gaps)."""
    methods = schema.methods.get(SERVICE, {})
    served = [methods[rpc] for rpc in SERVED_RPCS if rpc in methods]
    return [name for method in served for name in (method.input_type, method.output_type)]


def _message_differences(ours: MessageFacts, theirs: MessageFacts, *, partial: bool) -> list[str]:
    """What in `ours` disagrees with `theirs`; a partial message may leave fields out."""
    differences = [] if ours.map_entry == theirs.map_entry else [f"map_entry {ours.map_entry}"]
    for name in sorted(ours.fields.keys() | theirs.fields.keys()):
        mine, published = ours.fields.get(name), theirs.fields.get(name)
        if mine is None and partial:
            continue
        if mine != published:
            differences.append(f"{name}: ours {mine}, published {published}")
    return differences


def _serialized_file(module_path: Path) -> descriptor_pb2.FileDescriptorProto:
    """The FileDescriptorProto a generated *_pb2.py module registers, read without importing it."""
    for node in ast.walk(ast.parse(module_path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "AddSerializedFile"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, bytes)
        ):
            return descriptor_pb2.FileDescriptorProto.FromString(node.args[0].value)
    raise AssertionError(f"{module_path} registers no serialized file descriptor")


def _our_files() -> list[descriptor_pb2.FileDescriptorProto]:
    files = []
    for module in (model_config_pb2, grpc_service_pb2):
        file = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(file)
        files.append(file)
    return files


OUR_FILES = _our_files()
OURS = _schema(OUR_FILES)
OUR_REACHABLE = _reachable(OURS, _rpc_roots(OURS))
OUR_MESSAGES = sorted(OUR_REACHABLE & OURS.messages.keys())
OUR_ENUMS = sorted(OUR_REACHABLE & OURS.enums.keys())


@pytest.fixture(scope="module")
def triton_files() -> list[descriptor_pb2.FileDescriptorProto]:
    spec = importlib.util.find_spec("tritonclient")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("tritonclient is not installed, so Triton's published descriptors are unavailable")
    grpc_dir = Path(next(iter(spec.submodule_search_locations))) / "grpc"
    return [_serialized_file(grpc_dir / name) for name in ("model_config_pb2.py", "service_pb2.py")]


@pytest.fixture(scope="module")
def triton(triton_files: list[descriptor_pb2.FileDescriptorProto]) -> Schema:
    return _schema(triton_files)


def test_files_are_proto3_in_package_inference(
    triton_files: list[descriptor_pb2.FileDescriptorProto],
) -> None:
    for file in [*OUR_FILES, *triton_files]:
        assert (file.syntax, file.package) == ("proto3", "inference"), file.name


def test_rpcs_match_triton(triton: Schema) -> None:
    published = {rpc: triton.methods[SERVICE][rpc] for rpc in SERVED_RPCS}
    assert dict(OURS.methods.get(SERVICE, {})) == published


def test_every_message_and_enum_we_define_is_reachable_from_an_rpc() -> None:
    assert (OURS.messages.keys() | OURS.enums.keys()) - OUR_REACHABLE == set()


@pytest.mark.parametrize("message", OUR_MESSAGES)
def test_message_matches_triton(triton: Schema, message: str) -> None:
    assert message in triton.messages, f"{message} is not a published Triton message"
    partial = message in PARTIAL_MESSAGES
    assert _message_differences(OURS.messages[message], triton.messages[message], partial=partial) == []


@pytest.mark.parametrize("enum", OUR_ENUMS)
def test_enum_matches_triton(triton: Schema, enum: str) -> None:
    assert dict(OURS.enums[enum]) == dict(triton.enums[enum])


@pytest.mark.parametrize("message", sorted(PARTIAL_MESSAGES))
def test_model_config_subset_has_its_required_fields(message: str) -> None:
    assert PARTIAL_MESSAGES[message] - OURS.messages[message].fields.keys() == set()


def test_only_fields_left_out_of_the_subset_hide_published_messages(triton: Schema) -> None:
    def defined_by_us(message: str, field: str) -> bool:
        return message not in PARTIAL_MESSAGES or field in OURS.messages[message].fields

    assert _reachable(triton, _rpc_roots(triton), defined_by_us) == OUR_REACHABLE


def test_comparison_notices_a_changed_field() -> None:
    original = OURS.messages["inference.ModelInferRequest"]
    field = original.fields["raw_input_contents"]
    flipped_label = "LABEL_OPTIONAL" if field.label == "LABEL_REPEATED" else "LABEL_REPEATED"
    for changed in (
        replace(field, number=field.number + 1),
        replace(field, type="TYPE_GROUP"),
        replace(field, label=flipped_label),
        replace(field, oneof=f"{field.oneof}_choice"),
    ):
        mutated = MessageFacts(fields={**original.fields, "raw_input_contents": changed}, map_entry=False)
        assert _message_differences(mutated, original, partial=True) != []


# --- KServe V2 ---------------------------------------------------------------
# Facts transcribed from kserve/kserve docs/predict-api/v2/grpc_predict_v2.proto
# (commit f79adf9d37f73f89703d946e176c1ab4a5c62af4). A type is a scalar name,
# a message or enum full name, "repeated <type>" or "map<key, value>".


class KServeField(NamedTuple):
    number: int
    type: str
    oneof: str | None = None


_F = KServeField
_PARAMETERS = "map<string, inference.InferParameter>"

KSERVE_V2_RPCS: dict[str, tuple[str, str]] = {
    "ServerLive": ("inference.ServerLiveRequest", "inference.ServerLiveResponse"),
    "ServerReady": ("inference.ServerReadyRequest", "inference.ServerReadyResponse"),
    "ModelReady": ("inference.ModelReadyRequest", "inference.ModelReadyResponse"),
    "ServerMetadata": ("inference.ServerMetadataRequest", "inference.ServerMetadataResponse"),
    "ModelMetadata": ("inference.ModelMetadataRequest", "inference.ModelMetadataResponse"),
    "ModelInfer": ("inference.ModelInferRequest", "inference.ModelInferResponse"),
}

KSERVE_V2_MESSAGES: dict[str, dict[str, KServeField]] = {
    "inference.ServerLiveRequest": {},
    "inference.ServerLiveResponse": {"live": _F(1, "bool")},
    "inference.ServerReadyRequest": {},
    "inference.ServerReadyResponse": {"ready": _F(1, "bool")},
    "inference.ModelReadyRequest": {"name": _F(1, "string"), "version": _F(2, "string")},
    "inference.ModelReadyResponse": {"ready": _F(1, "bool")},
    "inference.ServerMetadataRequest": {},
    "inference.ServerMetadataResponse": {
        "name": _F(1, "string"),
        "version": _F(2, "string"),
        "extensions": _F(3, "repeated string"),
    },
    "inference.ModelMetadataRequest": {"name": _F(1, "string"), "version": _F(2, "string")},
    "inference.ModelMetadataResponse.TensorMetadata": {
        "name": _F(1, "string"),
        "datatype": _F(2, "string"),
        "shape": _F(3, "repeated int64"),
    },
    "inference.ModelMetadataResponse": {
        "name": _F(1, "string"),
        "versions": _F(2, "repeated string"),
        "platform": _F(3, "string"),
        "inputs": _F(4, "repeated inference.ModelMetadataResponse.TensorMetadata"),
        "outputs": _F(5, "repeated inference.ModelMetadataResponse.TensorMetadata"),
    },
    "inference.ModelInferRequest.InferInputTensor": {
        "name": _F(1, "string"),
        "datatype": _F(2, "string"),
        "shape": _F(3, "repeated int64"),
        "parameters": _F(4, _PARAMETERS),
        "contents": _F(5, "inference.InferTensorContents"),
    },
    "inference.ModelInferRequest.InferRequestedOutputTensor": {
        "name": _F(1, "string"),
        "parameters": _F(2, _PARAMETERS),
    },
    "inference.ModelInferRequest": {
        "model_name": _F(1, "string"),
        "model_version": _F(2, "string"),
        "id": _F(3, "string"),
        "parameters": _F(4, _PARAMETERS),
        "inputs": _F(5, "repeated inference.ModelInferRequest.InferInputTensor"),
        "outputs": _F(6, "repeated inference.ModelInferRequest.InferRequestedOutputTensor"),
        "raw_input_contents": _F(7, "repeated bytes"),
    },
    "inference.ModelInferResponse.InferOutputTensor": {
        "name": _F(1, "string"),
        "datatype": _F(2, "string"),
        "shape": _F(3, "repeated int64"),
        "parameters": _F(4, _PARAMETERS),
        "contents": _F(5, "inference.InferTensorContents"),
    },
    "inference.ModelInferResponse": {
        "model_name": _F(1, "string"),
        "model_version": _F(2, "string"),
        "id": _F(3, "string"),
        "parameters": _F(4, _PARAMETERS),
        "outputs": _F(5, "repeated inference.ModelInferResponse.InferOutputTensor"),
        "raw_output_contents": _F(6, "repeated bytes"),
    },
    "inference.InferParameter": {
        "bool_param": _F(1, "bool", "parameter_choice"),
        "int64_param": _F(2, "int64", "parameter_choice"),
        "string_param": _F(3, "string", "parameter_choice"),
    },
    "inference.InferTensorContents": {
        "bool_contents": _F(1, "repeated bool"),
        "int_contents": _F(2, "repeated int32"),
        "int64_contents": _F(3, "repeated int64"),
        "uint_contents": _F(4, "repeated uint32"),
        "uint64_contents": _F(5, "repeated uint64"),
        "fp32_contents": _F(6, "repeated float"),
        "fp64_contents": _F(7, "repeated double"),
        "bytes_contents": _F(8, "repeated bytes"),
    },
}

# Fields the Triton superset adds to KServe V2 messages.
TRITON_ADDITIONS: dict[str, frozenset[str]] = {
    "inference.InferParameter": frozenset({"double_param", "uint64_param"}),
}


def _element(field: FieldFacts) -> str:
    if field.type in ("TYPE_MESSAGE", "TYPE_ENUM"):
        return field.type_name
    return field.type.removeprefix("TYPE_").lower()


def _kserve_view(field: FieldFacts, schema: Schema) -> KServeField:
    """Our field written the way the KServe table writes its facts."""
    entry = schema.messages.get(field.type_name)
    if entry is not None and entry.map_entry:
        text = f"map<{_element(entry.fields['key'])}, {_element(entry.fields['value'])}>"
    elif field.label == "LABEL_REPEATED":
        text = f"repeated {_element(field)}"
    else:
        text = _element(field)
    return KServeField(field.number, text, field.oneof)


def test_rpcs_match_kserve_v2() -> None:
    for rpc, (request, response) in KSERVE_V2_RPCS.items():
        assert OURS.methods[SERVICE][rpc] == MethodFacts(request, response, False, False)


@pytest.mark.parametrize("message", sorted(KSERVE_V2_MESSAGES))
def test_message_matches_kserve_v2(message: str) -> None:
    ours = {name: _kserve_view(field, OURS) for name, field in OURS.messages[message].fields.items()}
    for added in TRITON_ADDITIONS.get(message, frozenset()):
        ours.pop(added)
    assert ours == KSERVE_V2_MESSAGES[message]
