"""The shared service runtime of aiplat.

Every service builds its process from these modules instead of copying
helpers.  They split along the rule that a service's core never imports
``grpc``:

* importable from core code (no ``grpc``): :mod:`.errors` (domain errors),
  :mod:`.auth` (``Identity``, ``Role``, ``current_identity()``),
  :mod:`.settings`, :mod:`.logging`, :mod:`.store`;
* transport, used by ``servicer.py`` and ``__main__.py``: :mod:`.server`
  (``create_server``, ``run_service``), :mod:`.transport` (interceptors,
  outgoing channels), :mod:`.metrics`, :mod:`.tracing`.

This package deliberately re-exports nothing, so that importing
``services.runtime.errors`` does not drag ``grpc`` into a core module.
"""
