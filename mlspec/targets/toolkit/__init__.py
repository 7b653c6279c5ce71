"""Helpers that more than one target needs; targets import these, never each other.

- :mod:`texts`: the spec texts a node carries (for target checks), NUL refusal.
- :mod:`pods`: Kubernetes pod pieces (resources, security context) for every target that
  starts pods (Kubernetes manifests, Airflow's KubernetesPodOperator).
- :mod:`promql`: PromQL selectors on the shared ``mlspec_*`` metric names, for the rules
  and the dashboards.
- :mod:`memo`: one result per Plan and options, for what ``check`` derives and ``emit``
  needs again.
"""
