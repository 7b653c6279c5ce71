"""Monitoring state and the retrain decision (standard library only).

The monitoring commands each leave their latest result in the state folder (default
``<spec folder>/.mlspec/monitoring/``, or ``--state-dir``, or ``$MLSPEC_STATE_DIR``)::

    drift.json        mlspec drift         -> event data_drift
    performance.json  mlspec performance   -> event concept_drift
    schema.json       mlspec check-data    -> event pipeline_drift (when it checks monitoring.current)
    freshness.json    mlspec freshness     -> event freshness
    retrain.json      mlspec retrain-trigger: when it last triggered and why (the cooldown clock)

Each result holds ``status``: ``event`` (raised), ``ok`` or ``error`` (could not check; an
error never triggers a retrain, it is reported as a note).
"""

from __future__ import annotations

import json
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


def read_state(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A state file's content, or ``(None, problem)``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "no result yet"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        return None, f"unreadable ({type(exc).__name__})"
    if not isinstance(data, dict):
        return None, "unreadable (not a JSON object)"
    return data, None


def decide(events: tuple[str, ...], cooldown_seconds: int, state_dir: Path, now: float | None = None) -> dict[str, Any]:
    """``{"trigger", "reasons", "notes", "events", "last_triggered", "cooldown_until"}``.

    A retrain is triggered when an event listed in ``retraining.on`` was raised by a result
    newer than the last trigger (an older one was already acted on) and the cooldown since
    the last trigger has passed.
    """
    now = time.time() if now is None else now
    last, problem = read_state(state_dir / TRIGGER_FILE)
    notes: list[str] = []
    last_ts = None
    if last is not None:
        ts = last.get("last_triggered_timestamp")
        last_ts = float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else None
    elif problem and not problem.startswith("no result"):
        notes.append(f"{TRIGGER_FILE}: {problem}; treating as never triggered")

    reasons, checked = [], []
    for event in events:
        kind = CHECK_OF_EVENT[event]
        data, problem = read_state(state_dir / f"{kind}.json")
        entry: dict[str, Any] = {"event": event, "file": f"{kind}.json", "status": None, "raised": False,
                                 "finished": None, "summary": None}
        checked.append(entry)
        if data is None:
            notes.append(f"{event}: {problem} ({kind}.json)")
            continue
        finished = data.get("finished_timestamp")
        finished = float(finished) if isinstance(finished, (int, float)) and not isinstance(finished, bool) else None
        entry.update(status=data.get("status"), finished=data.get("finished"), summary=data.get("summary"))
        if data.get("status") == "error":
            notes.append(f"{event}: the last check failed ({data.get('summary') or 'see ' + kind + '.json'})")
            continue
        if data.get("status") != "event":
            continue
        if last_ts is not None and finished is not None and finished <= last_ts:
            notes.append(f"{event}: raised at {data.get('finished')}, before the last trigger; already acted on")
            continue
        entry["raised"] = True
        reasons.append({"event": event, "summary": data.get("summary"), "finished": data.get("finished")})

    cooldown_until = last_ts + cooldown_seconds if last_ts is not None else None
    blocked = bool(reasons) and cooldown_until is not None and now < cooldown_until
    if blocked:
        assert cooldown_until is not None
        notes.append(f"cooldown: last retrain triggered {duration_text(now - last_ts)} ago; next allowed in "
                     f"{duration_text(cooldown_until - now)}")
    return {"trigger": bool(reasons) and not blocked, "reasons": reasons, "blocked_by_cooldown": blocked,
            "events": checked, "notes": notes, "last_triggered_timestamp": last_ts,
            "cooldown_until_timestamp": cooldown_until}
