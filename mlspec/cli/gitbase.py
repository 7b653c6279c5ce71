"""The base side of ``mlspec diff``: a spec as it was at a git revision.

The base is read with git itself (``git ls-tree`` / ``git cat-file``), never by checking the
revision out, so the work tree and index stay untouched. The spec is written to a temporary
folder at its repository path, with the small files of its folder that the spec names
(prompts, rubrics, requirements, params files), so it compiles there as it did then.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mlspec import diagnostics as dx
from mlspec.diagnostics import Diagnostic

#: Files larger than this are never materialized: specs and the files they name are small
#: (the loader refuses specs over 1 MiB); data and models are not read at compile time.
MAX_FILE_BYTES = 1024 * 1024
#: Remotes' default branches tried, in order, after ``$GITHUB_BASE_REF`` and ``origin/HEAD``.
DEFAULT_BRANCHES = ("origin/main", "origin/master", "main", "master")


class BaseUnavailable(Exception):
    """The base cannot be read; carries the diagnostic to report (exit 1)."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class Base:
    label: str          # as the user named it ("origin/main", "merge base of HEAD and origin/main")
    commit: str         # full sha
    root: Path          # repository root
    spec_rel: str       # the spec's path from the root, POSIX


def _git(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        return subprocess.run(["git", "-C", str(root), *args], input=stdin, capture_output=True,
                              env=env, timeout=120, check=False)
    except FileNotFoundError:
        raise BaseUnavailable(Diagnostic(dx.GIT_UNAVAILABLE, "git is not installed (not on PATH)",
                                         hint="install git, or compare with a file: --base-file FILE")) from None


def _first_line(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip().splitlines()
    return "".join(c if c.isprintable() else "?" for c in (text[0] if text else ""))[:300]


def locate(spec: Path) -> tuple[Path, str]:
    """The repository root holding ``spec`` and the spec's POSIX path from that root."""
    folder = spec.resolve().parent
    result = _git(folder, "rev-parse", "--show-toplevel")
    if result.returncode != 0:
        raise BaseUnavailable(Diagnostic(
            dx.GIT_UNAVAILABLE, f"{folder} is not inside a git work tree ({_first_line(result.stderr)})",
            hint="run mlspec diff inside the repository, or compare with a file: --base-file FILE"))
    root = Path(result.stdout.decode().strip()).resolve()
    return root, spec.resolve().relative_to(root).as_posix()


def _commit(root: Path, rev: str) -> str | None:
    if not rev or rev.startswith("-"):
        return None  # never let a revision be read as an option
    result = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    return result.stdout.decode().strip() if result.returncode == 0 else None


def resolve(spec: Path, rev: str | None) -> Base:
    """The commit to compare with: ``rev``, or the merge base of HEAD and the default branch."""
    root, spec_rel = locate(spec)
    if rev is not None:
        commit = _commit(root, rev)
        if commit is None:
            raise BaseUnavailable(Diagnostic(
                dx.UNKNOWN_REVISION, f"unknown revision {rev!r}",
                hint="name a branch, tag or commit (`git log --oneline`); in a shallow CI checkout, "
                     "fetch the base first: git fetch --no-tags origin BRANCH"))
        return Base(rev, commit, root, spec_rel)
    candidates: list[str] = []
    pr_base = os.environ.get("GITHUB_BASE_REF", "").strip()
    if pr_base:  # set by GitHub Actions on pull_request events
        candidates += [f"origin/{pr_base}", pr_base]
    head = _git(root, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    if head.returncode == 0 and head.stdout.strip():
        candidates.append(head.stdout.decode().strip())
    candidates += [c for c in DEFAULT_BRANCHES if c not in candidates]
    for branch in candidates:
        tip = _commit(root, branch)
        if tip is None:
            continue
        merge_base = _git(root, "merge-base", "HEAD", tip)
        if merge_base.returncode != 0:
            raise BaseUnavailable(Diagnostic(
                dx.NO_BASE_REVISION, f"HEAD shares no history with {branch} (a shallow clone?)",
                hint="fetch more history (actions/checkout with fetch-depth: 0) or pass --base REV"))
        return Base(f"merge base with {branch}", merge_base.stdout.decode().strip(), root, spec_rel)
    raise BaseUnavailable(Diagnostic(
        dx.NO_BASE_REVISION, "no default branch found (tried " + ", ".join(candidates) + ")",
        hint="pass --base REV, e.g. --base origin/main"))


def materialize(base: Base, dest: Path) -> Path | None:
    """Write the spec at ``base`` (and the small files of its folder it names) under ``dest``.

    Returns the spec's path under ``dest``, or ``None`` when the spec does not exist there.
    """
    folder = PurePosixPath(base.spec_rel).parent.as_posix()
    args = ["ls-tree", "-r", "-z", "--long", "--full-tree", base.commit]
    if folder != ".":
        args += ["--", f"{folder}/"]
    listing = _git(base.root, *args)
    if listing.returncode != 0:
        raise BaseUnavailable(Diagnostic(dx.UNKNOWN_REVISION,
                                         f"cannot list {base.label}: {_first_line(listing.stderr)}"))
    blobs: dict[str, tuple[str, int]] = {}
    for entry in listing.stdout.split(b"\0"):
        if not entry:
            continue
        meta, _, raw_path = entry.partition(b"\t")
        mode, kind, sha, size = meta.split()
        if kind != b"blob" or mode not in (b"100644", b"100755") or size == b"-":
            continue  # symlinks and submodules are not followed
        blobs[raw_path.decode("utf-8", "surrogateescape")] = (sha.decode(), int(size))
    if base.spec_rel not in blobs:
        return None
    spec_sha, spec_size = blobs[base.spec_rel]
    spec_bytes = _cat(base, [spec_sha])[0] if spec_size <= MAX_FILE_BYTES else b""
    text = spec_bytes.decode("utf-8", "replace")
    prefix = "" if folder == "." else folder + "/"
    wanted = [p for p, (_, size) in blobs.items()
              if p != base.spec_rel and size <= MAX_FILE_BYTES and p.startswith(prefix)
              and p[len(prefix):] in text]
    contents = _cat(base, [blobs[p][0] for p in wanted]) if wanted else []
    dest = dest.resolve()
    for rel, data in [(base.spec_rel, spec_bytes), *zip(wanted, contents)]:
        target = (dest / rel).resolve()
        if dest not in target.parents:
            continue  # git trees hold no `..`; belt and braces
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return dest / base.spec_rel


def _cat(base: Base, shas: list[str]) -> list[bytes]:
    """Blob contents, in order, from one ``git cat-file --batch``."""
    result = _git(base.root, "cat-file", "--batch", stdin="".join(f"{s}\n" for s in shas).encode())
    if result.returncode != 0:
        raise BaseUnavailable(Diagnostic(dx.UNKNOWN_REVISION, f"cannot read {base.label}: "
                                                              f"{_first_line(result.stderr)}"))
    out, data, pos = [], result.stdout, 0
    for _ in shas:
        end = data.index(b"\n", pos)
        size = int(data[pos:end].split()[2])
        out.append(data[end + 1:end + 1 + size])
        pos = end + 1 + size + 1
    return out
