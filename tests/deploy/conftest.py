"""Fixtures for the deployment tests: podman (tests/containers.py) and the voxplug image.

Tests marked ``image`` build or run container images (a cold build took about 27 min on
the loaded 2 cores): they run with ``make test-image`` (``pytest -m image tests/deploy``)
and are deselected whenever ``-m`` does not name the marker, so a plain ``pytest`` or
``make test`` never builds an image. A test that uses podman or an image fixture is marked
``image`` here, so a missing marker cannot put a build into ``make test``. The rest of
tests/deploy (manifest, schema and Containerfile checks) needs no image and runs in
``make test``.

The image is built by ``scripts/container-image.sh`` (the same command a user runs); it is
stamped on its inputs, so a warm run only inspects it. Containers use the host network:
the LiveKit server of the ``livekit`` fixture and the fake vendor server listen on
127.0.0.1.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from containers import BUILD_TIMEOUT, SCRIPTS, Podman, podman_env

IMAGE_MARKER = "image"
# a test using one of these is an image test, marked or not
IMAGE_FIXTURES = {"podman", "podman_session", "image", "base_image"}


@pytest.hookimpl(tryfirst=True)  # before -m is applied, so the added markers count
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the image tests unless the ``-m`` expression names their marker."""
    for item in items:
        if IMAGE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(IMAGE_MARKER)
    if IMAGE_MARKER in (config.option.markexpr or "").split():
        return
    image_tests = [item for item in items if item.get_closest_marker(IMAGE_MARKER)]
    if image_tests:
        config.hook.pytest_deselected(items=image_tests)
        items[:] = [item for item in items if not item.get_closest_marker(IMAGE_MARKER)]


@pytest.fixture(scope="session")
def podman_session() -> Podman:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: `make test-image` installs it (scripts/install-system-deps.sh podman)")
    return Podman(podman_env())


@pytest.fixture
def podman(podman_session: Podman) -> Iterator[Podman]:
    helper = Podman(podman_session.env)
    try:
        yield helper
    finally:
        helper.remove_all()


def _script(podman: Podman, name: str) -> str:
    """Runs a stamped build script; its last line of output is the image reference."""
    proc = subprocess.run([str(SCRIPTS / name)], env=podman.env, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT)
    if proc.returncode != 0:
        pytest.fail(f"scripts/{name} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def image(podman_session: Podman) -> str:
    """The voxplug image (default build arguments: all vendor extras, no local models)."""
    return _script(podman_session, "container-image.sh")


@pytest.fixture(scope="session")
def base_image(podman_session: Podman) -> str:
    """The Debian base image (scripts/container-base.sh; stamped, so usually just a name)."""
    return _script(podman_session, "container-base.sh")
