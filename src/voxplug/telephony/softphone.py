"""A real SIP phone for tests and benchmarks: PJSIP's user agent (``pjsua2``) on loopback.

It dials and answers calls, sends and receives RTP audio (G.711 at 8 kHz by default: what a
phone network delivers), sends RFC 2833 DTMF and follows a SIP REFER. Every PJSIP call runs
on one thread that owns the library; the public methods post work to it and wait. Audio
is timestamped per 20 ms frame as it arrives, so voice-to-voice latency can be measured at
the phone itself.

``pjsua2`` comes from the ``sip-test`` extra (``pip install 'voxplug[sip-test]'``); PJSIP is
GPL-2.0, which is why it is a test-only extra.
"""

from __future__ import annotations

import bisect
import concurrent.futures
import contextlib
import logging
import queue
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..pcm import resample
from ..room.devserver import free_port

__all__ = ["PhoneCall", "PhoneLine", "Softphone"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
FRAME_MS = 20
# int16 RMS above which a received frame counts as speech (G.711 silence sits far below)
SPEECH_RMS = 300.0


def _pjsua2() -> Any:
    try:
        import pjsua2
    except ImportError as exc:  # an optional, test-only dependency
        raise RuntimeError("the SIP test phone needs pjsua2: pip install 'voxplug[sip-test]'") from exc
    return pjsua2


@dataclass
class _Audio:
    frames: list[tuple[float, np.ndarray]] = field(default_factory=list)
    loud: list[float] = field(default_factory=list)


class PhoneCall:
    """One call leg. Audio heard is recorded from the moment media starts."""

    def __init__(self, phone: Softphone, line: PhoneLine, *, incoming: bool) -> None:
        self.phone = phone
        self.line = line
        self.incoming = incoming
        self.state = "NULL"
        self.status_code = 0
        self.remote_uri = ""
        self.headers: dict[str, str] = {}
        self.confirmed = threading.Event()
        self.disconnected = threading.Event()
        self.media_ready = threading.Event()
        self.confirmed_at: float | None = None
        self.disconnected_at: float | None = None
        self.transfer_requests: list[str] = []
        self.transfer_status: list[int] = []
        self._heard = _Audio()
        self._lock = threading.Lock()
        self._outgoing: queue.SimpleQueue[tuple[np.ndarray, concurrent.futures.Future[float]]] = queue.SimpleQueue()
        self._current: tuple[np.ndarray, int, concurrent.futures.Future[float]] | None = None
        self._pj: Any = None  # the pjsua2.Call
        self._port: Any = None  # the AudioMediaPort bridging our buffers

    # -- used on the PJSIP thread --------------------------------------------------------
    def _on_frame_received(self, pcm: bytes) -> None:
        samples = np.frombuffer(pcm, dtype=np.int16).copy()
        at = time.monotonic()
        with self._lock:
            self._heard.frames.append((at, samples))
            if samples.size and float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) > SPEECH_RMS:
                self._heard.loud.append(at)

    def _next_frame(self, samples: int) -> bytes:
        if self._current is None:
            try:
                pcm, done = self._outgoing.get_nowait()
                self._current = (pcm, 0, done)
            except queue.Empty:
                return bytes(samples * 2)
        pcm, offset, done = self._current
        chunk = pcm[offset : offset + samples]
        if offset + samples >= len(pcm):
            self._current = None
            done.set_result(time.monotonic() + len(chunk) / self.phone.clock_rate)
        else:
            self._current = (pcm, offset + samples, done)
        if len(chunk) < samples:
            chunk = np.pad(chunk, (0, samples - len(chunk)))
        return chunk.astype(np.int16).tobytes()

    # -- public --------------------------------------------------------------------------
    def play(self, pcm: np.ndarray, sample_rate: int) -> concurrent.futures.Future[float]:
        """Send mono int16 ``pcm`` into the call, in real time; the future gives when it ended."""
        if sample_rate != self.phone.clock_rate:
            pcm = resample(pcm, sample_rate, self.phone.clock_rate)
        done: concurrent.futures.Future[float] = concurrent.futures.Future()
        self._outgoing.put((pcm, done))
        return done

    def dtmf(self, digits: str) -> None:
        """Send ``digits`` as RFC 2833 telephone events."""
        self.phone.run(lambda: self._pj.dialDtmf(digits))

    def hangup(self) -> None:
        def hang() -> None:
            if not self.disconnected.is_set():
                prm = self.phone.pj.CallOpParam(True)
                self._pj.hangup(prm)

        self.phone.run(hang)

    def audio(self, start: float = 0.0, end: float = float("inf")) -> np.ndarray:
        """Audio heard between two monotonic times, at the phone's clock rate."""
        with self._lock:
            chunks = [s for at, s in self._heard.frames if start < at <= end]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def speech_end_after(self, moment: float, *, quiet: float = 1.0, timeout: float = 15.0) -> float:
        """When the speech heard after ``moment`` ended: waits until the line has been quiet for
        ``quiet`` seconds (at most ``timeout``). An agent's record that it finished speaking comes
        before its last words reach the phone (LiveKit, the SIP bridge and the jitter buffer are in
        between): a loaded test run cut "... closes late in the evening." at "late"."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                last = max(self._heard.loud[-1] if self._heard.loud else moment, moment)
            now = time.monotonic()
            if now - last >= quiet or now >= deadline:
                return last + FRAME_MS / 1000
            time.sleep(FRAME_MS / 1000)

    def first_speech_after(self, moment: float) -> float | None:
        with self._lock:
            loud = list(self._heard.loud)
        index = bisect.bisect_right(loud, moment)
        return loud[index] if index < len(loud) else None


class PhoneLine:
    """A SIP identity (``sip:NUMBER@127.0.0.1:PORT``) with its own UDP transport."""

    def __init__(self, phone: Softphone, number: str, *, auto_answer: bool) -> None:
        self.phone = phone
        self.number = number
        self.port = 0
        self.auto_answer = auto_answer
        self.calls: list[PhoneCall] = []
        self._account: Any = None
        self._transport_id = -1

    @property
    def uri(self) -> str:
        return f"sip:{self.number}@127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def dial(self, uri: str, *, headers: dict[str, str] | None = None) -> PhoneCall:
        """Call ``uri`` from this line; returns at once (wait on ``call.confirmed``)."""
        pj = self.phone.pj

        def make() -> PhoneCall:
            call = PhoneCall(self.phone, self, incoming=False)
            call._pj = self.phone._call_class(self._account, call)
            prm = pj.CallOpParam(True)
            for name, value in (headers or {}).items():
                header = pj.SipHeader()
                header.hName, header.hValue = name, value
                prm.txOption.headers.append(header)
            call._pj.makeCall(uri, prm)
            self.calls.append(call)
            return call

        return self.phone.run(make)

    def wait_for_call(self, index: int = 0, timeout: float = 60.0) -> PhoneCall:
        """The ``index``-th incoming call of this line (answered already when ``auto_answer``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            incoming = [c for c in self.calls if c.incoming]
            if len(incoming) > index:
                return incoming[index]
            time.sleep(0.05)
        raise TimeoutError(f"no call reached {self.uri} in {timeout:.0f} s")


class Softphone:
    """One PJSIP endpoint (one per process) with any number of lines.

    ``clock_rate`` 8000 and ``codecs=("PCMU/8000",)`` make every call G.711 narrowband; pass
    ``("G722/16000",)`` and 16000 for wideband.
    """

    def __init__(self, *, clock_rate: int = 8000, codecs: tuple[str, ...] = ("PCMU/8000",), log_level: int = 2,
                 log_file: Path | None = None):
        self.pj = _pjsua2()
        self.clock_rate = clock_rate
        self.codecs = codecs
        self.log_level = log_level
        self.log_file = log_file  # with it, PJSIP's log at level 4 (every SIP message) goes there
        self._work: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._ep: Any = None
        self.lines: list[PhoneLine] = []
        self._call_class, self._account_class, self._port_class = self._classes()

    def __enter__(self) -> Softphone:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the PJSIP thread ----------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="softphone", daemon=True)
        self._thread.start()
        self._ready.result(timeout=30)

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=30)
        self._thread = None

    def run(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run ``fn`` on the PJSIP thread and return its result."""
        if threading.current_thread() is self._thread:
            return fn()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._work.put((fn, done))
        return done.result(timeout=timeout)

    def _main(self) -> None:
        pj = self.pj
        try:
            ep = pj.Endpoint()
            ep.libCreate()
            cfg = pj.EpConfig()
            cfg.logConfig.consoleLevel = self.log_level
            cfg.logConfig.level = max(self.log_level, 4) if self.log_file else self.log_level
            if self.log_file:
                cfg.logConfig.filename = str(self.log_file)
            cfg.uaConfig.threadCnt = 0
            cfg.uaConfig.mainThreadOnly = True
            cfg.medConfig.clockRate = self.clock_rate
            cfg.medConfig.sndClockRate = self.clock_rate
            cfg.medConfig.noVad = True  # keep sending frames through silence: a steady RTP clock
            ep.libInit(cfg)
            ep.libStart()
            ep.audDevManager().setNullDev()
            for codec in ep.codecEnum2():
                wanted = any(codec.codecId.startswith(c) for c in self.codecs)
                ep.codecSetPriority(codec.codecId, 255 if wanted else 0)
            self._ep = ep
        except Exception as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        try:
            while not self._stop.is_set():
                ep.libHandleEvents(10)
                while True:
                    try:
                        fn, done = self._work.get_nowait()
                    except queue.Empty:
                        break
                    try:
                        done.set_result(fn())
                    except Exception as exc:
                        done.set_exception(exc)
        finally:
            self._shutdown(ep)

    def _shutdown(self, ep: Any) -> None:
        pj = self.pj
        for line in self.lines:
            for call in line.calls:
                if not call.disconnected.is_set():
                    with contextlib.suppress(Exception):  # already gone
                        call._pj.hangup(pj.CallOpParam(True))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and any(
            not c.disconnected.is_set() for line in self.lines for c in line.calls
        ):
            ep.libHandleEvents(10)
        for line in self.lines:
            for call in line.calls:
                call._pj = None
                call._port = None
            if line._account is not None:
                line._account.shutdown()
                line._account = None
        ep.libDestroy()

    # -- lines ---------------------------------------------------------------------------
    def line(self, number: str, *, auto_answer: bool = True) -> PhoneLine:
        """A new identity on its own loopback UDP port."""
        pj = self.pj
        line = PhoneLine(self, number, auto_answer=auto_answer)

        def create() -> PhoneLine:
            tcfg = pj.TransportConfig()
            tcfg.boundAddress = "127.0.0.1"
            tcfg.publicAddress = "127.0.0.1"
            for _ in range(20):
                tcfg.port = free_port(socket.SOCK_DGRAM)
                try:
                    line._transport_id = self._ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
                    break
                except Exception:  # taken between the probe and the bind: try another
                    continue
            else:
                raise RuntimeError("no free UDP port for a SIP line")
            line.port = tcfg.port
            acfg = pj.AccountConfig()
            acfg.idUri = f"sip:{number}@127.0.0.1:{line.port}"
            acfg.sipConfig.transportId = line._transport_id
            acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
            acfg.mediaConfig.transportConfig.publicAddress = "127.0.0.1"
            # RTP from a random even base (PJSIP tries upwards on a clash); its default 4000 is popular
            acfg.mediaConfig.transportConfig.port = random.randrange(20000, 30000, 2)
            acfg.mediaConfig.transportConfig.portRange = 1000
            line._account = self._account_class(line)
            line._account.create(acfg)
            self.lines.append(line)
            return line

        return self.run(create)

    # -- pjsua2 subclasses (built lazily: the module is an optional import) ---------------
    def _classes(self) -> tuple[type, type, type]:
        pj = self.pj
        phone = self

        class Port(pj.AudioMediaPort):  # type: ignore[misc, name-defined]  # pjsua2 has no stubs
            def __init__(self, call: PhoneCall) -> None:
                super().__init__()
                self.call = call

            def onFrameRequested(self, frame: Any) -> None:
                samples = phone.clock_rate * FRAME_MS // 1000
                frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
                frame.buf = pj.ByteVector(self.call._next_frame(samples))
                frame.size = samples * 2

            def onFrameReceived(self, frame: Any) -> None:
                if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
                    self.call._on_frame_received(bytes(frame.buf))

        class Call(pj.Call):  # type: ignore[misc, name-defined]  # pjsua2 has no stubs
            def __init__(self, account: Any, call: PhoneCall, call_id: int = pj.PJSUA_INVALID_ID) -> None:
                super().__init__(account, call_id)
                self.call = call

            def onCallState(self, prm: Any) -> None:
                info = self.getInfo()
                call = self.call
                call.state, call.status_code, call.remote_uri = info.stateText, info.lastStatusCode, info.remoteUri
                if info.state == pj.PJSIP_INV_STATE_CONFIRMED and not call.confirmed.is_set():
                    call.confirmed_at = time.monotonic()
                    call.confirmed.set()
                if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                    call.disconnected_at = time.monotonic()
                    call.disconnected.set()

            def onCallMediaState(self, prm: Any) -> None:
                info = self.getInfo()
                for index, media in enumerate(info.media):
                    if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                        audio = self.getAudioMedia(index)
                        if self.call._port is None:
                            port = Port(self.call)
                            fmt = pj.MediaFormatAudio()
                            fmt.init(pj.PJMEDIA_FORMAT_PCM, phone.clock_rate, 1, FRAME_MS * 1000, 16)
                            port.createPort(f"phone-{id(self.call)}", fmt)
                            self.call._port = port
                        audio.startTransmit(self.call._port)
                        self.call._port.startTransmit(audio)
                        self.call.media_ready.set()

            def onCallTransferRequest(self, prm: Any) -> None:
                # accept and follow (the library dials the target on this same Call object)
                self.call.transfer_requests.append(prm.dstUri)
                logger.info("REFER to %s", prm.dstUri)

            def onCallTransferStatus(self, prm: Any) -> None:
                self.call.transfer_status.append(int(prm.statusCode))

        class Account(pj.Account):  # type: ignore[misc, name-defined]  # pjsua2 has no stubs
            def __init__(self, line: PhoneLine) -> None:
                super().__init__()
                self.line = line

            def onIncomingCall(self, prm: Any) -> None:
                call = PhoneCall(phone, self.line, incoming=True)
                call._pj = Call(self, call, prm.callId)
                rdata = prm.rdata
                for raw in rdata.wholeMsg.split("\r\n"):
                    name, sep, value = raw.partition(":")
                    if sep and name.strip() and " " not in name.strip():
                        call.headers[name.strip().lower()] = value.strip()
                self.line.calls.append(call)
                answer = pj.CallOpParam()
                answer.statusCode = 200 if self.line.auto_answer else 180
                call._pj.answer(answer)

        return Call, Account, Port
