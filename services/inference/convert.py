"""ModelInfer messages to the core's types and back: the per-request path, kept lean.

Inputs come either all as ``raw_input_contents`` (one entry per input, in
order; decoded as views of those bytes by :mod:`.validation`) or all as typed
``contents``.  Responses always carry ``raw_output_contents``, which every
Triton and KServe client reads, and cost one copy per output instead of a
Python object per element.
"""

from __future__ import annotations

from collections.abc import Sequence

from inference import grpc_service_pb2 as pb
from services.inference.errors import InvalidInput
from services.inference.tensors import DATATYPES, encode_raw
from services.inference.validation import InputTensor
from services.inference.version import InferenceResult
from services.runtime.errors import DomainError, FieldViolation, InvalidArgument
from services.runtime.transport.errors import MESSAGE_BUDGET, clip_text

__all__ = ["infer_response", "request_inputs", "requested_outputs", "stream_error"]

_OutputTensor = pb.ModelInferResponse.InferOutputTensor
_InputTensor = pb.ModelInferRequest.InferInputTensor


def request_inputs(request: pb.ModelInferRequest) -> list[InputTensor]:
    """The request's inputs for :meth:`.repository.ModelRepository.infer`."""
    tensors = request.inputs
    raw = request.raw_input_contents
    if not raw:
        return [_typed(tensor) for tensor in tensors]
    if len(raw) != len(tensors):
        message = f"holds {len(raw)} entries for {len(tensors)} inputs; give one per input, in order"
        raise InvalidArgument(
            f"raw_input_contents {message}",
            violations=[FieldViolation("raw_input_contents", message, "RAW_CONTENTS_MISMATCH")],
            reason="RAW_CONTENTS_MISMATCH",
        )
    inputs = []
    for tensor, data in zip(tensors, raw, strict=True):
        if tensor.HasField("contents"):
            raise InvalidInput(
                tensor.name,
                "carries typed contents while the request uses raw_input_contents; use one or the other",
                reason="CONFLICTING_DATA",
            )
        inputs.append(InputTensor(tensor.name, tensor.datatype, tensor.shape, raw=data))
    return inputs


def _typed(tensor: _InputTensor) -> InputTensor:
    if not tensor.HasField("contents"):
        return InputTensor(tensor.name, tensor.datatype, tensor.shape)  # MISSING_DATA, or UNKNOWN_INPUT
    dt = DATATYPES.get(tensor.datatype)
    field = dt.contents_field if dt is not None else None
    # An unknown datatype, or one the protocol has no typed field for, is reported by the
    # validator in its order (UNKNOWN_INPUT, DATATYPE_MISMATCH, then CONTENTS_UNSUPPORTED).
    contents: Sequence[object] = getattr(tensor.contents, field) if field is not None else ()
    return InputTensor(tensor.name, tensor.datatype, tensor.shape, contents=contents)


def requested_outputs(request: pb.ModelInferRequest) -> list[str]:
    """Names of the outputs asked for; empty means all of them."""
    return [output.name for output in request.outputs]


def infer_response(result: InferenceResult, request_id: str) -> pb.ModelInferResponse:
    """The response carrying ``result``'s outputs as raw contents."""
    tensors = []
    raw = []
    for output in result.outputs:
        data = output.data
        tensors.append(_OutputTensor(name=output.name, datatype=output.datatype, shape=data.shape))
        raw.append(encode_raw(DATATYPES[output.datatype], data))
    return pb.ModelInferResponse(
        model_name=result.model_name,
        model_version=result.model_version,
        id=request_id,
        outputs=tensors,
        raw_output_contents=raw,
    )


def stream_error(request: pb.ModelInferRequest, error: DomainError) -> pb.ModelStreamInferResponse:
    """A stream's answer to one failed request: the error, and which request it was.

    Clipped as a unary call's status is: messages echo what the client sent (a name of megabytes), and
    an answer larger than the client accepts would end the whole stream on its side.
    """
    suffix = f" [{error.reason}]"
    return pb.ModelStreamInferResponse(
        error_message=clip_text(error.message, MESSAGE_BUDGET - len(suffix)) + suffix,
        infer_response=pb.ModelInferResponse(
            model_name=clip_text(request.model_name),
            model_version=clip_text(request.model_version),
            id=request.id,
        ),
    )
