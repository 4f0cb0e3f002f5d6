"""Fixtures of the model management tests: a store on SQLite and PostgreSQL, artifact storage, a caller.

The store is opened once per backend and session; every test gets a tenant
of its own, which isolates it completely because every row is tenant-scoped.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import fsspec
import grpc
import psycopg
import pytest

from services.models.artifacts import ArtifactStorage
from services.models.core import ModelsCore
from services.models.lifecycle import ModelsApp
from services.models.servicer import METHOD_ROLES, register
from services.models.settings import ModelsSettings
from services.models.store import open_store
from services.runtime.auth import Identity, Role, bind_identity
from services.runtime.devkeys import DevKeys, mint_token
from services.runtime.server import create_server
from services.runtime.store import Database
from tests.grpc_helpers import Metadata

from .grpc_support import Running

POSTGRES_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=2"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_database() -> Iterator[str]:
    try:
        admin = psycopg.connect(POSTGRES_DSN, autocommit=True)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 (user postgres, database test) is unreachable: {error}")
    name = f"aiplat_models_{uuid.uuid4().hex[:12]}"
    with admin:
        # A database of its own, because its default collation is what matters: production databases
        # are created with a language's (en_US.UTF-8 and the like), which sorts and compares text unlike
        # SQLite; the "test" database's C.UTF-8 would hide every such difference.
        admin.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING UTF8 '
            "LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        )
        try:
            yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a migrated store, once per backend and session."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'models.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture(scope="session")
def database(store_url: str) -> Iterator[Database]:
    db = open_store(store_url)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def second_database(store_url: str) -> Iterator[Database]:
    """The same store as ``database``, through a connection pool of its own (another process's)."""
    db = open_store(store_url)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def caller(tenant: str) -> Iterator[Identity]:
    """The test runs as alice, an editor of its own tenant."""
    identity = Identity(subject="alice", tenant=tenant, roles=frozenset({Role.EDITOR}))
    with bind_identity(identity):
        yield identity


@pytest.fixture
def storage() -> Iterator[ArtifactStorage]:
    """Artifact storage in fsspec's in-memory filesystem, private to the test."""
    root = f"memory://artifacts-{uuid.uuid4().hex[:10]}"
    yield ArtifactStorage(root)
    memory = fsspec.filesystem("memory")
    if memory.exists(root):
        memory.rm(root, recursive=True)


@pytest.fixture
def staging_dir(tmp_path: Path) -> Path:
    return tmp_path / "staging"


@pytest.fixture
async def core(database: Database, storage: ArtifactStorage, staging_dir: Path) -> AsyncIterator[ModelsCore]:
    built = ModelsCore.build(database, storage, staging_dir=staging_dir, max_upload_bytes=1024 * 1024)
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One SQLite store for the gRPC tests; they isolate by tenant like the others."""
    db = open_store(f"sqlite:///{tmp_path_factory.mktemp('grpc-store') / 'models.db'}")
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def models_settings(tmp_path: Path, dev_keys: DevKeys) -> ModelsSettings:
    """Settings of a test server; every field a stray environment variable could change is explicit."""
    return ModelsSettings(
        host="127.0.0.1",
        port=0,
        metrics_port=-1,
        data_dir=tmp_path / "data",
        database_url=None,
        jwks_path=dev_keys.jwks_path,
        jwks_url=None,
        auth_required=True,
        shutdown_grace_seconds=0.5,
        otlp_endpoint=None,
        artifact_url=str(tmp_path / "artifacts"),
        staging_dir=tmp_path / "staging",
        max_upload_bytes=1024 * 1024,
    )


@pytest.fixture
async def running(sqlite_database: Database, models_settings: ModelsSettings) -> AsyncIterator[Running]:
    """The service on a free port over a ready core, with stubs."""
    storage = ArtifactStorage(models_settings.resolved_artifact_url())
    core = ModelsCore.build(
        sqlite_database,
        storage,
        staging_dir=models_settings.resolved_staging_dir(),
        max_upload_bytes=models_settings.max_upload_bytes,
        watch_queue_size=8,
    )
    handle, port = create_server(
        "models", models_settings, register(ModelsApp.ready(core)), method_roles=METHOD_ROLES
    )
    await handle.start()
    await handle.set_serving()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Running(core, channel, f"127.0.0.1:{port}")
    finally:
        await core.close()
        await channel.close()
        await handle.stop(0)


@pytest.fixture
def token(dev_keys: DevKeys, tenant: str) -> Callable[..., Metadata]:
    """Call metadata with a token for ``tenant`` (the test's own by default) and ``roles``."""

    def make(*roles: str, tenant_name: str | None = None, subject: str = "alice") -> Metadata:
        minted = mint_token(
            dev_keys, subject=subject, tenant=tenant_name or tenant, roles=roles or ("editor",)
        )
        return (("authorization", f"Bearer {minted}"),)

    return make
