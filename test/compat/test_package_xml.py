"""package.xml: every dependency has a rosdep key that resolves on Humble (jammy) and Jazzy (noble),
checked against rosdep_keys.json (made by make_rosdep_keys.py from ros/rosdistro; commit inside)."""
import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORD = json.loads((Path(__file__).parent / 'rosdep_keys.json').read_text())
DEPENDENCIES = [(d.tag, d.text.strip()) for d in ElementTree.parse(REPO_ROOT / 'package.xml').getroot()
                if d.tag.endswith('depend')]


@pytest.mark.parametrize('distro', ['humble', 'jazzy'])
def test_every_dependency_resolves(distro):
    unresolved = []
    for tag, key in DEPENDENCIES:
        if key in RECORD['keys']:
            ok = RECORD['keys'][key][distro]
        else:
            ok = key in RECORD['ros_packages'][distro]
        if not ok:
            unresolved.append(f'<{tag}>{key}</{tag}>')
    assert DEPENDENCIES and unresolved == []


def test_the_message_and_ros_packages_the_code_imports_are_declared():
    import ast

    imported = set()
    for path in (REPO_ROOT / 'liquid_control').rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split('.')[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split('.')[0] for alias in node.names)
    ros = {name for name in imported if name in RECORD['ros_packages']['humble']}
    declared = {key for _, key in DEPENDENCIES}
    assert ros and ros <= declared, f'imported but not in package.xml: {sorted(ros - declared)}'
