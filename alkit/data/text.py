"""Text data for ch. 12 of Ducoffe's thesis (TDS): Debian's ``fortunes`` as a labelled corpus.

Debian's package ``fortunes`` (BSD licence) installs categorised plain-text fortunes in
``/usr/share/games/fortunes/<topic>``, items separated by lines holding ``%``. The default
task classifies four topics (computers, politics, science, songs-poems: about 3,100 items,
seed001 spec §6.3). Attribution lines (``-- Author``) are stripped, else a model learns the
authors; overstrike sequences (``_\\bX``) are reduced to their last character.

The dataset's inputs are token ids padded with 0 (PAD) to a fixed length, an ``N × L`` int64
array, so the pool, the loop and every strategy work on text unchanged; the text CNN
(:class:`~alkit.models.textcnn.TextCNN`) embeds the ids. Tokens: lower-case
``[\\w']+|[^\\w\\s]`` (words and punctuation, as the thesis keeps punctuation); the vocabulary
comes from the training split only (min count 2), ids ``0 = PAD``, ``1 = UNK``, then by
decreasing frequency (ties alphabetical). Nothing here touches the network.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alkit.data.datasets import Dataset, register_dataset
from alkit.errors import AlkitError, DatasetUnavailableError, check_positive_int

FORTUNES_DIRS = ("/usr/share/games/fortunes",)
FORTUNES_TOPICS = ("computers", "politics", "science", "songs-poems")
PAD, UNK = 0, 1
SPECIALS = ("<pad>", "<unk>")
#: sequence length of the thesis's text CNN (A.2.5: sequences of 50 words)
DEFAULT_MAX_LEN = 50
#: vocabulary cap; also the default number of embedding rows of the text CNN, so that a model
#: built from the input shape alone (the loop's ``build_model``) covers every id
DEFAULT_MAX_VOCAB = 10_000

_TOKEN = re.compile(r"[\w']+|[^\w\s]")
_ATTRIBUTION = re.compile(r"^(\s*)--\s*\S")
_INSTALL_HINT = (
    "Install Debian's package with 'apt-get install fortunes' (its files go to "
    "/usr/share/games/fortunes/), or put the fortune files in $ALKIT_DATA/fortunes."
)


def tokenize(text: str) -> list[str]:
    """Lower-case words (letters, digits, ``_``, apostrophes) and single punctuation marks."""
    return _TOKEN.findall(text.lower())


def strip_overstrike(text: str) -> str:
    """Remove backspace overstrikes (``_\\bI`` → ``I``; ``___\\b\\b\\bfoo`` → ``foo``)."""
    while "\x08" in text:
        new = re.sub("[^\x08]\x08", "", text)
        if new == text:
            return text.replace("\x08", "")
        text = new
    return text


def _indent(prefix: str) -> int:
    return len(prefix.expandtabs(8))


def strip_attributions(item: str) -> str:
    """Drop every ``-- Author`` line (a line whose first non-blank characters are ``--``) and
    the lines indented at least as deep that continue it; surrounding blank lines trimmed."""
    lines = item.split("\n")
    kept: list[str] = []
    skip_deeper_than: int | None = None
    for line in lines:
        match = _ATTRIBUTION.match(line)
        if match:
            skip_deeper_than = _indent(match.group(1))
            continue
        if skip_deeper_than is not None and line.strip():
            lead = _indent(line[: len(line) - len(line.lstrip())])
            if lead >= skip_deeper_than and lead > 0:
                continue
        skip_deeper_than = None
        kept.append(line)
    return "\n".join(kept).strip()


def read_fortune_file(path: str | os.PathLike) -> list[str]:
    """The items of one fortune file: split on ``%`` lines, overstrikes and attributions
    removed, whitespace normalised; empty items dropped."""
    raw = Path(path).read_bytes().decode("utf-8", errors="replace")
    items = re.split(r"^%[ \t]*$", raw.replace("\r\n", "\n"), flags=re.M)
    out = []
    for item in items:
        text = strip_attributions(strip_overstrike(item))
        text = re.sub(r"\s+", " ", text).strip()
        if text:
            out.append(text)
    return out


@dataclass(frozen=True)
class Vocabulary:
    """Token strings by id (``tokens[0] = "<pad>"``, ``tokens[1] = "<unk>"``)."""

    tokens: tuple[str, ...]

    def __post_init__(self):
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    def __len__(self) -> int:
        return len(self.tokens)

    def ids(self, tokens: Iterable[str]) -> list[int]:
        """The id of each token (UNK for tokens outside the vocabulary)."""
        return [self._index.get(t, UNK) for t in tokens]

    def encode(self, texts: Sequence[str], max_len: int = DEFAULT_MAX_LEN) -> np.ndarray:
        """Token ids of each text, truncated to ``max_len`` and padded with PAD: ``N × max_len``
        int64."""
        max_len = check_positive_int("max_len", max_len)
        out = np.full((len(texts), max_len), PAD, dtype=np.int64)
        for i, text in enumerate(texts):
            ids = self.ids(tokenize(text))[:max_len]
            out[i, : len(ids)] = ids
        return out

    def decode(self, ids_L) -> list[str]:
        """The token strings of one id row, PAD positions left out."""
        return [self.tokens[int(i)] for i in np.asarray(ids_L).reshape(-1) if int(i) != PAD]


def build_vocabulary(
    texts: Iterable[str], min_count: int = 2, max_size: int = DEFAULT_MAX_VOCAB
) -> Vocabulary:
    """A vocabulary of the tokens seen at least ``min_count`` times, most frequent first
    (ties alphabetical), capped at ``max_size`` entries including PAD and UNK."""
    min_count = check_positive_int("min_count", min_count)
    max_size = check_positive_int("max_size", max_size)
    if max_size < 3:
        raise AlkitError(f"max_size must be ≥ 3 (PAD, UNK and one token), got {max_size}")
    counts = Counter(t for text in texts for t in tokenize(text))
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return Vocabulary(SPECIALS + tuple(kept[: max_size - len(SPECIALS)]))


@dataclass
class TextDataset(Dataset):
    """A :class:`~alkit.data.datasets.Dataset` of token-id rows plus what a notebook needs to
    show the words: the vocabulary and the raw texts of both parts (same order as the rows)."""

    vocabulary: Vocabulary = field(default_factory=lambda: Vocabulary(SPECIALS))
    texts_train: tuple[str, ...] = ()
    texts_test: tuple[str, ...] = ()


def find_fortunes_dir(topics: Sequence[str], root: str | os.PathLike | None = None) -> Path:
    """The first folder holding every topic file: ``root``, ``$ALKIT_DATA/fortunes``,
    ``$ALKIT_DATA``, then Debian's ``/usr/share/games/fortunes``; else a
    :class:`~alkit.errors.DatasetUnavailableError` that says how to install it."""
    candidates = []
    if root is not None:
        candidates.append(Path(root))
    elif os.environ.get("ALKIT_DATA"):
        data = Path(os.environ["ALKIT_DATA"])
        candidates += [data / "fortunes", data]
    if root is None:
        candidates += [Path(d) for d in FORTUNES_DIRS]
    for d in candidates:
        if all((d / t).is_file() for t in topics):
            return d
    where = ", ".join(str(d) for d in candidates)
    raise DatasetUnavailableError(
        f"dataset 'fortunes' needs the topic files {list(topics)}, not found in {where}. "
        + _INSTALL_HINT
    )


@register_dataset("fortunes")
def fortunes(
    topics: Sequence[str] = FORTUNES_TOPICS,
    max_len: int = DEFAULT_MAX_LEN,
    min_count: int = 2,
    max_vocab: int = DEFAULT_MAX_VOCAB,
    test_fraction: float = 0.2,
    seed: int = 0,
    root: str | os.PathLike | None = None,
) -> TextDataset:
    """Debian's fortunes as a topic-classification corpus (thesis ch. 12 stand-in corpus).

    One class per topic file (default: computers, politics, science, songs-poems). Items are
    read with :func:`read_fortune_file`; a text found under two topics is dropped (its label
    is ambiguous), a repeat within one topic kept once. A stratified ``test_fraction`` is held
    out with ``seed``; the vocabulary (``min_count``, ``max_vocab``) comes from the train part.
    Returns token ids ``N × max_len`` int64 (PAD = 0) as inputs.
    """
    topics = tuple(topics)
    if not topics or len(set(topics)) != len(topics):
        raise AlkitError(f"topics must be distinct fortune file names, got {list(topics)}")
    if not 0.0 < test_fraction < 1.0:
        raise AlkitError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    folder = find_fortunes_dir(topics, root)
    label_of: dict[str, int] = {}
    ambiguous: set[str] = set()
    for c, topic in enumerate(topics):
        for text in read_fortune_file(folder / topic):
            if text in label_of and label_of[text] != c:
                ambiguous.add(text)
            label_of.setdefault(text, c)
    texts = [t for t in label_of if t not in ambiguous]
    y = np.array([label_of[t] for t in texts], dtype=np.int64)
    if len(np.unique(y)) < len(topics):
        raise DatasetUnavailableError(f"some fortune topics in {folder} hold no items")
    from sklearn.model_selection import train_test_split

    idx_tr, idx_te = train_test_split(
        np.arange(len(texts)), test_size=test_fraction, stratify=y, random_state=seed
    )
    idx_tr, idx_te = np.sort(idx_tr), np.sort(idx_te)
    texts_tr = tuple(texts[i] for i in idx_tr)
    texts_te = tuple(texts[i] for i in idx_te)
    vocab = build_vocabulary(texts_tr, min_count=min_count, max_size=max_vocab)
    return TextDataset(
        "fortunes",
        vocab.encode(texts_tr, max_len),
        y[idx_tr],
        vocab.encode(texts_te, max_len),
        y[idx_te],
        topics,
        vocabulary=vocab,
        texts_train=texts_tr,
        texts_test=texts_te,
    )
