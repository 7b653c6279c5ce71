"""Coverage-guided fuzzing of the spec loader and the runtime readers, bounded for CI.

Each target in ``tests/fuzz/targets.py`` runs under atheris (libFuzzer) for
``MLSPEC_FUZZ_SECONDS`` (default 10 s; four targets stay under a minute) starting from
the committed corpus ``tests/fuzz/corpus/TARGET``. libFuzzer also enforces a per-input
time limit (a blocking read is a finding) and a memory limit (an unbounded read is a
finding). A crash fails the test; the input is saved to ``tests/fuzz/crashes/TARGET/``
(add it to the corpus once fixed, so it is replayed forever after).

Without atheris (it has wheels for CPython 3.11–3.13 on Linux) the same targets run under
hypothesis instead, seeded with the same corpus.

Grow the corpus locally, then commit what is new:
``python -m tests.fuzz.atheris_main loader -max_total_time=600 tests/fuzz/corpus/loader``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SECONDS = int(os.environ.get("MLSPEC_FUZZ_SECONDS", "10"))
HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None


def corpus(target: str) -> list[Path]:
    return sorted(p for p in (HERE / "corpus" / target).iterdir() if p.is_file())


def crashes(target: str) -> list[Path]:
    folder = HERE / "crashes" / target
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_the_committed_corpus_and_past_crashes_replay_cleanly(target: str) -> None:
    """Every seed and every saved crash input, run once in-process: a regression test."""
    seeds = corpus(target)
    assert seeds, f"tests/fuzz/corpus/{target} is empty"
    for path in seeds + crashes(target):
        TARGETS[target](path.read_bytes())


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_coverage_guided_fuzzing_finds_no_crash(target: str, tmp_path: Path) -> None:
    if not HAVE_ATHERIS:
        _hypothesis_fallback(target)
        return
    work = tmp_path / "corpus"
    shutil.copytree(HERE / "corpus" / target, work)      # libFuzzer adds to its first folder
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.atheris_main", target, f"-max_total_time={SECONDS}",
         "-timeout=10", "-rss_limit_mb=2048", "-max_len=65536", f"-artifact_prefix={artifacts}/",
         "-print_final_stats=1", str(work)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=SECONDS + 120)
    took = time.monotonic() - started
    found = sorted(artifacts.iterdir())
    if proc.returncode != 0 or found:
        saved = HERE / "crashes" / target
        saved.mkdir(parents=True, exist_ok=True)
        for f in found:
            shutil.copy(f, saved / f.name)
        tail = "\n".join(proc.stderr.splitlines()[-40:])
        shown = [f"{(saved / f.name).relative_to(ROOT)}: {f.read_bytes()[:300]!r}" for f in found]
        pytest.fail(f"fuzzing {target} found a crash (exit {proc.returncode}); input saved:\n"
                    + "\n".join(shown or ["(no artifact written)"]) + f"\n--- fuzzer output ---\n{tail}")
    runs = re.search(r"Done (\d+) runs in (\d+) second", proc.stderr)
    assert runs, proc.stderr[-2000:]
    # The figure the report quotes: executions per second under coverage instrumentation.
    print(f"\n[fuzz] {target}: {runs[1]} runs in {took:.1f} s ({int(runs[1]) / max(took, 1e-9):.0f}/s)")


def _hypothesis_fallback(target: str) -> None:
    """The same target under hypothesis: random bytes and mutations of the corpus."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seeds = [p.read_bytes() for p in corpus(target)]

    def mutate(seed: bytes, cuts: list[tuple[int, bytes]]) -> bytes:
        data = bytearray(seed)
        for pos, piece in cuts:
            pos = pos % (len(data) + 1)
            data[pos:pos + len(piece)] = piece
        return bytes(data)

    inputs = st.one_of(st.binary(max_size=4096),
                       st.builds(mutate, st.sampled_from(seeds),
                                 st.lists(st.tuples(st.integers(0, 1 << 16), st.binary(max_size=16)), max_size=6)))

    # Hypothesis has no time budget; about 40 inputs a second is what the slowest target runs.
    @settings(max_examples=40 * SECONDS, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(inputs)
    def run(data: bytes) -> None:
        TARGETS[target](data)

    run()
