"""Run the inference service: ``python -m services.inference`` (configured by ``AIPLAT_INFERENCE_*``).

With ``workers`` > 1 this process becomes the parent of that many worker
processes sharing its port (see :mod:`.workers`); otherwise it serves itself.
"""

from __future__ import annotations

import services.runtime.grpc_core  # noqa: F401 - first: gRPC's core reads its options as grpc loads
from services.inference.app import serve
from services.inference.settings import InferenceSettings
from services.inference.workers import run_workers


def main() -> None:
    settings = InferenceSettings()
    if settings.workers > 1:
        raise SystemExit(run_workers(settings))
    serve(settings)


if __name__ == "__main__":
    main()
