"""The floor of the direct gRPC rows: bare asyncio gRPC servers repeating one ModelInfer reply."""

from __future__ import annotations

from pathlib import Path

import grpc

from benchmarks.bare_grpc import bare_grpc
from benchmarks.process_cpu import cpu_by_role
from inference import grpc_service_pb2 as pb
from inference import grpc_service_pb2_grpc


def test_each_bare_server_answers_every_call_with_the_reply_it_was_given(tmp_path: Path) -> None:
    # One model after another, in one scratch folder, as the benchmark runs them.
    for model in ("scorer", "ranker"):
        reply = pb.ModelInferResponse(model_name=model, raw_output_contents=[b"\x00\x00\x80?"])
        with bare_grpc(reply.SerializeToString(), 2, tmp_path) as servers:
            assert len(set(servers.addresses)) == 2
            for address in servers.addresses:
                with grpc.insecure_channel(address) as channel:
                    stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
                    for name in (model, "anything"):
                        answer = stub.ModelInfer(pb.ModelInferRequest(model_name=name), timeout=10)
                        assert answer == reply
            # Their CPU counts as the inference service's, which they stand in for.
            assert {role for pid in servers.pids for role in cpu_by_role(pid)} == {"inference"}
        for pid in servers.pids:  # stopped with the block
            assert b"benchmarks.bare_grpc" not in _command_line(pid)


def _command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
