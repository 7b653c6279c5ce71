"""The monitoring event vocabulary: one table read by the language, the rules, the runtime
and the alert routes, so an event means the same thing everywhere.

An *event* is what `monitoring.alerts[].on` routes and `retraining.on` reacts to. Each has
the runtime check that raises it (``check``; None for events raised by the servers and
schedulers themselves), whether it may trigger a retrain, and the spec section that
must exist for it to ever be raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Event:
    """An event of the one event table: what raises it, and whether retraining may name it."""

    name: str
    description: str
    check: str | None            # runtime check kind that raises it (drift, performance, schema, freshness)
    retrains: bool               # may be listed in retraining.on
    requires: str | None         # spec section without which it is never raised


EVENTS: tuple[Event, ...] = (
    Event("data_drift", "a drift check found the current data distributed unlike the reference",
          "drift", True, "monitoring.drift"),
    Event("concept_drift", "the production model's live performance left its bound",
          "performance", True, "monitoring.performance"),
    Event("pipeline_drift", "current data broke its column contract (schema checks)",
          "schema", True, "monitoring.schema_checks"),
    Event("custom_check", "a custom monitoring check's metric left its bounds (monitoring.checks)",
          "custom", True, "monitoring.checks"),
    Event("slo", "the online service broke its latency, error-rate or availability objective",
          None, False, "serving.slo"),
    Event("freshness", "a data source was not updated within its freshness bound",
          "freshness", True, "a data source with 'freshness'"),
    Event("pipeline_failure", "a pipeline or monitoring node failed, or stopped running on schedule",
          None, False, None),
    Event("budget", "LLM cost, tokens or latency exceeded a budget",
          None, False, "llm.budgets"),
)

EVENT_NAMES: tuple[str, ...] = tuple(e.name for e in EVENTS)
RETRAIN_EVENTS: tuple[str, ...] = tuple(e.name for e in EVENTS if e.retrains)
# Runtime check kind -> the event it raises.
EVENT_OF_CHECK: dict[str, str] = {e.check: e.name for e in EVENTS if e.check}
CHECK_OF_EVENT: dict[str, str] = {e.name: e.check for e in EVENTS if e.check}

# Literal types for the language models; a test keeps them equal to the table.
AlertEvent = Literal["data_drift", "concept_drift", "pipeline_drift", "custom_check", "slo", "freshness",
                     "pipeline_failure", "budget"]
RetrainEvent = Literal["data_drift", "concept_drift", "pipeline_drift", "custom_check", "freshness"]


def event(name: str) -> Event:
    return next(e for e in EVENTS if e.name == name)
