"""ALKIT_MODE picks one of three notebook sizes; ALKIT_SMOKE=1 stays an alias of smoke."""

from __future__ import annotations

import pytest

from alkit.errors import AlkitError
from alkit.modes import DEFAULT_MODE, MODES, by_mode, notebook_mode


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, "lecture"),
        ({"ALKIT_MODE": "smoke"}, "smoke"),
        ({"ALKIT_MODE": " Full "}, "full"),
        ({"ALKIT_MODE": "lecture"}, "lecture"),
        ({"ALKIT_MODE": ""}, "lecture"),
        ({"ALKIT_SMOKE": "1"}, "smoke"),
        ({"ALKIT_SMOKE": "0"}, "lecture"),
        ({"ALKIT_SMOKE": "1", "ALKIT_MODE": "smoke"}, "smoke"),
        ({"ALKIT_SMOKE": "0", "ALKIT_MODE": "full"}, "full"),
    ],
)
def test_notebook_mode_reads_the_environment(env, expected):
    assert notebook_mode(env) == expected


def test_lecture_is_the_default_a_person_gets():
    assert DEFAULT_MODE == "lecture" and MODES == ("smoke", "lecture", "full")


@pytest.mark.parametrize(
    "env, pattern",
    [
        ({"ALKIT_MODE": "fast"}, r"ALKIT_MODE='fast' is not a mode; allowed: smoke, lecture, full"),
        ({"ALKIT_SMOKE": "yes"}, r"ALKIT_SMOKE='yes' is not allowed"),
        (
            {"ALKIT_SMOKE": "1", "ALKIT_MODE": "full"},
            r"ALKIT_MODE='full' contradicts ALKIT_SMOKE=1",
        ),
    ],
)
def test_a_bad_value_fails_in_one_line_naming_it(env, pattern):
    with pytest.raises(AlkitError, match=pattern) as err:
        notebook_mode(env)
    assert "\n" not in str(err.value)


def test_by_mode_picks_the_value_of_the_mode(monkeypatch):
    sizes = dict(smoke=400, lecture=3000, full=None)
    assert [by_mode(**sizes, mode=m) for m in MODES] == [400, 3000, None]
    monkeypatch.delenv("ALKIT_SMOKE", raising=False)
    monkeypatch.setenv("ALKIT_MODE", "smoke")
    assert by_mode(**sizes) == 400
    monkeypatch.delenv("ALKIT_MODE")
    assert by_mode(**sizes) == 3000
    with pytest.raises(AlkitError, match="mode='tiny' is not a mode"):
        by_mode(**sizes, mode="tiny")
    with pytest.raises(TypeError):
        by_mode(smoke=1, lecture=2)  # every size must be given
