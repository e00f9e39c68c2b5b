"""Text (thesis ch. 12): the fortunes loader, the text CNN, deconvolution saliency, z-scores."""

from __future__ import annotations

import functools
import math
import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alkit.data import load_dataset
from alkit.data.text import (
    PAD,
    UNK,
    build_vocabulary,
    find_fortunes_dir,
    read_fortune_file,
    strip_attributions,
    tokenize,
)
from alkit.errors import AlkitError, DatasetUnavailableError
from alkit.models import DEFAULT_MODEL, build_model
from alkit.models.textcnn import TextCNN
from alkit.saliency import ZScoreClassifier, class_token_counts, deconvolve, tds, zscores


def fortunes_available() -> bool:
    try:
        find_fortunes_dir(("computers", "politics", "science", "songs-poems"))
    except DatasetUnavailableError:
        return False
    return True


requires_fortunes = pytest.mark.skipif(
    not fortunes_available(), reason="Debian's fortunes missing: apt-get install fortunes"
)

FAKE = {
    "bugs": (
        "The compiler found a bug.\n\t\t-- Anonymous Hacker\n%\n"
        "Reboot the _\bk_\be_\br_\bn_\be_\bl now.\n%\n"
        "Dear Emily:\n\tWhy?\n\t\t-- Confused\n\nDear Confused:\n\tBecause.\n\t\t-- Emily\n%\n"
        "Shared text in two files.\n%\n"
        "The compiler found a bug.\n%\n"
    ),
    "poems": (
        "Roses are red, the compiler is blue.\n\t\t-- A poet,\n\t\t   in two lines\n%\n"
        "Shared text in two files.\n%\n"
        "Sing a song of bugs and kernels.\n%\n"
        "A song, a rhyme, a poem.\n%\n"
    ),
}


@pytest.fixture
def fake_fortunes(tmp_path):
    for name, text in FAKE.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_reader_strips_attributions_and_overstrikes(fake_fortunes):
    items = read_fortune_file(fake_fortunes / "bugs")
    assert items[0] == "The compiler found a bug."
    assert items[1] == "Reboot the kernel now."
    assert items[2] == "Dear Emily: Why? Dear Confused: Because."
    poems = read_fortune_file(fake_fortunes / "poems")
    assert poems[0] == "Roses are red, the compiler is blue."
    assert strip_attributions("Text -- not an attribution.") == "Text -- not an attribution."


def test_loader_on_synthetic_files(fake_fortunes):
    ds = load_dataset(
        "fortunes", topics=("bugs", "poems"), root=fake_fortunes, test_fraction=0.3, max_len=6
    )
    texts = ds.texts_train + ds.texts_test
    assert "Shared text in two files." not in texts  # ambiguous label: dropped
    assert texts.count("The compiler found a bug.") == 1  # repeated within a topic: kept once
    assert len(texts) == 6 and ds.class_names == ("bugs", "poems")
    assert ds.X_train.shape == (len(ds.texts_train), 6) and ds.X_train.dtype == np.int64
    # the vocabulary comes from the training texts only; ids decode back to the tokens
    train_tokens = [t for text in ds.texts_train for t in tokenize(text)]
    for token in ds.vocabulary.tokens[2:]:
        assert train_tokens.count(token) >= 2
    row = ds.X_train[0]
    expected = [t if t in ds.vocabulary.tokens else "<unk>" for t in tokenize(ds.texts_train[0])]
    assert ds.vocabulary.decode(row) == expected[:6]
    again = load_dataset(
        "fortunes", topics=("bugs", "poems"), root=fake_fortunes, test_fraction=0.3, max_len=6
    )
    np.testing.assert_array_equal(ds.X_train, again.X_train)
    assert ds.texts_test == again.texts_test


def test_missing_files_name_the_install_command(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="apt-get install fortunes"):
        load_dataset("fortunes", root=tmp_path)


def test_vocabulary_and_tokenizer():
    assert tokenize("Don't PANIC, it's 42!") == ["don't", "panic", ",", "it's", "42", "!"]
    vocab = build_vocabulary(["a b b c", "b c c d"], min_count=2)
    assert vocab.tokens == ("<pad>", "<unk>", "b", "c")
    np.testing.assert_array_equal(vocab.encode(["c d b"], max_len=5), [[3, UNK, 2, PAD, PAD]])


@functools.cache
def real_fortunes():
    return load_dataset("fortunes")


