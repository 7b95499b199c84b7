"""The per-turn table, percentiles and JSON of a simulation."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..telemetry.summary import Summary
from .runner import SessionResult, TurnResult

__all__ = [
    "METRICS", "ROOM_UNOBSERVABLE", "SUMMARY_FIELDS", "SimulationReport", "edit_distance", "percentile", "summarize",
]

# (TurnResult attribute, column title); all in seconds, shown in milliseconds
METRICS: tuple[tuple[str, str], ...] = (
    ("end_of_turn_delay", "EOT"),
    ("stt", "STT"),
    ("llm_ttft", "TTFT"),
    ("tts_ttfb", "TTFB"),
    ("voice_to_voice", "V2V"),
)
# columns only the agent's own process can measure: "-" when the simulator calls through a room
ROOM_UNOBSERVABLE = ("EOT", "STT", "TTFT", "TTFB")


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default method); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Word-level Levenshtein distance (substitutions + insertions + deletions): the numerator
    of a word error rate when ``ref`` is what was said and ``hyp`` what the STT heard."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def _value(turn: TurnResult, attr: str) -> float | None:
    if attr == "stt":  # the request time when the STT reports one, else end of speech -> transcript
        return turn.stt_request if turn.stt_request is not None else turn.stt_delay
    value: float | None = getattr(turn, attr)
    return value


SUMMARY_FIELDS = ("end_of_turn_delay", "stt_request", "stt_delay", "llm_ttft", "tts_ttfb", "voice_to_voice",
                  "e2e_latency")


def summarize(turns: Sequence[TurnResult]) -> dict[str, dict[str, float | int | None]]:
    out: dict[str, dict[str, float | int | None]] = {}
    for attr in SUMMARY_FIELDS:
        values = [v for t in turns if t.ok and (v := getattr(t, attr)) is not None]
        out[attr] = {
            "n": len(values),
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "mean": sum(values) / len(values) if values else None,
            "max": max(values) if values else None,
        }
    return out


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class SimulationReport:
    sessions: list[SessionResult]
    stages: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0
    transport: str = "local"  # "local": in-process AgentSession; "room": through a LiveKit room
    rooms: list[str] = field(default_factory=list)  # the LiveKit rooms, one per session (room transport)
    # the dashboard's figures from the run's OpenTelemetry instruments (local transport)
    metrics: Summary | None = None

    @property
    def turns(self) -> list[TurnResult]:
        return [t for s in self.sessions for t in s.turns]

    @property
    def failures(self) -> list[TurnResult]:
        return [t for t in self.turns if not t.ok]

    @property
    def ok(self) -> bool:
        return bool(self.turns) and not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {
            "stages": self.stages,
            "sessions": len(self.sessions),
            "turns": [t.as_dict() for t in self.turns],
            "greetings": [
                {"session": s.index, "text": s.greeting, "agent_wav": s.greeting_wav} for s in self.sessions
            ],
            "summary": summarize(self.turns),
            "failures": len(self.failures),
            "input_max_lag": max((s.input_max_lag for s in self.sessions), default=0.0),
            "wall_seconds": round(self.wall_seconds, 3),
            "transport": self.transport,
            **({"rooms": self.rooms} if self.transport == "room" else {}),
            **({"metrics": self.metrics.as_dict()} if self.metrics is not None else {}),
            "units": "seconds",
        }

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def print_table(self, out: TextIO, *, width: int = 24) -> None:
        multi = len(self.sessions) > 1
        head = [*(["S"] if multi else []), "#", "USER SAID", "STT HEARD", "AGENT REPLY",
                *(title + " ms" for _, title in METRICS), "OK"]
        rows: list[list[str]] = [head]
        for t in self.turns:
            rows.append([
                *([str(t.session)] if multi else []),
                str(t.turn),
                _clip(t.said, width),
                _clip(t.heard, width),
                _clip(t.reply, width),
                *(_ms(_value(t, attr)) for attr, _ in METRICS),
                "ok" if t.ok else "FAIL",
            ])
        ok_turns = [t for t in self.turns if t.ok]
        pad = 1 if multi else 0
        for q in (50, 95):
            cells = []
            for attr, _ in METRICS:
                values = [v for t in ok_turns if (v := _value(t, attr)) is not None]
                cells.append(_ms(percentile(values, q)))
            rows.append([*([""] if multi else []), "", f"p{q}", "", "", *cells, ""])
        numeric = set(range(4 + pad, 4 + pad + len(METRICS)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        for n, row in enumerate(rows):
            if n == len(rows) - 2:
                print("  ".join("-" * w for w in widths), file=out)
            cells = [
                c.rjust(w) if i in numeric else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            print("  ".join(cells).rstrip(), file=out)
        print(
            "EOT: end-of-turn delay; STT: request time (non-streaming STT) or end of speech to final "
            "transcript; TTFT/TTFB: LLM first token, TTS first byte; V2V: end of user speech to first "
            "agent audio",
            file=out,
        )
        if self.transport == "room":
            print(
                f"room mode: {'/'.join(ROOM_UNOBSERVABLE)} are measured inside the agent and cannot be observed "
                "from the room (-); V2V is measured at the caller, over the network",
                file=out,
            )
        for t in self.failures:
            where = f"session {t.session} " if multi else ""
            print(f"FAIL {where}turn {t.turn}: {t.error}", file=out)
        n_turns, n_fail = len(self.turns), len(self.failures)
        if self.transport == "room":
            where = f"room={self.rooms[0]}" if len(self.rooms) == 1 else f"rooms={self.rooms[0]}..{self.rooms[-1]}"
        else:
            where = (f"stt={self.stages.get('stt', '?')} llm={self.stages.get('llm', '?')} "
                     f"tts={self.stages.get('tts', '?')}")
        print(
            f"{n_turns - n_fail}/{n_turns} turns ok in {len(self.sessions)} session(s), {self.wall_seconds:.1f}s; "
            f"{where}",
            file=out,
        )
