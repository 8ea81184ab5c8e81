"""The bag-of-words baseline for sentence sentiment, on the same folds as deepwise's
cross-validation (``apps.sentiment.cross_validate``: one permutation with NumPy seed 0, split in
k parts), with the same tokenizer (``data.text.tokenize``). scikit-learn is the peer here
(benchmark-only; ``pip install scikit-learn``): word counts -> L2-regularised logistic regression.

Run: ``python -m benchmarks.sentiment_bow --data ../shared/data/sentiment-uci [--k 5] [--C 1.0]``
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    from deepwise.apps.sentiment import load_labelled_sentences
    from deepwise.data.text import tokenize

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="the sentiment-uci folder (*_labelled.txt)")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 strength")
    args = p.parse_args()
    texts, labels = load_labelled_sentences(args.data)
    folds = np.array_split(np.random.default_rng(args.seed).permutation(len(texts)), args.k)
    accs = []
    for f, test_idx in enumerate(folds):
        train_idx = np.concatenate([folds[j] for j in range(args.k) if j != f])
        vec = CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None)
        xtr = vec.fit_transform([texts[i] for i in train_idx])
        xte = vec.transform([texts[i] for i in test_idx])
        clf = LogisticRegression(C=args.C, max_iter=2000).fit(xtr, labels[train_idx])
        accs.append(float((clf.predict(xte) == labels[test_idx]).mean()))
    print(f"bag-of-words + logistic regression (C={args.C}), {args.k}-fold: mean accuracy "
          f"{np.mean(accs):.4f} +- {np.std(accs):.4f} (folds "
          f"{', '.join(f'{a:.3f}' for a in accs)})")


if __name__ == "__main__":
    main()
