"""PromQL text on the shared ``mlspec_*`` metric names, for the Prometheus rules and the Grafana
dashboard alike: both must select the same series (``project``, ``plan.serving.selector``) and
compute the same ratios and quantiles, or a panel would show something other than what an alert
evaluates.

Every metric and label name goes through :func:`promql_name` (a whitelist), every label value
through a string-literal encoder: :func:`string` by default; a target whose host expands its own
syntax inside queries (Grafana's ``$var``) passes a stricter ``literal``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from mlspec.compiler.plan import Serving

Matchers = tuple[tuple[str, str, str], ...]   # (label, op, value)
Literal = Callable[[str], str]

# The requests counter must carry the HTTP status code in this label (ServingMetrics doc).
STATUS_LABEL = "status"
SERVER_ERROR_REGEX = "5.."


def name(s: str, *, label: bool = False) -> str:
    """A metric (or, with ``label``, label) name; ValueError if it is not one."""
    from mlspec.output.encoders import promql_name

    return promql_name(s, label=label)


def string(s: str) -> str:
    """A PromQL string literal."""
    from mlspec.output.encoders import promql_string

    return promql_string(s)


def num(x: float) -> str:
    """A number as PromQL and people read it; ``float(num(x)) == x``."""
    if isinstance(x, bool):  # pragma: no cover - a bug in the caller
        raise TypeError("bool is not a number here")
    if isinstance(x, int):
        return str(x)
    x = float(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def eq(labels: Sequence[tuple[str, str]]) -> Matchers:
    """Equality matchers for ``(label, value)`` pairs."""
    return tuple((k, "=", v) for k, v in labels)


def selector(metric: str, matchers: Sequence[tuple[str, str, str]], *, literal: Literal = string) -> str:
    """``metric{label="value", ...}`` with every name whitelisted and every value a string literal."""
    inner = ", ".join(f"{name(k, label=True)}{op}{literal(v)}" for k, op, v in matchers)
    return f"{name(metric)}{{{inner}}}"


def serving_labels(serving: Serving, override: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """The server's series labels: ``serving.metrics.labels``, or a target's deprecated
    ``serving_labels`` option when it is set."""
    return tuple(sorted(override.items())) if override is not None else tuple(serving.selector)


def server_errors(matchers: Matchers) -> Matchers:
    """``matchers`` narrowed to the requests answered with a 5xx status."""
    return (*matchers, (STATUS_LABEL, "=~", SERVER_ERROR_REGEX))


def success_ratio(requests: str, matchers: Matchers, window: str, *, literal: Literal = string) -> str:
    """The share of ``requests`` answered without a 5xx status over ``window`` (availability)."""
    ok = selector(requests, (*matchers, (STATUS_LABEL, "!~", SERVER_ERROR_REGEX)), literal=literal)
    return f"sum(rate({ok}[{window}])) / sum(rate({selector(requests, matchers, literal=literal)}[{window}]))"


def p95(bucket: str, matchers: Sequence[tuple[str, str, str]], window: str, *, literal: Literal = string) -> str:
    """The 95th percentile of a histogram's ``_bucket`` series over ``window``."""
    return f"histogram_quantile(0.95, sum by (le) (rate({selector(bucket, matchers, literal=literal)}[{window}])))"


def error_ratio(requests: str, matchers: Matchers, window: str, *, literal: Literal = string) -> str:
    """The share of ``requests`` answered with a 5xx status over ``window``.

    A server that never failed has no 5xx series at all: ``or vector(0)`` makes that a 0 error
    rate (and 100 % availability), not an empty result that dashboards show as "No data"."""
    errors = selector(requests, server_errors(matchers), literal=literal)
    return (f"(sum(rate({errors}[{window}])) or vector(0))"
            f" / sum(rate({selector(requests, matchers, literal=literal)}[{window}]))")


def per_request(counter: str, requests: str, matchers: Sequence[tuple[str, str, str]], window: str,
                per: int = 1, *, literal: Literal = string) -> str:
    """``counter`` per ``per`` requests over ``window`` (spend per 1000 requests, tokens per request)."""
    scale = f"{per} * " if per != 1 else ""
    return (f"{scale}sum(rate({selector(counter, matchers, literal=literal)}[{window}]))"
            f" / sum(rate({selector(requests, matchers, literal=literal)}[{window}]))")
