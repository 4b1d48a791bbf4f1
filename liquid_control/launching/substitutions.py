"""Launch substitutions: ``$(var NAME)``, ``$(env NAME [DEFAULT])``, ``$(find-pkg-share PKG)``, ``$(dirname)``.

The grammar follows launch's grammar.lark: substitutions nest, arguments may be quoted, and ``\\``
escapes a character. ``$(eval ...)`` is refused (the real launcher runs it as Python).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .package_share import find_package_share

SUPPORTED_SUBSTITUTIONS = ('$(var NAME)', '$(env NAME [DEFAULT])', '$(find-pkg-share PKG)', '$(dirname)')
_IDENTIFIER_RE = re.compile(r'[A-Za-z][A-Za-z0-9_-]*')


class SubstitutionError(Exception):
    """A substitution that cannot be evaluated; the caller adds the file, line and attribute."""


@dataclass
class Substitution:
    name: str
    args: list[list]  # each argument is a template: a list of str and Substitution


def parse_template(text: str) -> list:
    """``a$(var b)c`` -> ['a', Substitution('var', [['b']]), 'c']; a ValueError names a syntax error."""
    parts, i = _parse_parts(text, 0, stop=lambda ch: False)
    assert i == len(text)
    return parts


def _parse_parts(text: str, i: int, stop: Callable[[str], bool]) -> tuple[list, int]:
    parts: list = []
    literal = []
    while i < len(text) and not stop(text[i]):
        if text[i] == '\\' and i + 1 < len(text):
            literal.append(text[i + 1])
            i += 2
        elif text.startswith('$(', i):
            if literal:
                parts.append(''.join(literal))
                literal = []
            substitution, i = _parse_substitution(text, i)
            parts.append(substitution)
        else:
            literal.append(text[i])
            i += 1
    if literal:
        parts.append(''.join(literal))
    return parts, i


def _parse_substitution(text: str, i: int) -> tuple[Substitution, int]:
    start = i
    i += 2
    match = _IDENTIFIER_RE.match(text, i)
    if not match:
        raise ValueError(f'expected a substitution name after "$(" at column {start + 1} of {text!r}')
    name, i = match.group(), match.end()
    args: list[list] = []
    while True:
        if i >= len(text):
            raise ValueError(f'unterminated substitution "$({name}" in {text!r}')
        if text[i] == ')':
            return Substitution(name, args), i + 1
        if not text[i].isspace():
            raise ValueError(f'expected a space or ")" after "$({name}" in {text!r}')
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] != ')':
            argument, i = _parse_argument(text, i)
            args.append(argument)


def _parse_argument(text: str, i: int) -> tuple[list, int]:
    quote = text[i]
    if quote in '\'"':
        parts, i = _parse_parts(text, i + 1, stop=lambda ch: ch == quote)
        if i >= len(text):
            raise ValueError(f'unterminated {quote} quote in {text!r}')
        return parts, i + 1
    return _parse_parts(text, i, stop=lambda ch: ch.isspace() or ch == ')')


def substitute(name: str, args: list[str], config: dict[str, str], used: set[str], files: list[Path]) -> str:
    """The value of ``$(name args...)`` (its arguments already evaluated).

    config holds the launch configurations (``$(var)`` adds the name it reads to used) and files the
    include chain, whose last file is the one ``$(dirname)`` names.
    """
    def arity(low: int, high: int) -> None:
        if not low <= len(args) <= high:
            expected = str(low) if low == high else f'{low} or {high}'
            raise SubstitutionError(f'takes {expected} argument(s), got {len(args)}')

    if name == 'var':
        arity(1, 1)
        used.add(args[0])
        if args[0] not in config:
            raise SubstitutionError(f"launch configuration '{args[0]}' is not set "
                                    '(declare it with <arg> or <let> first)')
        return config[args[0]]
    if name == 'env':
        arity(1, 2)
        value = os.environ.get(args[0], args[1] if len(args) == 2 else None)
        if value is None:
            raise SubstitutionError(f"environment variable '{args[0]}' is not set and no default is given")
        return value
    if name == 'find-pkg-share':
        arity(1, 1)
        try:
            return str(find_package_share(args[0]))
        except LookupError as error:
            raise SubstitutionError(str(error)) from None
    if name == 'dirname':
        arity(0, 0)
        return str(files[-1].parent.resolve())
    if name == 'eval':
        raise SubstitutionError('$(eval ...) is not supported by this runner (the real launcher evaluates it as '
                                f"Python); supported: {', '.join(SUPPORTED_SUBSTITUTIONS)}")
    raise SubstitutionError(f"unknown substitution '{name}'; supported: {', '.join(SUPPORTED_SUBSTITUTIONS)}")
