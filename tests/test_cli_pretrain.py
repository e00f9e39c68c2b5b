"""``alkit pretrain`` builds the very cache entry that ``alkit bench`` then reuses;
``alkit cache list|clear`` shows and empties the cache."""

from __future__ import annotations

import pytest

from alkit.artifacts import list_entries
from alkit.cli import _config_from_args, build_parser, config_to_toml, main


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ALKIT_CACHE", str(tmp_path / "cache"))


def test_pretrain_then_bench_reuses_the_artifact_and_cache_lists_it(tmp_path, capsys):
    assert main(["pretrain", "pca", "--dataset", "digits", "--seeds", "1", "--option", "dim=16",
                 "--quiet"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "pca seed 0: built" in out and "test kNN-20 0." in out and "(test-cv)" in out
    entry = list_entries("pca")
    assert len(entry) == 1 and 0.8 < entry[0]["quality"]["knn_accuracy"] <= 1
    bench = ["bench", "--quiet", "--features", "pca", "--artifact-option", "pca.dim=16"]
    bench += ["--strategies", "random,typiclust:features=input", "--initial", "20", "--query"]
    bench += ["10", "--rounds", "1", "--seeds", "1", "--epochs", "2", "--min-steps", "10"]
    assert main([*bench, "--device", "cpu", "--out", str(tmp_path / "run")]) == 0
    assert [e["key"] for e in list_entries("pca")] == [entry[0]["key"]]  # reused, not rebuilt
    capsys.readouterr()
    assert main(["pretrain", "pca", "--dataset", "digits", "--seeds", "1", "--option",
                 "dim=16"]) == 0  # fmt: skip
    assert "pca seed 0: cache hit" in capsys.readouterr().out
    assert main(["cache", "list"]) == 0
    listing = capsys.readouterr().out
    assert "1 cached artifact(s)" in listing and entry[0]["key"] in listing
    assert main(["cache", "clear", "pca"]) == 0
    assert "removed 1 cached artifact(s)" in capsys.readouterr().out
    assert list_entries() == []


def test_bench_flags_set_features_and_artifact_options(tmp_path):
    args = build_parser().parse_args(
        ["bench", "--features", "simclr", "--artifact-option", "simclr.epochs=3",
         "--artifact-option", "simclr.tau=0.2", "--dataset", "digits"]
    )  # fmt: skip
    config = _config_from_args(args)
    assert config.features == "simclr" and config.model_name == "mlp_bn"
    assert config.artifact_options == {"simclr": {"epochs": 3, "tau": 0.2}}
    path = tmp_path / "exp.toml"
    path.write_text(config_to_toml(config))
    again = _config_from_args(build_parser().parse_args(["bench", "--config", str(path)]))
    assert again.to_dict() == config.to_dict()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["pretrain", "pca", "--option", "dims=3"], "unknown option(s) ['dims'] for artifact"),
        (["pretrain", "gan"], "unknown artifact 'gan'"),
        (["pretrain", "simclr", "--dataset", "moons"], "artifact 'simclr' needs images C×H×W"),
        (["bench", "--artifact-option", "epochs=3"], "must look like ARTIFACT.KEY=VALUE"),
    ],
)
def test_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
