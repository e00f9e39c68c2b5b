"""Text deconvolution saliency (thesis ch. 12) on Debian's fortunes: CNN vs z-score accuracy,
Pearson correlation of z-scores and TDS, and a deletion check.

- Accuracy on the test split (4 topics, 20 %): the thesis's text CNN (random embedding init:
  no word2vec), trained with Adam (lr ``--lr``, batch 64) on 90 % of the train split, keeping
  the epoch of best accuracy on the other 10 % (the code's protocol, Fig. 12.3); and the
  z-score classifier (thesis §12.5) on the whole train split, with UNK ignored and counted.
- Correlation (Fig. 12.4): for every test sequence with at least 5 tokens, Pearson's r between
  the z-scores of its tokens for the CNN's predicted class and their TDS; the median, quartiles
  and the share above 0.38 (the thesis's example value), plus r over all tokens pooled.
- Deletion (alkit's own sanity check, not in the thesis): replace the 3 tokens of highest TDS
  with PAD, or 3 random tokens, and compare the mean drop of the CNN's probability of ĉ.

    flock /tmp/alkit-bench.lock env PYTHONPATH=. python benchmarks/text_saliency.py
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from alkit.data import load_dataset
from alkit.data.text import PAD, UNK
from alkit.models import build_model
from alkit.saliency import ZScoreClassifier, tds, token_zscores
from alkit.train import Learner, TrainConfig, seed_everything

RESULTS = Path(__file__).parent / "results"


def train_cnn(ds, epochs: int, lr: float, seed: int):
    """Train on 90 % of the train split, one epoch at a time, keeping the best validation
    epoch; returns ``(learner, curve)``."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ds.y_train))
    n_val = len(order) // 10
    val, tr = order[:n_val], order[n_val:]
    seed_everything(seed)
    net = build_model("textcnn", ds.input_shape, ds.n_classes)
    # one epoch per fit at a constant lr (Keras Adam, as the code): no per-fit decay
    cfg = TrainConfig(epochs=1, batch_size=64, lr=lr, min_steps=0, warm_start=True, lr_decay="none")
    learner = Learner(net, cfg, device="auto", seed=seed, progress=False)
    best, best_state, curve = -1.0, None, []
    for _ in range(epochs):
        learner.fit(ds.X_train[tr], ds.y_train[tr])
        acc = float((learner.predict(ds.X_train[val]) == ds.y_train[val]).mean())
        curve.append(acc)
        if acc > best:
            best, best_state = acc, copy.deepcopy(learner.model.state_dict())
    learner.model.load_state_dict(best_state)
    return learner, curve


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    ds = load_dataset("fortunes")
    V = len(ds.vocabulary)
    z_clf = ZScoreClassifier().fit(ds.X_train, ds.y_train, ds.n_classes, V)
    z_acc = z_clf.score(ds.X_test, ds.y_test)
    z_unk = ZScoreClassifier(ignore=(PAD,)).fit(ds.X_train, ds.y_train, ds.n_classes, V)
    majority = float(np.bincount(ds.y_test).max() / len(ds.y_test))

    t0 = time.perf_counter()
    learner, curve = train_cnn(ds, args.epochs, args.lr, args.seed)
    train_s = time.perf_counter() - t0
    probs = learner.predict_proba(ds.X_test)
    pred = probs.argmax(1)
    cnn_acc = float((pred == ds.y_test).mean())

    model = learner.model
    sal = tds(model, ds.X_test)
    ztok = token_zscores(z_clf.z_C_V, ds.X_test, pred)
    real = (ds.X_test != PAD) & (ds.X_test != UNK)
    rs = []
    for i in range(len(ds.X_test)):
        m = real[i]
        if m.sum() >= 5 and sal[i][m].std() > 0 and ztok[i][m].std() > 0:
            rs.append(float(np.corrcoef(sal[i][m], ztok[i][m])[0, 1]))
    rs = np.asarray(rs)
    pooled = float(np.corrcoef(sal[real], ztok[real])[0, 1])

    rng = np.random.default_rng(args.seed)
    top_rows, rand_rows, keep = [], [], []
    for i in range(len(ds.X_test)):
        pos = np.flatnonzero(ds.X_test[i] != PAD)
        if len(pos) < 6:
            continue
        keep.append(i)
        top = pos[np.argsort(-sal[i][pos], kind="stable")[:3]]
        rand = rng.choice(pos, size=3, replace=False)
        a, b = ds.X_test[i].copy(), ds.X_test[i].copy()
        a[top], b[rand] = PAD, PAD
        top_rows.append(a)
        rand_rows.append(b)
    keep = np.asarray(keep)
    p0 = probs[keep, pred[keep]]
    p_top = learner.predict_proba(np.stack(top_rows))[np.arange(len(keep)), pred[keep]]
    p_rand = learner.predict_proba(np.stack(rand_rows))[np.arange(len(keep)), pred[keep]]

    out = {
        "setting": vars(args) | {"torch_threads": torch.get_num_threads()},
        "machine": (
            f"shared 2-core CPU, no GPU; load average {load[0]:.1f} at start: times inflated"
        ),
        "corpus": {
            "name": "Debian fortunes: computers, politics, science, songs-poems",
            "n_train": int(len(ds.y_train)),
            "n_test": int(len(ds.y_test)),
            "vocabulary": V,
            "max_len": int(ds.X_train.shape[1]),
        },
        "accuracy": {
            "text_cnn": cnn_acc,
            "zscore_unk_ignored": z_acc,
            "zscore_unk_counted": z_unk.score(ds.X_test, ds.y_test),
            "majority": majority,
            "cnn_minus_zscore_points": 100 * (cnn_acc - z_acc),
            "thesis": "z-score 84/89/90 % vs CNN 93/91/97 % (Latin/French/IMDB)",
        },
        "cnn_training": {"seconds": train_s, "validation_curve": curve},
        "pearson_zscore_vs_tds": {
            "n_sequences": len(rs),
            "median": float(np.median(rs)),
            "quartiles": [float(np.quantile(rs, 0.25)), float(np.quantile(rs, 0.75))],
            "share_above_0.38": float((rs > 0.38).mean()),
            "pooled_over_tokens": pooled,
            "thesis": "r = 0.38 on a Livy passage, 'one of the most correlated'",
        },
        "deletion_of_3_tokens": {
            "n_sequences": len(keep),
            "mean_p_pred_before": float(p0.mean()),
            "mean_drop_top_tds": float((p0 - p_top).mean()),
            "mean_drop_random": float((p0 - p_rand).mean()),
        },
    }
    print(json.dumps(out, indent=1))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "text_saliency.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