@requires_fortunes
def test_real_fortunes_load_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("the loader must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    ds = load_dataset("fortunes")
    assert ds.class_names == ("computers", "politics", "science", "songs-poems")
    assert 2900 <= len(ds.y_train) + len(ds.y_test) <= 3200
    assert ds.X_train.shape[1] == 50 and len(ds.vocabulary) <= 10_000
    assert np.bincount(ds.y_train).min() > 400
    churchill = [t for t in ds.texts_train + ds.texts_test if t.startswith("A fanatic is one")]
    assert churchill == ["A fanatic is one who can't change his mind and won't change the subject."]


def test_textcnn_shapes_and_default_model():
    assert DEFAULT_MODEL["fortunes"] == "textcnn"
    torch.manual_seed(0)
    net = build_model("textcnn", (20,), 3, vocab_size=50).eval()
    x = torch.randint(0, 50, (4, 20))
    logits, taps = net.forward_taps(x.float())  # the Learner hands over float32 ids
    assert logits.shape == (4, 3)
    assert taps["conv"].shape == (4, 512, 18) and (taps["conv"] >= 0).all()
    assert taps["pooled"].shape == (4, 512) and taps["embedding"].shape == (4, 100)
    torch.testing.assert_close(net(x), logits)
    with pytest.raises(AlkitError, match="token ids must lie in 0…49"):
        net(torch.full((1, 20), 50))
    with pytest.raises(AlkitError, match="shorter than the filter height"):
        TextCNN((2,), 3)


def test_deconvolution_is_the_adjoint_of_the_convolution():
    """⟨conv1d(E, W), A⟩ = ⟨E, conv_transpose1d(A, W)⟩ before the ReLU (with the CNN's W)."""
    torch.manual_seed(0)
    net = TextCNN((30,), 4, vocab_size=100).double()
    W = net.conv.weight.detach()
    E = torch.randn(5, 128, 30, dtype=torch.float64)
    A = torch.randn(5, 512, 28, dtype=torch.float64)
    lhs = (F.conv1d(E, W) * A).sum()
    rhs = (E * deconvolve(A, W)).sum()
    torch.testing.assert_close(lhs, rhs, rtol=1e-10, atol=1e-8)
    assert deconvolve(A, W).shape == (5, 128, 30)


def test_tds_peaks_on_the_trigram_a_hand_set_filter_detects():
    """One filter that fires only on the trigram (7, 8, 9): TDS is positive on exactly those
    three words and zero elsewhere."""
    V, L = 12, 10
    net = TextCNN((L,), 2, vocab_size=V, embedding_dim=V, n_filters=1)
    with torch.no_grad():
        net.embedding.weight.copy_(torch.eye(V))
        net.conv.weight.zero_()
        for k, token in enumerate((7, 8, 9)):
            net.conv.weight[0, token, k] = 1.0
        net.conv.bias.fill_(-2.5)  # fires (0.5) only when all three tokens match
    tokens = np.array([[2, 7, 8, 3, 7, 8, 9, 4, PAD, PAD], [9, 8, 7, 2, 3, 4, 5, 6, 7, 8]])
    sal = tds(net, tokens)
    assert sal.shape == (2, L)
    np.testing.assert_allclose(sal[0], [0, 0, 0, 0, 0.5, 0.5, 0.5, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(sal[1], 0.0, atol=1e-6)


def test_tds_gives_one_value_per_token_and_masks_pad():
    torch.manual_seed(1)
    net = TextCNN((15,), 3, vocab_size=40)
    tokens = np.random.default_rng(0).integers(2, 40, size=(6, 15))
    tokens[:, 11:] = PAD
    sal = tds(net, tokens, batch_size=4)
    assert sal.shape == (6, 15) and (sal >= 0).all()
    assert (sal[:, 11:] == 0).all() and (sal[:, :11] > 0).any()
    signed = tds(net, tokens, relu_out=False, mask_pad=False)
    assert (signed < 0).any() and not (signed[:, 11:] == 0).all()


def test_zscores_match_a_hand_computation():
    # class 0: "2 2 3", class 1: "3 4" (PAD = 0 ignored); 5 tokens in all
    tokens = np.array([[2, 2, 3], [3, 4, PAD]])
    counts = class_token_counts(tokens, [0, 1], n_classes=2, vocab_size=5)
    np.testing.assert_array_equal(counts, [[0, 0, 2, 1, 0], [0, 0, 0, 1, 1]])
    z = zscores(counts)
    # word 2: f=2 in class 0 (n=3), p=2/5 → (2 − 1.2)/√(3·0.4·0.6)
    assert z[0, 2] == pytest.approx(0.8 / math.sqrt(0.72))
    assert z[1, 2] == pytest.approx(-0.8 / math.sqrt(0.48))  # (0 − 2·0.4)/√(2·0.4·0.6)
    assert z[0, 4] == pytest.approx(-0.6 / math.sqrt(0.48))  # (0 − 3·0.2)/√(3·0.2·0.8)
    assert z[1, 4] == pytest.approx(0.6 / math.sqrt(0.32))  # (1 − 2·0.2)/√(2·0.2·0.8)
    assert (z[:, :2] == 0).all()  # never seen
    clf = ZScoreClassifier().fit(tokens, [0, 1], n_classes=2, vocab_size=5)
    scores = clf.decision_function(np.array([[4, 3, PAD], [2, UNK, PAD]]))
    np.testing.assert_allclose(scores[0], z[:, 4] + z[:, 3])
    np.testing.assert_allclose(scores[1], z[:, 2])
    np.testing.assert_array_equal(clf.predict(np.array([[4, 3, PAD], [2, UNK, PAD]])), [1, 0])


@requires_fortunes
def test_random_and_entropy_run_on_fortunes_with_the_text_cnn():
    from alkit.loop import ExperimentConfig, run_experiment
    from alkit.train import TrainConfig

    config = ExperimentConfig(
        dataset="fortunes",
        pool_size=300,
        test_size=100,
        initial=20,
        query=5,
        rounds=1,
        seeds=(0,),
        strategies=("random", "entropy"),
        train=TrainConfig(epochs=1, min_steps=4, batch_size=32),
        device="cpu",
    )
    assert config.model_name == "textcnn"
    rows = run_experiment(config, progress=False)
    assert len(rows) == 4
    last = rows[rows["round"] == 1]
    assert (last["n_labeled"] == 25).all()
    for picks in last["selected"]:
        assert len(set(picks)) == 5
