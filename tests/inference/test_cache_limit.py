"""The artifact cache's size limit: least recently used artifacts make room, those in use never do."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import services.inference.artifacts as cache_module
from services.inference.artifacts import ArtifactCache
from services.inference.controller import DeploymentController
from services.inference.deployment import DeploymentSpec, DeploymentState, TrafficTarget
from services.inference.errors import ArtifactError, ModelNotFound
from services.inference.repository import ModelRepository
from services.inference.wanted import Artifact, WantedDeployment

from .calls import eventually
from .support import raw_input, scale_model

SIZE = 1000
"""Bytes of each artifact of the cache-level tests."""
ONE = np.ones((1, 4), np.float32)


class Store:
    """Artifacts of ``SIZE`` bytes in a directory, as an artifact store holds them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir()

    def add(self, name: str, size: int = SIZE) -> tuple[str, str]:
        data = (name.encode() * size)[:size]
        path = self.directory / f"{name}.onnx"
        path.write_bytes(data)
        return path.as_uri(), hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def _cached(cache: ArtifactCache) -> set[str]:
    return {p.name for p in cache.directory.iterdir()}


def _used_at(artifact: Path, seconds: int) -> None:
    os.utime(artifact, (seconds, seconds))


async def test_the_least_recently_fetched_or_read_artifacts_make_room(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ArtifactCache(tmp_path / "cache", limit_bytes=3 * SIZE + SIZE // 2)  # room for three
    artifacts = {name: store.add(name) for name in "abcde"}

    def files(names: str) -> set[str]:
        return {f"{artifacts[name][1]}.onnx" for name in names}

    def used(names: str) -> None:
        """Mark the artifacts used in this order, long ago."""
        for seconds, name in enumerate(names, start=1):
            _used_at(cache.path_for(artifacts[name][1]), seconds * 1000)

    fetched = {name: await cache.fetch(*artifacts[name]) for name in "abc"}
    used("abc")
    # Another process's download in progress, whose files are never taken for an artifact.
    partial = cache.directory / f"{'f' * 64}.onnx.0123456789abcdef0123456789abcdef.part"
    lock = cache.directory / f"{'f' * 64}.onnx.lock"
    partial.write_bytes(b"x" * SIZE)
    lock.write_bytes(b"")
    for leftover in (partial, lock):
        _used_at(leftover, 1)

    await cache.fetch(*artifacts["a"])  # a hit is a use
    caplog.set_level(logging.INFO, logger=cache_module.__name__)
    await cache.fetch(*artifacts["d"])
    assert _cached(cache) == files("acd") | {partial.name, lock.name}
    (evicted,) = [r for r in caplog.records if r.getMessage().startswith("evicted cached artifact")]
    assert (evicted.__dict__["sha256"], evicted.__dict__["size_bytes"]) == (artifacts["b"][1], SIZE)

    used("cad")
    fetched["c"].read_verified()  # a read is a use
    await cache.fetch(*artifacts["e"])
    assert _cached(cache) == files("cde") | {partial.name, lock.name}


async def test_protected_artifacts_are_never_evicted(tmp_path: Path, store: Store) -> None:
    cache = ArtifactCache(tmp_path / "cache", limit_bytes=2 * SIZE)
    a, b, c = (store.add(name) for name in "abc")
    needed = {a[1]}
    cache.protect(lambda: needed)
    for seconds, artifact in enumerate((a, b), start=1):
        _used_at(await cache.fetch(*artifact), seconds)  # a is the least recently used
    await cache.fetch(*c)
    assert _cached(cache) == {f"{a[1]}.onnx", f"{c[1]}.onnx"}

    needed.add(c[1])
    with pytest.raises(ArtifactError) as raised:
        await cache.fetch(*b)
    assert raised.value.reason == "CACHE_FULL"
    assert _cached(cache) == {f"{a[1]}.onnx", f"{c[1]}.onnx"}


async def test_an_artifact_taking_its_place_is_never_counted_twice(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ArtifactCache(tmp_path / "cache", limit_bytes=2 * SIZE)  # room for both
    a, b = store.add("a"), store.add("b")
    real_in_cache = cache_module.in_cache
    other: list[threading.Thread] = []
    fetched_b: list[object] = []

    def fetch_b() -> None:
        try:
            fetched_b.append(asyncio.run(cache.fetch(*b)))
        except ArtifactError as error:
            fetched_b.append(error.reason)

    def in_cache(directory: Path, action: Callable[..., object], *args: object, **kwargs: object) -> object:
        result = real_in_cache(directory, action, *args, **kwargs)
        if action is os.replace and not other:
            # Another download makes room right as a's file takes its place.
            other.append(threading.Thread(target=fetch_b))
            other[0].start()
            other[0].join(0.5)
        return result

    monkeypatch.setattr(cache_module, "in_cache", in_cache)
    await cache.fetch(*a)
    other[0].join(10)
    assert fetched_b == [cache.path_for(b[1])]
    assert _artifacts(cache) == {f"{a[1]}.onnx", f"{b[1]}.onnx"}


def _artifacts(cache: ArtifactCache) -> set[str]:
    return {p.name for p in cache.directory.glob("*.onnx")}


async def test_what_another_process_sharing_the_cache_pins_is_never_evicted(
    tmp_path: Path, store: Store
) -> None:
    # Two caches over one directory, as two worker processes have: each holds its own flocks.
    mine, theirs = (ArtifactCache(tmp_path / "cache", limit_bytes=2 * SIZE) for _ in range(2))
    a, b, c = (store.add(name) for name in "abc")
    for seconds, artifact in enumerate((a, b), start=1):
        _used_at(await theirs.fetch(*artifact), seconds)  # a is the least recently used
    theirs.pin({a[1]})
    await mine.fetch(*c)
    assert _artifacts(mine) == {f"{a[1]}.onnx", f"{c[1]}.onnx"}

    theirs.pin({a[1], c[1]})
    with pytest.raises(ArtifactError) as raised:
        await mine.fetch(*b)
    assert raised.value.reason == "CACHE_FULL"
    assert _artifacts(mine) == {f"{a[1]}.onnx", f"{c[1]}.onnx"}

    theirs.pin(set())  # its versions unloaded
    await mine.fetch(*b)
    assert _artifacts(mine) == {f"{b[1]}.onnx", f"{c[1]}.onnx"}
    pins = {p.name.removesuffix(".pin") for p in mine.directory.glob("*.pin")}
    assert pins <= _artifacts(mine), "an evicted artifact's pin goes with it"


async def test_the_pin_of_an_artifact_never_cached_goes_when_released(tmp_path: Path, store: Store) -> None:
    mine, theirs = (ArtifactCache(tmp_path / "cache", limit_bytes=2 * SIZE) for _ in range(2))
    cached, missing = store.add("a"), store.add("b")
    await mine.fetch(*cached)
    for cache in (mine, theirs):
        cache.pin({cached[1], missing[1]})  # both load b, whose store cannot be read
    mine.pin(set())
    assert len(list(mine.directory.glob("*.pin"))) == 2, "the other process still pins b"
    theirs.pin(set())
    assert {p.name for p in mine.directory.glob("*.pin")} == {f"{cached[1]}.onnx.pin"}


async def test_downloads_of_processes_sharing_the_cache_fit_in_its_limit_together(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, theirs = (ArtifactCache(tmp_path / "cache", limit_bytes=2 * SIZE) for _ in range(2))
    kept, theirs_incoming, mine_incoming = (store.add(name) for name in "abc")
    mine.protect(lambda: {kept[1]})
    await mine.fetch(*kept)
    real_download = cache_module.download
    downloading, finish = threading.Event(), threading.Event()

    def download(uri: str, destination: Path, cache: Path) -> str:
        if uri == theirs_incoming[0]:
            downloading.set()
            assert finish.wait(10)
        return real_download(uri, destination, cache)

    monkeypatch.setattr(cache_module, "download", download)
    their_fetch = threading.Thread(target=asyncio.run, args=(theirs.fetch(*theirs_incoming),))
    their_fetch.start()
    try:
        assert await asyncio.to_thread(downloading.wait, 10)
        # The other process's download reserved the room this one would take.
        with pytest.raises(ArtifactError) as raised:
            await mine.fetch(*mine_incoming)
        assert raised.value.reason == "CACHE_FULL"
        assert raised.value.metadata["held_bytes"] == str(2 * SIZE)
    finally:
        finish.set()
        await asyncio.to_thread(their_fetch.join, 10)
    assert _cached(mine) == {f"{kept[1]}.onnx", f"{theirs_incoming[1]}.onnx"}, "no reservation is left"
    await mine.fetch(*mine_incoming)  # what the other process fetched is not protected here
    assert _artifacts(mine) == {f"{kept[1]}.onnx", f"{mine_incoming[1]}.onnx"}


async def test_the_reservation_of_a_download_whose_process_died_is_removed(
    tmp_path: Path, store: Store
) -> None:
    cache = ArtifactCache(tmp_path / "cache", limit_bytes=2 * SIZE)
    a, gone = store.add("a"), store.add("gone")
    cache.directory.mkdir()
    (cache.directory / f"{gone[1]}.onnx.reserved").write_text(str(2 * SIZE))  # no lock held: no download
    await cache.fetch(*a)
    assert _cached(cache) == {f"{a[1]}.onnx"}


def test_a_pin_holds_against_another_process(tmp_path: Path, store: Store) -> None:
    a, b = store.add("a"), store.add("b")
    directory = tmp_path / "cache"
    asyncio.run(ArtifactCache(directory).fetch(*a))
    pinning = (
        "import sys\n"
        "from pathlib import Path\n"
        "from services.inference.artifacts import ArtifactCache\n"
        f"ArtifactCache(Path({str(directory)!r}), limit_bytes={SIZE}).pin({{{a[1]!r}}})\n"
        "print('pinned', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", pinning], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "pinned\n"
        with pytest.raises(ArtifactError) as raised:
            asyncio.run(ArtifactCache(directory, limit_bytes=SIZE).fetch(*b))
        assert raised.value.reason == "CACHE_FULL"
    finally:
        holder.communicate("", timeout=30)
    # Its process gone, so is its pin.
    asyncio.run(ArtifactCache(directory, limit_bytes=SIZE).fetch(*b))
    assert {p.name for p in directory.glob("*.onnx")} == {f"{b[1]}.onnx"}


@pytest.mark.parametrize("size_known", [True, False], ids=["size-known", "size-unknown"])
async def test_an_artifact_larger_than_what_can_be_freed_fails_and_leaves_nothing(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch, size_known: bool
) -> None:
    if not size_known:  # an artifact store that cannot tell sizes: the room is made after the download
        monkeypatch.setattr(cache_module, "remote_size", lambda uri: None)
    limit = 3 * SIZE + SIZE // 2
    cache = ArtifactCache(tmp_path / "cache", limit_bytes=limit)
    a, b = store.add("a"), store.add("b")
    huge = store.add("huge", 3 * SIZE)
    cache.protect(lambda: {a[1]})
    await cache.fetch(*a)
    await cache.fetch(*b)
    with pytest.raises(ArtifactError) as raised:
        await cache.fetch(*huge)
    error = raised.value
    assert error.reason == "CACHE_FULL"
    assert (error.metadata["limit_bytes"], error.metadata["artifact_bytes"]) == (str(limit), str(3 * SIZE))
    assert error.metadata["held_bytes"] == str(SIZE)
    assert "AIPLAT_INFERENCE_CACHE_LIMIT_GIB" in error.message
    # Nothing was evicted for an artifact that could not fit anyway, and no partial file is left.
    assert _cached(cache) == {f"{a[1]}.onnx", f"{b[1]}.onnx"}


# Through the repository and the controller: the versions loaded here are what the cache protects.


def _model(directory: Path, version: int) -> TrafficTarget:
    path = directory / f"v{version}.onnx"
    path.write_bytes(scale_model(float(version)))
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return TrafficTarget(f"models/m/versions/{version}", path.as_uri(), sha256, 100)


def _spec(name: str, target: TrafficTarget, generation: int = 1) -> DeploymentSpec:
    return DeploymentSpec(f"deployments/{name}", (target,), tenant="acme", generation=generation)


def _model_size() -> int:
    sizes = {len(scale_model(float(v))) for v in range(1, 6)}
    assert len(sizes) == 1, "the versions' files differ in size"
    return sizes.pop()


async def _answer(repository: ModelRepository, name: str) -> float:
    result = await repository.infer(name, "", [raw_input("x", ONE)], tenant="acme")
    return float(result.outputs[0].data[0, 0])


def _cached_versions(cache: ArtifactCache, targets: dict[int, TrafficTarget]) -> set[int]:
    return {v for v, t in targets.items() if cache.path_for(t.sha256).exists()}


async def test_redeploys_beyond_the_limit_evict_the_unloaded_versions_and_keep_serving(
    tmp_path: Path, store: Store
) -> None:
    cache = ArtifactCache(tmp_path / "cache", limit_bytes=2 * _model_size() + _model_size() // 2)
    repository = ModelRepository(cache)
    targets = {v: _model(store.directory, v) for v in (1, 2, 3)}
    try:
        for generation, version in enumerate((1, 2, 3), start=1):
            if version == 3:
                # Version 1's file was used more recently (by another worker, say) than version 2's.
                _used_at(cache.path_for(targets[2].sha256), 1000)
                _used_at(cache.path_for(targets[1].sha256), 2000)
            status = await repository.apply(_spec("scaler", targets[version], generation))
            assert status.state == DeploymentState.READY
            assert await _answer(repository, "scaler") == float(version)
        # Version 2 served while version 3 loaded; version 1, unloaded by then, made room.
        assert _cached_versions(cache, targets) == {2, 3}
    finally:
        await repository.close()


async def test_the_versions_an_apply_loads_keep_their_files_until_they_serve(
    tmp_path: Path, store: Store
) -> None:
    cache = ArtifactCache(tmp_path / "cache", limit_bytes=2 * _model_size() + _model_size() // 2)
    repository = ModelRepository(cache)
    other, first, second = (_model(store.directory, v) for v in (3, 1, 2))
    try:
        await cache.fetch(other.artifact_uri, other.sha256)
        # Used after anything this apply fetches: only the load's protection makes it the one to go.
        later = int(time.time()) + 3600
        os.utime(cache.path_for(other.sha256), (later, later))
        split = (replace(first, percent=50), replace(second, percent=50))
        status = await repository.apply(DeploymentSpec("deployments/scaler", split, tenant="acme"))
        assert status.state == DeploymentState.READY
        assert {p.name for p in cache.directory.glob("*.onnx")} == {f"{t.sha256}.onnx" for t in split}
        # What the other processes sharing the cache must leave in place:
        assert {p.name for p in cache.directory.glob("*.pin")} == {f"{t.sha256}.onnx.pin" for t in split}
    finally:
        await repository.close()


async def test_a_version_that_cannot_fit_reports_it_and_loads_once_another_unloads(
    tmp_path: Path, store: Store
) -> None:
    cache = ArtifactCache(tmp_path / "cache", limit_bytes=_model_size() + _model_size() // 2)
    repository = ModelRepository(cache)
    first, second = _model(store.directory, 1), _model(store.directory, 2)
    try:
        assert (await repository.apply(_spec("first", first))).state == DeploymentState.READY
        status = await repository.apply(_spec("second", second))
        assert status.state == DeploymentState.FAILED
        (failure,) = [c for c in status.conditions if c.type == "LoadFailed"]
        assert failure.reason == "CACHE_FULL"
        assert str(cache.directory) in failure.message
        assert await _answer(repository, "first") == 1.0  # what is loaded keeps serving, and its file

        await repository.remove("first", tenant="acme")
        status = await repository.apply(_spec("second", second), again=True)
        assert status.state == DeploymentState.READY
        assert await _answer(repository, "second") == 2.0
        assert not cache.path_for(first.sha256).exists()
    finally:
        await repository.close()


class _Registry:
    def __init__(self, targets: dict[str, TrafficTarget]) -> None:
        self.targets = targets

    async def resolve(self, tenant: str, version: str) -> Artifact:
        target = self.targets[version]
        return Artifact(target.artifact_uri, target.sha256)


@pytest.fixture
async def small_repository(tmp_path: Path) -> AsyncIterator[ModelRepository]:
    repository = ModelRepository(
        ArtifactCache(tmp_path / "cache", limit_bytes=_model_size() + _model_size() // 2)
    )
    yield repository
    await repository.close()


async def _state(repository: ModelRepository, name: str, state: DeploymentState) -> bool:
    try:
        return repository.status(name, tenant="acme").state == state
    except ModelNotFound:
        return False


@pytest.mark.parametrize("retry_seconds", [0.01, 60.0], ids=["retries-soon", "next-retry-in-a-minute"])
async def test_a_version_waiting_for_room_loads_once_another_deployment_is_deleted(
    small_repository: ModelRepository, store: Store, retry_seconds: float
) -> None:
    first, second = _model(store.directory, 1), _model(store.directory, 2)
    registry = _Registry({first.version: first, second.version: second})
    # With a minute to its next retry, only the room the deletion leaves can load it in time.
    controller = DeploymentController(
        small_repository, registry, retry_min_seconds=retry_seconds, retry_max_seconds=retry_seconds
    )
    try:
        controller.put(WantedDeployment("deployments/first", "acme", 1, ((first.version, 100),)))
        await eventually(lambda: _state(small_repository, "first", DeploymentState.READY), what="first")
        controller.put(WantedDeployment("deployments/second", "acme", 1, ((second.version, 100),)))
        await eventually(lambda: _state(small_repository, "second", DeploymentState.FAILED), what="full")

        controller.delete("acme", "first")
        await eventually(lambda: _state(small_repository, "second", DeploymentState.READY), what="room")
        assert await _answer(small_repository, "second") == 2.0
    finally:
        await controller.close()
