"""Reading a launch file: its XML elements with their file and line, and the error that names them.

Parsed with expat (the parser under xml.etree) because it gives each element its line number, so a
refusal says where in which file the unsupported thing is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence
from xml.parsers import expat


class LaunchError(ValueError):
    """A launch file the runner cannot run; the message names the file and line when there is one."""


@dataclass
class LaunchElement:
    """One XML element of a launch file, with where it was written."""

    tag: str
    attrs: dict[str, str]
    file: Path
    line: int
    children: list[LaunchElement] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f'{self.file}:{self.line}'

    def fail(self, message: str) -> LaunchError:
        return LaunchError(f'{self.where}: <{self.tag}>: {message}')

    def check(self, required: Sequence[str] = (), optional: Sequence[str] = (), children: Sequence[str] = ()) -> None:
        """Refuse attributes and child elements this runner does not support."""
        for name in required:
            if name not in self.attrs:
                raise self.fail(f"attribute '{name}' is required")
        for name in self.attrs:
            if name not in required and name not in optional:
                supported = ', '.join([*required, *optional]) or 'none'
                raise self.fail(f"attribute '{name}' is not supported by this runner (supported: {supported})")
        for child in self.children:
            if child.tag not in children:
                supported = ', '.join(f'<{c}>' for c in children) or 'none'
                raise child.fail(f'not supported inside <{self.tag}> by this runner (supported there: {supported})')


def read_launch_file(path: Path) -> LaunchElement:
    """The <launch> root element of an XML launch file, each element with its line number."""
    stack: list[LaunchElement] = []
    root: list[LaunchElement] = []
    parser = expat.ParserCreate()

    def start(tag, attrs):
        element = LaunchElement(tag, dict(attrs), path, parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(element)
        stack.append(element)

    def end(tag):
        stack.pop()

    def text(data):
        if data.strip():
            raise LaunchError(f'{path}:{parser.CurrentLineNumber}: unexpected text {data.strip()!r} '
                              f'inside <{stack[-1].tag}> (launch files hold elements only)')

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    try:
        data = path.read_bytes()
    except OSError as error:
        raise LaunchError(f'cannot read launch file {path}: {error.strerror}') from None
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise LaunchError(f'{path}:{error.lineno}: not well-formed XML: {expat.errors.messages[error.code]}') from None
    if root[0].tag != 'launch':
        raise root[0].fail('the root element of a launch file must be <launch>')
    return root[0]
