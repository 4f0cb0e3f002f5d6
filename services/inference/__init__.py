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
* :mod:`.errors` -- domain errors with stable reasons.

Importing the package imports nothing else, so each module pulls in only
what it needs.
"""
