"""Runtime commands: the small programs the generated pipelines and monitoring jobs call.

``gate``, ``check-data``, ``drift``, ``register``, ``freshness``, ``performance`` and
``retrain-trigger`` (click commands in the ``*_cli`` modules of this package) read the resolved
:class:`~mlspec.compiler.plan.Plan` — never the raw YAML — do one job, print a readable table or
JSON, push ``mlspec_*`` metrics (:mod:`mlspec.metrics`) and exit 0 (ok) or 1 (a check
failed). Modules here import numpy, scipy and pyarrow only inside functions and only
where they are needed: ``gate``, ``register`` (local), ``performance``,
``retrain-trigger`` and ``freshness`` of local files run on the standard library.

See ``docs/runtime.md`` for the file formats.
"""
