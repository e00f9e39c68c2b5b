"""Typed strategy options (issue 9 §3): checked at construction, listed when unknown, list values
on the command line, and the ``--strategies`` splitter."""

from __future__ import annotations

import inspect

import pytest

from alkit.errors import AlkitError
from alkit.strategies import get_strategy, strategy_class, strategy_names
from alkit.strategies.options import Option, parse_value, split_strategy_specs
from alkit.strategies.uncertainty import Entropy


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("entropy:max_candidates=abc", r"'entropy'.*max_candidates='abc'.*integer ≥ 1, or none"),
        ("entropy:max_candidates=2.5", r"'entropy'.*max_candidates='2.5'.*integer ≥ 1"),
        ("entropy:max_candidates=0", r"'entropy'.*max_candidates=0 .*integer ≥ 1"),
        ("margin:max_candidates=-5", r"'margin'.*max_candidates=-5 .*integer ≥ 1"),
        ("entropy:max_candidates=true", r"'entropy'.*max_candidates='true'.*integer"),
        ("kmeans:max_iter=0", r"'kmeans'.*max_iter=0 .*integer ≥ 1"),
        ("kmeans:max_iter=none", r"'kmeans'.*max_iter=None.*integer ≥ 1$"),
        ("pfk:top_k=-1", r"'pfk'.*top_k=-1 .*integer ≥ 1"),
        ("pfk:mc_noise=-0.5", r"'pfk'.*mc_noise=-0.5 .*finite number ≥ 0"),
        ("pfk:kernel=rbf", r"'pfk'.*kernel='rbf'.*one of rz, rzg, sum"),
        ("gmm_hybrid:diversify=maybe", r"'gmm_hybrid'.*diversify='maybe'.*true or false"),
        ("gmm_hybrid:candidate_factor=0", r"'gmm_hybrid'.*candidate_factor=0 .*≥ 1"),
        ("coreset:backend=cuda", r"'coreset'.*backend='cuda'.*one of auto, torch, triton"),
        ("typiclust:min_cluster_size=-1", r"'typiclust'.*min_cluster_size=-1 .*≥ 0"),
        ("bald:n_members=1.5", r"'bald'.*n_members='1.5'.*integer ≥ 1"),
        ("pfk:taps=[]", r"'pfk'.*taps=\[\].*at least 1 item"),
    ],
)
def test_bad_option_values_fail_at_construction_with_one_line(spec, match):
    with pytest.raises(AlkitError, match=match) as err:
        get_strategy(spec)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_candidates": 2.5}, "max_candidates=2.5"),
        ({"max_candidates": True}, "max_candidates=True"),
        ({"max_candidates": "10"}, "max_candidates='10'"),
        ({"max_candidates": 0}, "max_candidates=0"),
    ],
)
def test_python_and_toml_values_are_checked_too(options, match):
    with pytest.raises(AlkitError, match=match):
        get_strategy("entropy", **options)
    with pytest.raises(AlkitError, match=match):
        Entropy(**options)


def test_unknown_options_list_the_real_ones():
    with pytest.raises(AlkitError, match=r"unknown option\(s\) \['foo'\].*valid options: none"):
        get_strategy("random:foo=1")
    with pytest.raises(AlkitError, match=r"\['k'\].*valid options: \['max_candidates'\]"):
        get_strategy("entropy:k=3")
    with pytest.raises(AlkitError, match=r"\['estimator', 'kernel'\].*'taps', 'length'"):
        get_strategy("pcc:kernel=rz", estimator="yhat")
    with pytest.raises(AlkitError, match=r"unknown option.*\['foo'\].*max_candidates"):
        Entropy(foo=3)


@pytest.mark.parametrize("name", strategy_names())
def test_every_option_is_declared_and_every_default_is_allowed(name):
    cls = strategy_class(name)
    specs = cls.all_option_specs()
    undeclared = [o for o in cls.option_names() if o not in specs]
    assert not undeclared, f"{name}: declare {undeclared} in option_specs"
    params = inspect.signature(cls.__init__).parameters
    for key in cls.option_names():
        specs[key].check(name, key, params[key].default)
    assert get_strategy(name).name == name


def test_values_are_read_with_the_declared_type():
    pfk = get_strategy("pfk:estimator=true:mc_degrees=5:length=none:mc_centred=false")
    assert pfk.estimator == "true" and pfk.length is None and pfk.mc_centred is False
    assert isinstance(pfk.mc_degrees, float) and pfk.mc_degrees == 5.0
    assert get_strategy("entropy:max_candidates=none").max_candidates is None
    assert get_strategy("entropy:max_candidates=7").max_candidates == 7


def test_list_options_from_the_command_line_python_and_toml():
    assert get_strategy("pfk:taps=[x1,x2]:top_k=16").taps == ("x1", "x2")
    assert get_strategy("pfk:taps=[x1, x2 ,x4]").taps == ("x1", "x2", "x4")
    assert get_strategy("pfk", taps=["x2"]).taps == ("x2",)  # a TOML list
    assert get_strategy("pfk:taps=x1").taps == ("x1",)
    assert get_strategy("pfk", taps="x1,x4").taps == ("x1", "x4")  # the older string form
    # keyword options override the spec's
    assert get_strategy("pfk:top_k=3", top_k=5).top_k == 5
    with pytest.raises(AlkitError, match=r"taps=\[1\]"):
        get_strategy("pfk", taps=[1])
    with pytest.raises(AlkitError, match="closing"):
        get_strategy("pfk:taps=[x1,x2")


def test_undeclared_values_parse_as_int_float_bool_none_list_or_string():
    assert parse_value("3") == 3 and isinstance(parse_value("3"), int)
    assert parse_value("2.5") == 2.5
    assert parse_value("TRUE") is True and parse_value("none") is None
    assert parse_value("[1, 2.5, false, none, ab]") == [1, 2.5, False, None, "ab"]
    assert parse_value("x1") == "x1"


def test_split_strategy_specs_on_commas_outside_brackets():
    assert split_strategy_specs("random,pfk:taps=[x1,x2],entropy") == [
        "random",
        "pfk:taps=[x1,x2]",
        "entropy",
    ]
    assert split_strategy_specs(" random , pfk:taps=[x1,x2,x4]:top_k=16 ") == [
        "random",
        "pfk:taps=[x1,x2,x4]:top_k=16",
    ]
    assert split_strategy_specs("entropy") == ["entropy"]
    for bad in ("", "random,,entropy", "random,"):
        with pytest.raises(AlkitError, match="empty strategy spec"):
            split_strategy_specs(bad)
    for bad in ("pfk:taps=[x1,x2", "pfk:taps=x1]"):
        with pytest.raises(AlkitError, match="unbalanced"):
            split_strategy_specs(bad)
    specs = [get_strategy(s) for s in split_strategy_specs("random,pfk:taps=[x1,x2],entropy")]
    assert [s.name for s in specs] == ["random", "pfk", "entropy"]
    assert specs[1].taps == ("x1", "x2")


def test_option_declarations_are_checked():
    with pytest.raises(TypeError, match="Option type"):
        Option(dict)
    assert Option(int, min=1, none=True).allowed() == "an integer ≥ 1, or none"
    assert Option(float, min=0.0, max=1.0).allowed() == "a finite number in [0, 1]"
    assert Option(float).check("s", "x", 3) == 3.0
    with pytest.raises(AlkitError, match="finite"):
        Option(float).check("s", "x", float("nan"))
