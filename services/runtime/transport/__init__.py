"""The gRPC side of the runtime: server interceptors and outgoing channels.

Only servicers and ``__main__`` modules import from here; core code uses the
grpc-free modules of :mod:`services.runtime`.
"""
