"""The text CNN of Ducoffe's thesis, ch. 12 (Fig. 12.1, A.2.5; the ``hyperdeep`` code)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from alkit.data.text import DEFAULT_MAX_LEN, DEFAULT_MAX_VOCAB, PAD
from alkit.errors import AlkitError, check_positive_int
from alkit.models.base import TappedModel


class TextCNN(TappedModel):
    """Embedding (d = 128) → Conv1d with ``n_filters`` = 512 filters of height 3 spanning the
    whole embedding, ReLU [``conv``] → global max-pool over positions [``pooled``] → dropout
    (0.2, the code's rate) → Dense 100, ReLU [``embedding``] → Dense C (:attr:`head`; softmax in
    the loss).

    Input ``B × L`` token ids (PAD = 0; float ids are accepted, since the Learner casts inputs
    to float32, and rounded). The PAD row of the embedding is fixed at zero. Taps: ``conv``
    ``B × F × (L − 2)`` (the post-ReLU, pre-pool feature map that the deconvolution saliency
    projects back, :func:`alkit.saliency.tds`), ``pooled`` ``B × F``, ``embedding`` ``B × 100``.
    The thesis initialises the embedding by skip-gram word2vec; here it is random (gensim is
    not a dependency), and trained with the rest.

    ``vocab_size`` defaults to :data:`alkit.data.text.DEFAULT_MAX_VOCAB`, the cap of the text
    datasets' vocabularies, so a model built from the input shape alone covers every id.
    """

    tap_names = ("conv", "pooled", "embedding")

    def __init__(
        self,
        input_shape=(DEFAULT_MAX_LEN,),
        n_classes: int = 4,
        vocab_size: int = DEFAULT_MAX_VOCAB,
        embedding_dim: int = 128,
        n_filters: int = 512,
        filter_height: int = 3,
        hidden: int = 100,
        dropout: float = 0.2,
    ):
        super().__init__()
        if len(tuple(input_shape)) != 1:
            raise AlkitError(f"TextCNN takes B × L token ids; got input shape {input_shape}")
        self.seq_len = check_positive_int("sequence length", input_shape[0])
        self.filter_height = check_positive_int("filter_height", filter_height)
        if self.seq_len < self.filter_height:
            raise AlkitError(
                f"sequences of {self.seq_len} tokens are shorter than the filter height "
                f"{self.filter_height}"
            )
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.embedding = nn.Embedding(
            self.vocab_size, check_positive_int("embedding_dim", embedding_dim), padding_idx=PAD
        )
        self.conv = nn.Conv1d(
            embedding_dim, check_positive_int("n_filters", n_filters), filter_height
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(n_filters, check_positive_int("hidden", hidden))
        self.head = nn.Linear(hidden, check_positive_int("n_classes", n_classes))

    def token_ids(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as int64 ids ``B × L``, checked against the vocabulary size."""
        ids = x.round().long() if x.is_floating_point() else x.long()
        if ids.ndim != 2:
            raise AlkitError(f"TextCNN takes B × L token ids, got shape {tuple(x.shape)}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise AlkitError(
                f"token ids must lie in 0…{self.vocab_size - 1}, got {int(ids.min())}…"
                f"{int(ids.max())}: build the model with a larger vocab_size"
            )
        return ids

    def embed_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Word embeddings transposed for the convolution: ``B × d × L``."""
        return self.embedding(self.token_ids(x)).transpose(1, 2)

    def forward_taps(self, x):
        conv = F.relu(self.conv(self.embed_tokens(x)))
        pooled = conv.amax(dim=2)
        hidden = F.relu(self.fc(self.dropout(pooled)))
        return self.head(hidden), {"conv": conv, "pooled": pooled, "embedding": hidden}
