"""Monitoring state and the retrain decision (standard library only).

The monitoring commands each leave their latest result in the state folder (default
``<spec folder>/.mlspec/monitoring/``, or ``--state-dir``, or ``$MLSPEC_STATE_DIR``)::

    drift.json        mlspec drift         -> event data_drift
    performance.json  mlspec performance   -> event concept_drift
    schema.json       mlspec check-data    -> event pipeline_drift (when it checks monitoring.current)
    freshness.json    mlspec freshness     -> event freshness
    custom.NAME.json  mlspec custom-check  -> the event monitoring.checks[NAME] raises
    retrain.json      mlspec retrain-trigger: when it last triggered and why (the cooldown clock)

Each result holds ``status``: ``event`` (raised), ``ok`` or ``error`` (could not check; an
error never triggers a retrain, it is reported as a note).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from mlspec.events import CHECK_OF_EVENT

TRIGGER_FILE = "retrain.json"


def duration_text(seconds: float) -> str:
    """``2d 3h``, ``3h 0m``, ``45m 10s``, ``30s``: the largest unit and the next one."""
    s = round(max(seconds, 0))
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for i, (unit, size) in enumerate(units):
        if s >= size or unit == "s":
            if unit == "s":
                return f"{s}s"
            small, small_size = units[i + 1]
            return f"{s // size}{unit} {(s % size) // small_size}{small}"
    return f"{s}s"  # pragma: no cover


STATE_MAX_BYTES = 4 * 1024 * 1024
STATUSES = ("finding", "event", "ok", "error")   # "event": how older mlspec wrote a finding
# Timestamps a state file may hold: 1970 up to the year 5138. Anything else (NaN, 1e999,
# a negative number, text) is not a time and the record is treated as unreadable.
_MAX_TIMESTAMP = 1e11


def read_state(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A state file's content, or ``(None, problem)``; the problem never quotes the file."""
    from mlspec.bounded import ReadRefused, read_text

    try:
        data = json.loads(read_text(path, STATE_MAX_BYTES, follow_symlinks=False))
    except ReadRefused as exc:
        return None, "no result yet" if exc.missing else f"unreadable (it {exc.reason})"
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        return None, f"unreadable ({type(exc).__name__})"
    if not isinstance(data, dict):
        return None, "unreadable (not a JSON object)"
    return data, None


def timestamp(value: Any) -> float | None:
    """A plausible Unix time from a state file, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if math.isfinite(f) and 0 <= f <= _MAX_TIMESTAMP else None


def _text(value: Any) -> str | None:
    """Text from a state file as it may be shown: a string, cut to one short line."""
    if not isinstance(value, str):
        return None
    return value if len(value) <= 300 else value[:297] + "..."


def decide(events: tuple[str, ...], cooldown_seconds: int, state_dir: Path, now: float | None = None,
           sources: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """``{"trigger", "reasons", "notes", "events", "invalid", "last_triggered", "cooldown_until"}``.

    A retrain is triggered when an event listed in ``retraining.on`` was raised by a result
    newer than the last trigger (an older one was already acted on) and the cooldown since
    the last trigger has passed. ``sources`` names the checks (state kinds) that raise each event
    (default: the event's built-in check; custom checks add theirs). A state file that exists but is corrupt (not a JSON object,
    a timestamp that is not a time, an unknown status) is listed in ``invalid`` as
    ``(file name, problem)`` and blocks the decision: a retrain is never started, nor a
    cooldown ignored, on a record mlspec cannot read.
    """
    now = time.time() if now is None else now
    invalid: list[tuple[str, str]] = []
    last, problem = read_state(state_dir / TRIGGER_FILE)
    notes: list[str] = []
    last_ts = None
    if last is not None:
        ts = last.get("last_triggered_timestamp")
        last_ts = timestamp(ts)
        if last_ts is None:
            invalid.append((TRIGGER_FILE, "last_triggered_timestamp is not a Unix time"))
    elif problem and not problem.startswith("no result"):
        invalid.append((TRIGGER_FILE, problem))

    reasons, checked = [], []
    pairs = [(event, kind) for event in events
             for kind in (sources.get(event, ()) if sources is not None else (CHECK_OF_EVENT[event],))]
    for event, kind in pairs:
        name = f"{kind}.json"
        data, problem = read_state(state_dir / name)
        entry: dict[str, Any] = {"event": event, "check": kind, "file": name, "status": None, "raised": False,
                                 "finished": None, "summary": None}
        checked.append(entry)
        if data is None:
            if problem and problem.startswith("no result"):
                notes.append(f"{event}: {problem} ({name})")
            else:
                invalid.append((name, problem or "unreadable"))
            continue
        status = data.get("status")
        raw_finished = data.get("finished_timestamp")
        finished = timestamp(raw_finished)
        if not isinstance(status, str) or status not in STATUSES:
            invalid.append((name, f"status is not one of {', '.join(STATUSES)}"))
            continue
        if raw_finished is not None and finished is None:
            invalid.append((name, "finished_timestamp is not a Unix time"))
            continue
        summary, finished_text = _text(data.get("summary")), _text(data.get("finished"))
        entry.update(status=status, finished=finished_text, summary=summary)
        if status == "error":
            notes.append(f"{event}: the last check failed ({summary or 'see ' + name})")
            continue
        if status not in ("finding", "event"):  # "event": written by older mlspec
            continue
        if last_ts is not None and finished is not None and finished <= last_ts:
            notes.append(f"{event}: raised at {finished_text}, before the last trigger; already acted on")
            continue
        entry["raised"] = True
        reasons.append({"event": event, "check": kind, "summary": summary, "finished": finished_text})

    cooldown_until = last_ts + cooldown_seconds if last_ts is not None else None
    blocked = bool(reasons) and cooldown_until is not None and now < cooldown_until
    if blocked:
        assert cooldown_until is not None and last_ts is not None
        notes.append(f"cooldown: last retrain triggered {duration_text(now - last_ts)} ago; next allowed in "
                     f"{duration_text(cooldown_until - now)}")
    return {"trigger": bool(reasons) and not blocked and not invalid, "reasons": reasons,
            "blocked_by_cooldown": blocked, "events": checked, "notes": notes, "invalid": invalid,
            "last_triggered_timestamp": last_ts, "cooldown_until_timestamp": cooldown_until}


# The built-in monitoring node kinds and the state each writes.
_BUILTIN_KIND = {"monitor_drift": "drift", "monitor_performance": "performance", "monitor_schema": "schema",
                 "monitor_freshness": "freshness"}


def event_sources(plan: Any) -> dict[str, tuple[str, ...]]:
    """Event -> the state kinds of the plan's checks that raise it: the built-in check when the
    plan has its node, and every custom check declared with that event."""
    from mlspec.events import EVENT_OF_CHECK

    out: dict[str, list[str]] = {}
    for node in plan.monitor_nodes:
        kind = _BUILTIN_KIND.get(node.kind)
        if kind:
            out.setdefault(EVENT_OF_CHECK[kind], []).append(kind)
    for check in plan.monitoring.checks if plan.monitoring else ():
        out.setdefault(check.event, []).append(check.state_kind)
    return {event: tuple(kinds) for event, kinds in out.items()}
