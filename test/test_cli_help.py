"""Every verb's --help prints (argparse formats each option's choices and help only then)."""

import pytest

from liquid_control.cli import build_parser, main


def _verbs():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "verb")
    for name, sub in action.choices.items():
        nested = [a for a in sub._actions if getattr(a, "choices", None) and isinstance(a.choices, dict)]
        yield [name]
        for group in nested:
            for inner in group.choices:
                yield [name, inner]


@pytest.mark.parametrize("words", list(_verbs()), ids=" ".join)
def test_each_verb_prints_its_help(words, capsys):
    with pytest.raises(SystemExit) as done:
        main([*words, "--help"])
    assert done.value.code == 0 and "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("words, said", [
    (["demo", "--world", "drone", "--command-type", "ackermann"], "--command-type is for --world lane"),
    (["demo", "--flight-controller", "px4"], "--flight-controller is for --world drone"),
])
def test_a_demo_option_of_the_other_world_is_refused(words, said, capsys):
    assert main(words) == 2
    assert said in capsys.readouterr().err
