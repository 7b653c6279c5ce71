"""Workflow commands on stdout (``::error::``, ``::add-mask::``, ...), environment files
(``GITHUB_ENV``/``GITHUB_OUTPUT``/``GITHUB_STATE`` with ``<<DELIMITER`` heredocs) and masking."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MASK = "***"


class EnvFileError(Exception):
    """A malformed ``GITHUB_ENV``/``GITHUB_OUTPUT`` file: GitHub fails the step."""


def parse_env_file(text: str, what: str) -> list[tuple[str, str]]:
    """``name=value`` lines and ``name<<DELIMITER`` ... ``DELIMITER`` blocks, as the runner reads them."""
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line == "":
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            name, value = line[:eq], line[eq + 1:]
            if not name:
                raise EnvFileError(f"Invalid format '{line}' in {what}: the name is empty")
            out.append((name, value))
            continue
        if heredoc > 0:
            name, delimiter = line[:heredoc], line[heredoc + 2:]
            if not delimiter:
                raise EnvFileError(f"Invalid format '{line}' in {what}: the delimiter is empty")
            body: list[str] = []
            while True:
                if i >= len(lines):
                    raise EnvFileError(f"Invalid value in {what}: matching delimiter not found '{delimiter}'")
                if lines[i] == delimiter:
                    i += 1
                    break
                body.append(lines[i])
                i += 1
            out.append((name, "\n".join(body)))
            continue
        raise EnvFileError(f"Invalid format '{line}' in {what}")
    return out


@dataclass
class Masker:
    """Secret values and ``::add-mask::`` values, replaced by ``***`` in every log line."""

    values: set[str] = field(default_factory=set)

    def add(self, value: str) -> None:
        value = value.strip() if "\n" not in value else value
        if not value:
            return
        self.values.add(value)
        # The runner also masks each line of a multi-line secret on its own.
        for line in value.splitlines():
            if line.strip():
                self.values.add(line.strip())

    def mask(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    def copy(self) -> Masker:
        return Masker(set(self.values))


def unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    return unescape_data(text).replace("%3A", ":").replace("%2C", ",")


_COMMAND = re.compile(r"^::([A-Za-z][A-Za-z0-9_-]*)(?: (.*?))?::(.*)$")


@dataclass(frozen=True)
class Command:
    name: str
    properties: dict[str, str]
    data: str


def parse_command(line: str) -> Command | None:
    m = _COMMAND.match(line.strip())
    if not m:
        return None
    props: dict[str, str] = {}
    for pair in (m.group(2) or "").split(","):
        if "=" in pair:
            k, v = pair.split("=", 1)
            props[k.strip()] = unescape_property(v)
    return Command(m.group(1).lower(), props, unescape_data(m.group(3)))


@dataclass(frozen=True)
class Annotation:
    level: str  # error | warning | notice
    message: str
    job: str
    step: str
    properties: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        where = f" ({', '.join(f'{k}={v}' for k, v in self.properties.items())})" if self.properties else ""
        return f"{self.level}: {self.job} / {self.step}: {self.message}{where}"
