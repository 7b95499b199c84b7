"""A real browser for the page: Debian's Chromium driven by Playwright, a WAV as its microphone.

Playwright's own browser download fails offline, so it drives ``/usr/bin/chromium`` (installed
by ``make test`` through scripts/install-system-deps.sh). Missing pieces are a hard failure,
never a skip: the browser test is part of the suite.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import wave
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMIUM", "INSTALL_HINT", "Page", "ServeProcess", "open_page", "run_serve", "speech_wav"]

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = "run `make test` (it installs Debian's chromium and builds the page with `make web`)"
# NOTES §6, plus: no DNS at all but for 127.0.0.1 (the page must need no network), loopback
# ICE candidates (the LiveKit server advertises 127.0.0.1), audio without a user gesture
CHROMIUM_FLAGS = (
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def speech_wav(path: Path, text: str, *, silence: float, lead: float = 0.0) -> Path:
    """espeak-ng speech between ``lead`` and ``silence`` seconds of silence: Chromium loops the
    file as the microphone."""
    spoken = path.with_suffix(".speech.wav")
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(spoken), text], check=True, capture_output=True)
    with wave.open(str(spoken)) as w:
        params, frames = w.getparams(), w.readframes(w.getnframes())
    with wave.open(str(path), "wb") as out:
        out.setparams(params)
        pad = params.sampwidth * params.framerate
        out.writeframes(b"\0" * (pad * int(lead)) + frames + b"\0" * int(pad * silence))
    return path


@dataclass
class Page:
    """The page in a browser, with every request it made and every script error it hit."""

    page: Any
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def texts(self, speaker: str, *, final: bool = True) -> list[str]:
        return list(await self.page.eval_on_selector_all(
            f"#transcript li[data-speaker={speaker}]{'[data-final=true]' if final else ''} .text",
            "items => items.map(i => i.textContent)",
        ))

    async def wait_for(self, expression: str, timeout: float, arg: Any = None) -> None:
        """Poll ``expression`` until it is true. Not ``wait_for_function``: that evaluates a
        string inside the page, which the page's Content-Security-Policy (rightly) refuses."""
        deadline = time.monotonic() + timeout
        while not await self.page.evaluate(expression, arg):
            if time.monotonic() > deadline:
                raise AssertionError(f"not true after {timeout:.0f} s: {expression}\npage: {await self.state()}")
            await asyncio.sleep(0.05)

    async def state(self) -> dict[str, Any]:
        """What a person would see, for failure messages."""
        return dict(await self.page.evaluate("""() => ({
            status: document.querySelector('#status').textContent,
            agent: document.querySelector('#agent-state').textContent,
            transcript: [...document.querySelectorAll('#transcript li')].map(
                li => `${li.dataset.speaker}${li.dataset.final === 'true' ? '' : ' (interim)'}: ${li.textContent}`),
            latency: [...document.querySelectorAll('#latency tbody tr')].map(tr => tr.textContent),
            errors: [],
        })"""), errors=self.errors)

    async def meter_peak(self, selector: str, seconds: float) -> float:
        """The highest value a meter showed over ``seconds``, sampled in the page every 50 ms."""
        return float(await self.page.evaluate(
            """([selector, ms]) => new Promise(done => {
                 let peak = 0;
                 const meter = document.querySelector(selector);
                 const timer = setInterval(() => { peak = Math.max(peak, meter.value); }, 50);
                 setTimeout(() => { clearInterval(timer); done(peak); }, ms);
               })""",
            [selector, int(seconds * 1000)],
        ))


@asynccontextmanager
async def open_page(url: str, microphone: Path) -> AsyncIterator[Page]:
    from playwright.async_api import async_playwright

    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: {INSTALL_HINT}", pytrace=False)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={microphone}"],
        )
        try:
            context = await browser.new_context(viewport={"width": 1100, "height": 1300})
            page = Page(await context.new_page())
            page.page.on("request", lambda request: page.requests.append(request.url))
            page.page.on("websocket", lambda ws: page.requests.append(ws.url))
            page.page.on("pageerror", lambda error: page.errors.append(str(error)))
            await page.page.goto(url)
            yield page
        finally:
            await browser.close()


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def run_serve(args: list[str], env: dict[str, str], workdir: Path, *, timeout: float = 60) -> Iterator[ServeProcess]:
    """``voxplug serve ARGS`` as a subprocess; waits for the line that gives its address."""
    log = workdir / f"serve-{len(list(workdir.glob('serve-*.log')))}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "voxplug", "serve", *args], env={**os.environ, **env},
                                   cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    serve = ServeProcess(process, log)
    try:
        deadline = time.monotonic() + timeout
        while "voxplug serve: open " not in serve.text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"voxplug serve did not start: {serve.text()[-3000:]}")
            time.sleep(0.2)
        line = next(line for line in serve.text().splitlines() if "voxplug serve: open " in line)
        serve.url = line.split("open ", 1)[1].split()[0]
        yield serve
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
