"""apps.sentiment and models.SentimentRNN: masking by lengths, training, prediction,
cross-validation, checkpoints, the commands."""

import os
import re

import numpy as np
import pytest
from conftest import shared_data

import deepwise as dw
from deepwise.apps.sentiment import (
    cross_validate,
    load_labelled_sentences,
    load_sentiment,
    predict,
    save_sentiment,
    train_sentiment,
)
from deepwise.cli import main
from deepwise.data.text import Vocab, pad_batch
from deepwise.models import SentimentRNN, SequenceTooLongError


def _seqs(rng, n, vocab=30, lo=1, hi=9):
    return [rng.integers(4, vocab, rng.integers(lo, hi)) for _ in range(n)]


# ---- masking: padding never changes the answer ----------------------------------------------

@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("pooling", ["max", "mean", "last"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_padding_does_not_change_the_output(cell, pooling, bidirectional):
    rng = np.random.default_rng(0)
    model = SentimentRNN(30, 8, 6, bidirectional=bidirectional, cell=cell, dropout=0.0,
                         num_layers=2, pooling=pooling).eval()
    seqs = _seqs(rng, 5)
    seqs[2] = seqs[2][:1]  # a one-word sentence
    x, lengths = pad_batch(seqs, pad_value=0)
    out = model(x, lengths).numpy()
    # each sentence alone, with no padding at all
    alone = np.concatenate([model(dw.tensor(s[None]), dw.tensor([len(s)])).numpy()
                            for s in seqs])
    np.testing.assert_allclose(out, alone, atol=1e-5)
    # more padding, and garbage (not pad ids) in the padded cells: still the same
    wide = np.concatenate([x.numpy(), rng.integers(0, 30, (5, 7))], axis=1)
    wide[np.arange(wide.shape[1]) >= lengths.numpy()[:, None]] = rng.integers(0, 30)
    np.testing.assert_allclose(model(dw.tensor(wide), lengths).numpy(), out, atol=1e-5)


def test_padded_steps_get_no_gradient():
    rng = np.random.default_rng(1)
    model = SentimentRNN(30, 8, 6, dropout=0.0, pooling="max")
    x, lengths = pad_batch(_seqs(rng, 4, lo=2, hi=6), pad_value=3)  # pad id 3 is not padding_idx
    model(x, lengths).sum().backward()
    g = model.embed.weight.grad.numpy()
    used = np.unique(np.concatenate([x.numpy()[b, :n] for b, n in
                                     enumerate(lengths.numpy())]))
    if 3 not in used:
        np.testing.assert_array_equal(g[3], 0)  # only ever seen as padding
    assert np.abs(g[used]).sum() > 0


def test_lengths_and_shape_errors():
    model = SentimentRNN(30, 8, 6, max_len=5)
    x = dw.tensor(np.ones((2, 5), dtype=np.int64))
    assert model(x).shape == (2, 2)  # no lengths: every step is valid
    with pytest.raises(ValueError, match="sequence 1 has length 0"):
        model(x, dw.tensor([5, 0]))
    with pytest.raises(ValueError, match="sequence 0 has length 6"):
        model(x, dw.tensor([6, 2]))
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\)"):
        model(x, dw.tensor([5, 5, 5]))
    with pytest.raises(SequenceTooLongError, match="sequence 1 has 7 tokens but this model "
                                                   "accepts at most 5"):
        model(dw.tensor(np.ones((2, 7), dtype=np.int64)), dw.tensor([3, 7]))
    with pytest.raises(ValueError, match="cell must be"):
        SentimentRNN(10, cell="transformer")
    with pytest.raises(ValueError, match="pooling must be"):
        SentimentRNN(10, pooling="attention")


def test_padding_idx_embedding_is_zero_and_frozen():
    model = SentimentRNN(30, 8, 6, padding_idx=0, dropout=0.0)
    np.testing.assert_array_equal(model.embed.weight.numpy()[0], 0)
    # frozen: a batch that uses the pad id gets no gradient for its row, so an optimizer step
    # (here with weight decay too, which moves every other row) leaves it at zero
    x = dw.tensor([[5, 0, 0], [0, 7, 0]])  # pad ids among real words, lengths cover them
    model(x, dw.tensor([3, 3])).sum().backward()
    g = model.embed.weight.grad.numpy()
    np.testing.assert_array_equal(g[0], 0)
    assert np.abs(g[5]).sum() > 0 and np.abs(g[7]).sum() > 0
    dw.optim.SGD(model.parameters(), lr=0.5, weight_decay=0.1).step()
    np.testing.assert_array_equal(model.embed.weight.numpy()[0], 0)


# ---- training and prediction ----------------------------------------------------------------

POS = ["good", "great", "love", "excellent", "nice", "best"]
NEG = ["bad", "awful", "hate", "terrible", "poor", "worst"]
FILL = ["the", "phone", "food", "was", "it", "is", "this", "service", "very", "and", "a"]


def _synthetic(n, seed=0):
    """Sentences of 2-8 filler words and one sentiment word anywhere; the label is its polarity."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        y = int(rng.integers(0, 2))
        words = list(rng.choice(FILL, rng.integers(2, 9)))
        key = str(rng.choice(POS if y else NEG))
        words.insert(int(rng.integers(0, len(words) + 1)), key)
        texts.append(" ".join(words) + rng.choice([".", "!", ""]))
        labels.append(y)
    return texts, np.array(labels)


def test_learns_a_synthetic_sentiment_task():
    texts, labels = _synthetic(400)
    model, vocab, info = train_sentiment(texts, labels, epochs=12, patience=None, lr=1e-2,
                                         embed_dim=16, hidden_size=16, dropout=0.1, seed=0)
    assert info["val_accuracy"] >= 0.95 and info["history"][-1]["loss"] < 0.2
    test_texts, test_labels = _synthetic(200, seed=1)
    probs = predict(model, vocab, test_texts)
    assert probs.shape == (200, 2)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-6)
    assert (probs.argmax(1) == test_labels).mean() >= 0.95
    # unknown words and an empty sentence are handled (<unk>), a single string works
    assert predict(model, vocab, "zzz qqq great").shape == (1, 2)
    assert predict(model, vocab, ["", "!!!"]).shape == (2, 2)
    assert predict(model, vocab, "great")[0, 1] > 0.5 > predict(model, vocab, "awful")[0, 1]


def test_predict_sentence_longer_than_max_len_is_a_clear_error():
    texts, labels = _synthetic(40)
    model, vocab, _ = train_sentiment(texts, labels, epochs=1, embed_dim=8, hidden_size=8,
                                      max_len=12)
    with pytest.raises(SequenceTooLongError, match="13 tokens but this model accepts at most 12"):
        predict(model, vocab, " ".join(["good"] * 13))


def test_cross_validate_folds():
    texts, labels = _synthetic(240)
    r = cross_validate(texts, labels, k=3, epochs=8, lr=1e-2, embed_dim=16, hidden_size=16,
                       dropout=0.1)
    assert len(r["accuracies"]) == 3
    assert r["mean"] == pytest.approx(np.mean(r["accuracies"]))
    # the task is learnable in 8 epochs: every fold clearly beats chance (0.5)
    assert min(r["accuracies"]) >= 0.7, r["accuracies"]
    with pytest.raises(ValueError, match="k must be"):
        cross_validate(texts, labels, k=1)
    ens = cross_validate(texts[:100], labels[:100], k=2, ensemble=2, epochs=1, embed_dim=8,
                         hidden_size=8)
    assert len(ens["accuracies"]) == 2 and "single_mean" in ens
    with pytest.raises(ValueError, match="ensemble must be"):
        cross_validate(texts, labels, k=2, ensemble=0)


def test_checkpoint_roundtrip(tmp_path):
    vocab = Vocab([["good", "bad", "phone"]])
    model = SentimentRNN(len(vocab), 8, 6, cell="gru", pooling="mean").eval()
    save_sentiment(tmp_path / "s.safetensors", model, vocab)
    m2, v2, ckpt = load_sentiment(tmp_path / "s.safetensors")
    assert v2 == vocab and m2.config == model.config
    assert ckpt["label_names"] == ["negative", "positive"]
    np.testing.assert_allclose(predict(m2, v2, ["good phone", "bad"]),
                               predict(model, vocab, ["good phone", "bad"]))
    dw.io.save({"w": np.zeros(3)}, tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="holds no model config.*deepwise train sentiment"):
        load_sentiment(tmp_path / "other.safetensors")


def test_load_labelled_sentences_dir_and_file(tmp_path):
    (tmp_path / "a_labelled.txt").write_text("good one\t1\nbad one\t0\n")
    (tmp_path / "b_labelled.txt").write_text("fine\t1\n")
    texts, labels = load_labelled_sentences(tmp_path)
    assert texts == ["good one", "bad one", "fine"] and labels.tolist() == [1, 0, 1]
    texts, _ = load_labelled_sentences(tmp_path / "b_labelled.txt")
    assert texts == ["fine"]
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(FileNotFoundError, match="no '\\*_labelled.txt' files"):
        load_labelled_sentences(tmp_path / "empty_dir")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_labelled_sentences(tmp_path / "missing.txt")


# ---- the command line -----------------------------------------------------------------------

def test_cli_train_and_predict(tmp_path, capsys):
    texts, labels = _synthetic(300)
    data = tmp_path / "data"
    data.mkdir()
    (data / "toy_labelled.txt").write_text(
        "".join(f"{t}\t{y}\n" for t, y in zip(texts, labels)))
    out = tmp_path / "run"
    assert main(["train", "sentiment", "--data", str(data), "--epochs", "10", "--lr", "0.01",
                 "--embed", "16", "--hidden", "16", "--dropout", "0.1", "--cv", "2",
                 "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "2-fold cross-validated accuracy" in printed
    assert os.path.isfile(out / "sentiment.safetensors") and os.path.isfile(out / "metrics.json")
    assert main(["predict", str(out / "sentiment.safetensors"), "the food was great",
                 "it is awful"]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.strip().split("\n")]
    assert [(label, sentence) for label, _, sentence in lines] == [
        ("positive", "the food was great"), ("negative", "it is awful")]
    assert main(["train", "sentiment", "--data", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert re.match(r"deepwise train sentiment: .*no '\*_labelled.txt'", err), err


# ---- on the real data -----------------------------------------------------------------------

@pytest.mark.slow
def test_uci_sentiment_5_fold_cross_validation():
    """Amazon + Yelp sentences (2,000), 5-fold CV: mean accuracy >= 0.78 (the README's
    bag-of-words logistic regression: 0.795)."""
    texts, labels = load_labelled_sentences(shared_data("sentiment-uci"))
    assert len(texts) == 2000 and labels.sum() == 1000
    r = cross_validate(texts, labels, k=5, seed=0)
    assert r["mean"] >= 0.78, r
