"""Type aliases for grpc classes that the stubs make generic but the runtime does not.

``grpc.aio.ServerInterceptor[Any, Any]`` type-checks but fails when
evaluated, so base classes go through these names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

if TYPE_CHECKING:
    ServerInterceptor: TypeAlias = grpc.aio.ServerInterceptor[Any, Any]
    UnaryUnaryClientInterceptor: TypeAlias = grpc.aio.UnaryUnaryClientInterceptor[Any, Any]
    UnaryStreamClientInterceptor: TypeAlias = grpc.aio.UnaryStreamClientInterceptor[Any, Any]
    StreamUnaryClientInterceptor: TypeAlias = grpc.aio.StreamUnaryClientInterceptor[Any, Any]
    StreamStreamClientInterceptor: TypeAlias = grpc.aio.StreamStreamClientInterceptor[Any, Any]
else:
    ServerInterceptor = grpc.aio.ServerInterceptor
    UnaryUnaryClientInterceptor = grpc.aio.UnaryUnaryClientInterceptor
    UnaryStreamClientInterceptor = grpc.aio.UnaryStreamClientInterceptor
    StreamUnaryClientInterceptor = grpc.aio.StreamUnaryClientInterceptor
    StreamStreamClientInterceptor = grpc.aio.StreamStreamClientInterceptor

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
