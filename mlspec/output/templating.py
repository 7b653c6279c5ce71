"""The one Jinja environment: templates only format, and only through encoders.

Every ``{{ … }}`` in a template must end in one of the language-aware filters below
(``{{ dag_id|py }}``, ``{{ argv|docker_argv }}``). Each filter returns :class:`Encoded`;
the environment's ``finalize`` refuses any other value, numbers included, so a template
author cannot emit raw spec text by forgetting a filter. Text a template produces itself
(macro calls, ``{% set %}`` blocks, ``super()``) is built from the same checked pieces,
so it counts as encoded too.

Template lookup: user ``--template-dir`` folders first (the first that has a file wins),
then the templates shipped with mlspec.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.compiler
import jinja2.nodes

from mlspec.output import encoders
from mlspec._resources import resource_dir

__all__ = ["Encoded", "UnencodedValueError", "make_environment", "render"]


class Encoded(str):
    """Text that an encoder produced for one target language; the only thing templates emit."""

    __slots__ = ()


class UnencodedValueError(jinja2.TemplateRuntimeError):
    """A ``{{ … }}`` produced a value that did not pass through an encoding filter."""


def _defined(value: Any) -> Any:
    """``value``, after making ``StrictUndefined`` raise its "is undefined" error."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError here
    return value


def _filter(encoder: Callable[[Any], str]) -> Callable[[Any], Encoded]:
    def encode(value: Any) -> Encoded:
        return Encoded(encoder(_defined(value)))

    encode.__name__ = encode.__qualname__ = f"encode_{encoder.__name__}"
    encode.__doc__ = encoder.__doc__
    return encode


FILTERS: dict[str, Callable[[Any], Encoded]] = {
    "py": _filter(encoders.py),
    "sh": _filter(encoders.sh),
    "yaml": _filter(encoders.yaml_inline),
    "json": _filter(encoders.json_inline),
    "promql": _filter(encoders.promql_string),
    "docker_argv": _filter(encoders.docker_json_argv),
    "docker_quoted": _filter(encoders.docker_quoted),
    "dockerignore": _filter(encoders.dockerignore_line),
    "md": _filter(encoders.markdown_text),
    "md_block": _filter(encoders.markdown_block),
    "md_code": _filter(encoders.markdown_code),
}


def _finalize(value: Any) -> Encoded:
    """Let only encoded text into the output (Jinja calls this for every ``{{ … }}``)."""
    value = _defined(value)
    if isinstance(value, Encoded):
        return value
    shown = ascii(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise UnencodedValueError(
        f"a bare {{{{ … }}}} produced {type(value).__name__} {shown}; templates only format: "
        f"end the expression with one of the filters {', '.join(sorted(FILTERS))}"
    )


def _concat(parts: Iterable[str]) -> Encoded:
    """Join a template's own output: every part is template text or a finalized value."""
    return Encoded("".join(parts))


class _CodeGenerator(jinja2.compiler.CodeGenerator):
    def visit_FilterBlock(self, node: jinja2.nodes.FilterBlock, frame: Any) -> None:
        # A filter block's result is written without ``finalize``, so
        # ``{% filter replace("x", spec_text) %}`` would emit raw spec text.
        self.fail("{% filter %} blocks are not allowed in mlspec templates; "
                  "apply an encoding filter to the value instead", node.lineno)


class _FormattingEnvironment(jinja2.Environment):
    code_generator_class = _CodeGenerator
    # ``concat`` joins the output of macros, call blocks, ``{% set %}`` blocks and
    # ``super()``; marking it Encoded lets ``{{ macro() }}`` through ``finalize``.
    concat = staticmethod(_concat)


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja's cache of compiled templates, in its per-user private folder (created 0700 and
    checked to be the user's own): compiling the DAG and model-card templates is a tenth of a
    compile's fixed cost, like the .pyc files Python keeps for modules. Entries are keyed by the
    template's file and checked against its source, so an edited template is recompiled. A
    cache that cannot be read or written is no cache, never a failed compile."""

    def load_bytecode(self, bucket: Any) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            bucket.reset()

    def dump_bytecode(self, bucket: Any) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    import os

    if os.environ.get("MLSPEC_TEMPLATE_CACHE", "1") == "0":
        return None
    try:
        return _BytecodeCache(pattern=f"mlspec-{_generator_key()}-%s.cache")
    except (OSError, RuntimeError):  # no module source to key on, or no private temporary folder
        return None


def _generator_key() -> str:
    """What compiled code depends on besides the template's source, which Jinja's own cache key
    leaves out: this module (the environment's settings, the code generator's refusals, the
    finalize hook) and the Jinja and mlspec versions. Another mlspec never reads our entries."""
    import hashlib

    from mlspec import __version__

    digest = hashlib.sha256(f"{jinja2.__version__}|{__version__}|".encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


@cache
def _environment(search_path: tuple[str, ...]) -> jinja2.Environment:
    env = _FormattingEnvironment(
        loader=jinja2.FileSystemLoader(list(search_path)),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Defaults live in the models, where the JSON Schema shows them (docs/architecture.md).
    del env.filters["default"], env.filters["d"]
    env.filters.update(FILTERS)
    return env


def make_environment(extra_dirs: Sequence[Path] = ()) -> jinja2.Environment:
    """The shared environment over ``extra_dirs`` (first wins) then mlspec's own templates.

    Environments are cached per search path, so repeated calls reuse compiled templates;
    treat them as read-only.
    """
    return _environment(_search_path(extra_dirs))


def render(template_name: str, /, extra_dirs: Sequence[Path] = (), **context: Any) -> str:
    """Render ``template_name`` with ``context``; an unencoded value names the template line."""
    search_path = _search_path(extra_dirs)
    try:
        return str(_environment(search_path).get_template(template_name).render(**context))
    except UnencodedValueError as exc:
        where = _template_line(exc, search_path)
        if where is None:
            raise
        raise UnencodedValueError(f"{where}: {exc}") from None


def _search_path(extra_dirs: Sequence[Path]) -> tuple[str, ...]:
    return (*(str(Path(d).resolve()) for d in extra_dirs), str(resource_dir("templates")))


def _template_line(exc: BaseException, search_path: Sequence[str]) -> str | None:
    """``template:line`` of the innermost template frame in ``exc``'s traceback.

    Jinja rewrites tracebacks so that template frames carry the template file and line;
    the innermost one holds the bad ``{{ … }}`` (possibly in an included template).
    """
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if not (frame.name in _JINJA_FRAME_NAMES or frame.name.startswith("block ")):
            continue  # a Python frame, such as _finalize's own
        for folder in search_path:
            if Path(frame.filename).is_relative_to(folder):
                return f"{Path(frame.filename).relative_to(folder).as_posix()}:{frame.lineno}"
    return None


# The frame names jinja2.debug.fake_traceback gives template code.
_JINJA_FRAME_NAMES = frozenset({"template", "top-level template code"})
