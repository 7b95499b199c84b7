"""``voxplug serve --dev``: a local LiveKit server and a ``voxplug start`` worker beside the page.

One command from a fresh checkout to talking with the keyless agent: the server is the one
the tests build (``scripts/livekit-server.sh``), the worker a subprocess with an agent name
of its own, so dispatch is explicit as in production.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ..config.loader import CONFIG_ENV
from ..errors import VoxplugError
from ..room.client import LiveKitSettings
from ..room.devserver import run_livekit_server, start_worker

__all__ = ["DEV_AGENT_NAME", "dev_stack"]

DEV_AGENT_NAME = "voxplug-dev"
# the worker registers once its main process is up; the local models load after that, in
# the job process, so this only has to cover imports on a busy 2-core machine
WORKER_TIMEOUT = 300.0


@contextmanager
def dev_stack(
    *, agent_name: str, config_path: str | None = None, say: Callable[[str], None] = print
) -> Iterator[LiveKitSettings]:
    """Run a LiveKit server and one worker until the block ends; yields the server's settings."""
    workdir = Path(tempfile.mkdtemp(prefix="voxplug-serve-"))
    say("voxplug serve --dev: starting a local LiveKit server (the first run builds it with Go, a few minutes)")
    with ExitStack() as stack:
        try:
            server = stack.enter_context(run_livekit_server(workdir))
        except RuntimeError as exc:  # the server could not be built or did not start
            raise VoxplugError(f"serve --dev: {str(exc).splitlines()[0]}") from None
        env = {**server.env, "VOXPLUG_WORKER__AGENT_NAME": agent_name}
        if config_path:
            env[CONFIG_ENV] = os.path.abspath(config_path)
        log = workdir / "serve-worker.log"
        say(f"voxplug serve --dev: starting a worker as agent {agent_name!r} (log: {log})")
        try:
            worker = start_worker(workdir, env, name="serve-worker", timeout=WORKER_TIMEOUT)
        except RuntimeError:
            raise VoxplugError(f"serve --dev: the worker did not start; see {log}") from None
        stack.callback(worker.stop)
        yield server.settings
