"""The inference service: serves deployed ONNX models over the Open Inference Protocol.

The core never imports ``grpc`` or generated code; the servicer converts
protobuf messages to the domain types here and back.

* :mod:`.tensors` -- protocol datatypes and the raw/typed tensor codecs;
* :mod:`.signature` -- a version's inputs and outputs;
* :mod:`.validation` -- request checks, decoding inputs before they queue;
* :mod:`.preprocessing` -- image preprocessing written once for NumPy and CuPy;
* :mod:`.sessions` -- ONNX Runtime sessions on CPU or CUDA (I/O binding);
* :mod:`.execution`, :mod:`.batcher` -- dynamic batching over N instances;
* :mod:`.stats` -- Triton-shaped statistics and the observer hook for metrics and spans;
* :mod:`.traffic` -- weighted version choice;
* :mod:`.artifacts` -- checksum-verified local artifact cache;
* :mod:`.version`, :mod:`.deployment`, :mod:`.repository` -- loading, routing,
  swapping and draining versions per deployment;
* :mod:`.errors` -- domain errors with stable reasons;
* :mod:`.wanted`, :mod:`.controller` -- what model management wants served,
  reconciled into the repository deployment by deployment;
* :mod:`.telemetry` -- Triton-named metrics read at scrape time, batch spans.

Around the core, on the side where gRPC and generated code are used:

* :mod:`.servicer` with :mod:`.convert` and :mod:`.convert_models` -- the
  ``inference.GRPCInferenceService`` RPCs;
* :mod:`.follower`, :mod:`.reporter`, :mod:`.convert_deployments` -- the
  deployment watch, version lookups and status reports to model management;
* :mod:`.app`, :mod:`.settings`, :mod:`.workers`, :mod:`.worker_metrics`,
  ``__main__`` -- the process: one, or several workers on one port.

Importing the package imports nothing else, so each module pulls in only
what it needs.
"""
