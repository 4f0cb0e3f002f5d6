"""Run the model management service: ``python -m services.models`` (configured by ``AIPLAT_MODELS_*``)."""

from __future__ import annotations

import services.runtime.grpc_core  # noqa: F401 - first: gRPC's core reads its options as grpc loads
from services.models.lifecycle import ModelsApp
from services.models.servicer import METHOD_ROLES, register
from services.models.settings import SERVICE_NAME, ModelsSettings
from services.runtime.server import ServiceOptions, ServiceServer, run_service


def main() -> None:
    settings = ModelsSettings()
    app = ModelsApp(settings)

    async def on_started(server: ServiceServer) -> None:
        await app.start(server)

    try:
        run_service(
            SERVICE_NAME,
            settings,
            register(app),
            ServiceOptions(method_roles=METHOD_ROLES, on_started=on_started, on_stopping=app.end_streams),
        )
    finally:
        app.dispose()


if __name__ == "__main__":
    main()
