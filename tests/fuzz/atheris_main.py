"""Coverage-guided fuzzing of one target with atheris (libFuzzer for Python).

    python -m tests.fuzz.atheris_main TARGET [libFuzzer options] CORPUS_DIR [SEED_DIR…]

mlspec's modules are instrumented for coverage; libFuzzer mutates the corpus, keeps inputs
that reach new code in CORPUS_DIR, and on a crash writes the input to
``-artifact_prefix`` and exits non-zero. ``tests/fuzz/test_coverage_fuzz.py`` runs each
target for a bounded time with the committed corpus ``tests/fuzz/corpus/TARGET`` as seeds.
"""

from __future__ import annotations

import sys


def main() -> None:
    import atheris

    target = sys.argv.pop(1)
    import importlib

    # Imported inside the hook so that their code is instrumented for coverage.
    with atheris.instrument_imports(include=["mlspec"]):
        for module in ("mlspec.compiler.resolve", "mlspec.language.loader", "mlspec.language.rules",
                       "mlspec.language.validate", "mlspec.runtime.contract", "mlspec.runtime.data",
                       "mlspec.runtime.gates", "mlspec.runtime.monitor"):
            importlib.import_module(module)
    from tests.fuzz.targets import TARGETS

    fuzz = TARGETS[target]
    atheris.Setup(sys.argv, fuzz)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
