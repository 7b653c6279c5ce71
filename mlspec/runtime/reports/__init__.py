"""Reports people look at: self-contained HTML pages and GitHub Markdown summaries.

- :mod:`.html` the page shell (strict Content-Security-Policy, inline CSS, no script),
- :mod:`.svg` hand-written inline SVG charts,
- :mod:`.drift_report`, :mod:`.eval_report`, :mod:`.run_report` one page each,
- :mod:`.markdown` pull-request summaries with Mermaid charts.

Every renderer is a pure function of typed results the runtime already computed (drift
:class:`~mlspec.runtime.drift.Distribution` and check results, gate
:class:`~mlspec.runtime.gates.GateResult`, run :class:`~mlspec.runtime.execute.RunResult`):
nothing is measured again here, and the same inputs give the same bytes. All user text
goes through :mod:`mlspec.output.encoders`.
"""
