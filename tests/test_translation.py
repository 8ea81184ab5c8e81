"""The translator: data split, the three models (padding, causality, decoding), scoring,
checkpoints, the two commands and their bad input; a slow run on the real Tatoeba pairs."""

from __future__ import annotations

import argparse
import gzip
import sys

import numpy as np
import pytest
from conftest import shared_data

import deepwise as dw
from deepwise import models
from deepwise.apps import CommandError
from deepwise.apps import translation as T
from deepwise.data.text import tokenize
from deepwise.io import save_model

PAIRS = [("I am hungry.", "J'ai faim."), ("I am hungry.", "Je suis affamé."),
         ("I am tall.", "Je suis grand."), ("You are tall.", "Tu es grand."),
         ("You are hungry.", "Tu as faim."), ("We are tall.", "Nous sommes grands."),
         ("We are hungry.", "Nous avons faim."), ("I am here.", "Je suis ici."),
         ("You are here.", "Tu es ici."), ("We are here.", "Nous sommes ici."),
         ("Tom is here.", "Tom est ici."), ("Tom is tall.", "Tom est grand.")]


def _cli(*argv: str) -> int:
    p = argparse.ArgumentParser(prog="deepwise")
    T.add_commands(p.add_subparsers())
    args = p.parse_args(list(argv))
    return args.func(args)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple:
    """A GRU-attention translator trained for a moment on the toy pairs, and its checkpoint."""
    split = {"train": PAIRS, "valid": {"Tom is tall.": ["Tom est grand."]}, "test": {}}
    tr, hist = T.train_translation(split, "gru-attn", epochs=2, min_freq=1, hidden_size=16,
                                   embed_size=16, batch_size=4, decay="none", log=None)
    path = tmp_path_factory.mktemp("tr") / "translation.safetensors"
    T.save_translator(path, tr)
    return tr, hist, path


# ---- data ---------------------------------------------------------------------------------


def test_load_pairs_plain_and_gzip_and_bad_lines(tmp_path):
    text = "Go.\tVa !\n\nHi.\tSalut !\n"
    (tmp_path / "p.tsv").write_text(text, encoding="utf-8")
    with gzip.open(tmp_path / "p.tsv.gz", "wt", encoding="utf-8") as f:
        f.write(text)
    expected = [("Go.", "Va !"), ("Hi.", "Salut !")]
    assert T.load_pairs(tmp_path / "p.tsv") == expected
    assert T.load_pairs(tmp_path / "p.tsv.gz") == expected
    (tmp_path / "bad.tsv").write_text("Go.\tVa !\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.tsv' line 2: expected english<TAB>french"):
        T.load_pairs(tmp_path / "bad.tsv")
    with pytest.raises(FileNotFoundError, match="no such file"):
        T.load_pairs(tmp_path / "missing.tsv")


def test_split_by_english_sentence_fixed_seed_all_references():
    pairs = [(f"sentence {i}.", f"phrase {i} v{j}.") for i in range(200) for j in range(i % 3 + 1)]
    split = T.split_pairs(pairs, seed=3)
    train_en = {en for en, _ in split["train"]}
    assert not train_en & set(split["valid"]) and not train_en & set(split["test"])
    assert not set(split["valid"]) & set(split["test"])
    assert (len(train_en), len(split["valid"]), len(split["test"])) == (180, 10, 10)
    for en, refs in split["test"].items():  # every translation of a test sentence is a reference
        assert refs == [fr for e, fr in pairs if e == en]
    assert T.split_pairs(pairs, seed=3) == split
    assert T.split_pairs(pairs, seed=4)["test"] != split["test"]
    assert len(split["train"]) + sum(map(len, split["valid"].values())) + \
        sum(map(len, split["test"].values())) == len(pairs)


def test_detokenize_and_scores_with_several_references():
    assert T.detokenize(tokenize("Peut-être, j'ai faim.")) == "peut-être, j'ai faim."
    assert T.detokenize(["va", "!"]) == "va !"
    hyps = ["je suis affamé.", "tu es grand."]
    refs = [["J'ai faim.", "Je suis affamé."], ["Tu es grand."]]
    s = T.corpus_scores(hyps, refs)
    assert s["bleu"] == pytest.approx(100.0) and s["chrf"] == pytest.approx(100.0)
    # the second reference is what makes the first hypothesis right
    assert T.corpus_scores(hyps, [["J'ai faim."], ["Tu es grand."]])["bleu"] < 60
    assert T.corpus_scores(["nous sommes ici.", "tom."], refs)["bleu"] < 20


def test_missing_sacrebleu_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sacrebleu", None)
    with pytest.raises(CommandError, match="pip install sacrebleu"):
        T.corpus_scores(["a"], [["a"]])


# ---- the models ---------------------------------------------------------------------------

V_SRC, V_TGT = 11, 13


def _models() -> list:
    dw.manual_seed(0)
    return [models.Seq2SeqGRU(V_SRC, V_TGT, 8, 8, attention=None, dropout=0.0),
            models.Seq2SeqGRU(V_SRC, V_TGT, 8, 8, attention="general", dropout=0.0),
            models.Seq2SeqGRU(V_SRC, V_TGT, 8, 8, attention="dot", dropout=0.0),
            models.TransformerTranslator(V_SRC, V_TGT, d_model=8, nhead=2, num_encoder_layers=1,
                                         num_decoder_layers=1, dim_feedforward=16, dropout=0.0)]


@pytest.mark.parametrize("k", range(4))
def test_padding_changes_nothing(k: int):
    """A sentence padded in a batch with a longer one gets the logits it gets alone."""
    model = _models()[k].eval()
    rng = np.random.default_rng(0)
    a, b = rng.integers(4, V_SRC, 3), rng.integers(4, V_SRC, 6)
    src = np.zeros((2, 6), np.int64)
    src[0, :3], src[1] = a, b
    tgt = np.array([[2, 5, 6, 0], [2, 7, 8, 9]])  # target padded too
    both = model(dw.tensor(src), np.array([3, 6]), dw.tensor(tgt)).data
    alone = model(dw.tensor(a[None]), np.array([3]), dw.tensor(tgt[:1, :3])).data
    np.testing.assert_allclose(both[0, :3], alone[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k", range(4))
def test_teacher_forcing_is_causal_and_gradients_reach_every_parameter(k: int):
    model = _models()[k].train()
    src = dw.tensor(np.array([[4, 5, 6], [7, 8, 0]]))
    tgt = np.array([[2, 5, 6, 7], [2, 8, 9, 10]])
    out = model(src, np.array([3, 2]), dw.tensor(tgt))
    assert out.shape == (2, 4, V_TGT)
    tgt2 = tgt.copy()
    tgt2[:, 2:] = 11
    out2 = model(src, np.array([3, 2]), dw.tensor(tgt2)).data
    np.testing.assert_allclose(out.data[:, :2], out2[:, :2], rtol=1e-5, atol=1e-6)
    assert not np.allclose(out.data[:, 2:], out2[:, 2:])
    out.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.abs(p.grad.data).sum() > 0, name


@pytest.mark.parametrize("k", range(4))
def test_decoding_greedy_beam_and_batching(k: int):
    model = _models()[k].eval()
    rng = np.random.default_rng(1)
    seqs = [rng.integers(4, V_SRC, n) for n in (2, 5, 3)]
    src = np.zeros((3, 5), np.int64)
    for i, s in enumerate(seqs):
        src[i, :len(s)] = s
    lens = np.array([2, 5, 3])
    greedy = model.greedy(src, lens, bos=2, eos=3, max_len=7)
    assert model.beam_search(src, lens, 2, 3, beam_size=1, max_len=7) == greedy
    beams = model.beam_search(src, lens, 2, 3, beam_size=3, max_len=7, length_penalty=0.0)
    for i, s in enumerate(seqs):  # a batch decodes as each sentence alone
        assert model.greedy(s[None], [len(s)], 2, 3, 7) == [greedy[i]]
        assert model.beam_search(s[None], [len(s)], 2, 3, 3, 7, 0.0) == [beams[i]]
    for h in greedy + beams:
        assert 3 not in h and len(h) <= 7

    def logprob(i: int, hyp: list) -> float:  # of hyp + <eos> (or cut at max_len)
        ids = np.array([[2] + hyp])
        logits = model(dw.tensor(seqs[i][None]), [len(seqs[i])], dw.tensor(ids))
        lp = dw.nn.functional.log_softmax(logits, dim=-1).data[0]
        nxt = hyp + [3] if len(hyp) < 7 else hyp
        return float(sum(lp[t, y] for t, y in enumerate(nxt)))

    # beam search (no length penalty) finds a translation at least as likely as greedy's
    for i in range(3):
        assert logprob(i, beams[i]) >= logprob(i, greedy[i]) - 1e-4


@pytest.mark.parametrize("norm_first", [True, False])
def test_transformer_incremental_steps_equal_the_full_decoder(norm_first: bool):
    """step() runs one new position against cached layer inputs; its logits are the
    teacher-forced ones of the whole prefix."""
    dw.manual_seed(1)
    model = models.TransformerTranslator(V_SRC, V_TGT, d_model=8, nhead=2, num_encoder_layers=1,
                                         num_decoder_layers=2, dim_feedforward=16,
                                         norm_first=norm_first).eval()
    src, lens = np.array([[4, 5, 6], [7, 8, 0]]), np.array([3, 2])
    tgt = np.array([[2, 5, 6, 7, 3], [2, 8, 9, 10, 4]])
    full = model(dw.tensor(src), lens, dw.tensor(tgt)).data
    with dw.no_grad():
        memory = model.encode(dw.tensor(src), lens)
        state = model.start(memory)
        for t in range(tgt.shape[1]):
            logits, state = model.step(tgt[:, t], state, memory)
            np.testing.assert_allclose(logits.data, full[:, t], rtol=1e-4, atol=1e-5)


def _tied(k: int) -> models.Seq2Seq:
    dw.manual_seed(2)
    if k == 0:
        return models.Seq2SeqGRU(V_SRC, V_TGT, 8, 8, attention="general", dropout=0.0,
                                 tie_embeddings=True)
    return models.TransformerTranslator(V_SRC, V_TGT, d_model=8, nhead=2, num_encoder_layers=1,
                                        num_decoder_layers=1, dim_feedforward=16, dropout=0.0,
                                        tie_embeddings=True)


@pytest.mark.parametrize("k", range(2))
def test_tied_embeddings_share_one_parameter_gradcheck_and_round_trip(k: int, tmp_path):
    """tie_embeddings: the target embedding and the output projection are one Parameter (listed
    once, under both names in the state dict, as in PyTorch); its gradient, the sum of both
    uses, matches finite differences in float64; a saved and loaded translator is still tied."""
    model = _tied(k)
    assert model.out.weight is model.tgt_embed.weight
    names = [n for n, _ in model.named_parameters()]
    assert "tgt_embed.weight" in names and "out.weight" not in names
    assert {"tgt_embed.weight", "out.weight"} <= set(model.state_dict())
    model = model.double()
    assert model.out.weight is model.tgt_embed.weight
    w = model.out.weight
    src, lens = dw.tensor(np.array([[4, 5, 6], [7, 8, 0]])), np.array([3, 2])
    tgt_in, tgt_out = np.array([[2, 5, 6, 7], [2, 8, 9, 0]]), np.array([5, 6, 7, 3, 8, 9, 3, 0])
    batch = (src, lens, dw.tensor(tgt_in), dw.tensor(tgt_out.reshape(2, 4)))
    assert dw.autograd.gradcheck(lambda w_: T._loss(model, batch, 0, 0.1), [w])
    # the loss on the real positions only = the loss over all positions with padding ignored
    full = model(src, lens, dw.tensor(tgt_in))
    ref = dw.nn.functional.cross_entropy(full.reshape(-1, V_TGT), dw.tensor(tgt_out),
                                         ignore_index=0, label_smoothing=0.1)
    np.testing.assert_allclose(T._loss(model, batch, 0, 0.1).data, ref.data, rtol=1e-12)
    model = _tied(k).eval()
    vocab = [dw.data.text.Vocab([[f"w{i}"] for i in range(v - 4)], min_freq=1)
             for v in (V_SRC, V_TGT)]
    assert len(vocab[0]) == V_SRC and len(vocab[1]) == V_TGT
    path = tmp_path / "tied.safetensors"
    T.save_translator(path, T.Translator(model, vocab[0], vocab[1], "transformer", 5))
    back = T.load_translator(path).model
    assert back.out.weight is back.tgt_embed.weight
    np.testing.assert_array_equal(back.out.weight.data, model.out.weight.data)
    np.testing.assert_array_equal(back(src, lens, dw.tensor(tgt_in)).data,
                                  model(src, lens, dw.tensor(tgt_in)).data)


def test_tied_embeddings_need_equal_sizes():
    with pytest.raises(ValueError, match="tie_embeddings needs embed_size == hidden_size"):
        models.Seq2SeqGRU(5, 5, embed_size=8, hidden_size=16, tie_embeddings=True)


def test_model_errors_and_registry():
    model = _models()[0]
    with pytest.raises(ValueError, match="src_lengths must hold N = 1"):
        model.greedy(np.array([[4, 5]]), [3], 2, 3)
    with pytest.raises(ValueError, match="attention must be None"):
        models.Seq2SeqGRU(5, 5, attention="additive")
    with pytest.raises(ValueError, match="beam_size must be >= 1"):
        model.beam_search(np.array([[4, 5]]), [2], 2, 3, beam_size=0)
    m = models.build({"model": "translation-transformer", "src_vocab_size": 7,
                      "tgt_vocab_size": 9, "d_model": 8, "nhead": 2, "num_encoder_layers": 1,
                      "num_decoder_layers": 1, "dim_feedforward": 8})
    assert isinstance(m, models.TransformerTranslator) and m.out.out_features == 9


# ---- training, checkpoint, commands -------------------------------------------------------


def test_training_learns_the_toy_pairs_and_checkpoint_round_trip(tiny):
    tr, hist, path = tiny
    assert len(hist["epochs"]) == 2 and hist["epochs"][-1]["valid_ppl"] < len(tr.tgt_vocab)
    split = {"train": PAIRS, "valid": {"Tom is tall.": ["Tom est grand."]}, "test": {}}
    tr2, hist2 = T.train_translation(split, "gru-attn", epochs=40, min_freq=1, hidden_size=32,
                                     embed_size=32, batch_size=4, lr=1e-2, dropout=0.0, log=None)
    assert T.token_accuracy(tr2, PAIRS) > 0.9  # it memorises the 12 pairs
    assert hist2["epochs"][-1]["train_loss"] < hist2["epochs"][0]["train_loss"] / 2
    back = T.load_translator(path)
    assert back.kind == "gru-attn" and back.max_src_len == 4
    sents = ["I am tall.", "Tom is here."]
    assert back.translate(sents, beam=2) == tr.translate(sents, beam=2)


def test_learning_rate_schedules():
    f = T._lr_factor
    assert [f(k, 200, "inv-sqrt", 0.0) for k in (1, 100, 200, 800)] == [0.005, 0.5, 1.0, 0.5]
    assert f(7, 0, "none", 0.9) == 1.0 and f(3, 10, "none", 0.9) == pytest.approx(0.3)
    assert f(5, 0, "linear", 0.25) == 0.75 and f(50, 100, "linear", 0.5) == 0.25
    assert f(500, 100, "linear", 1.2) == 0.0  # past the budget: no more steps of any size
    split = {"train": PAIRS, "valid": {"Tom is tall.": ["Tom est grand."]}, "test": {}}
    with pytest.raises(ValueError, match="decay must be 'none', 'inv-sqrt' or 'linear'"):
        T.train_translation(split, "gru", epochs=1, decay="cosine", log=None)


def test_loading_another_kind_of_checkpoint_says_so(tmp_path):
    path = tmp_path / "mlp.safetensors"
    save_model(path, models.MLP(4, [3], 2), {"model": "mlp", "in_features": 4,
                                             "hidden": [3], "num_classes": 2})
    with pytest.raises(ValueError, match=r"'mlp' checkpoint, not 'translation-gru' or "
                                         r"'translation-transformer'; write one with "
                                         r"'deepwise train translation'"):
        T.load_translator(path)
    with pytest.raises(ValueError, match="'mlp' checkpoint"):
        _cli("translate", str(path), "I am hungry.")


def test_translate_command_bad_input(tiny, tmp_path, capsys):
    _, _, path = tiny
    assert _cli("translate", str(path), "I am hungry.", "Tom is tall.", "--beam", "2") == 0
    out = capsys.readouterr()
    assert len(out.out.strip().splitlines()) == 2
    with pytest.raises(CommandError, match="sentence 2 is empty"):
        _cli("translate", str(path), "I am tall.", "  ")
    _cli("translate", str(path), "Zorglub is tall.")  # unknown words: a note, then a translation
    out = capsys.readouterr()
    assert "not in the training vocabulary, read as <unk>: zorglub" in out.err
    assert len(out.out.strip().splitlines()) == 1
    with pytest.raises(ValueError, match="sentence 1 has 8 tokens; this model was trained on "
                                         "sentences of at most 4"):
        _cli("translate", str(path), "I am very very very tall indeed.")
    with pytest.raises(CommandError, match="--beam must be >= 1"):
        _cli("translate", str(path), "I am tall.", "--beam", "0")
    lines = tmp_path / "in.txt"
    lines.write_text("I am tall.\n\nTom is here.\n", encoding="utf-8")
    assert _cli("translate", str(path), "--input", str(lines)) == 0
    out = capsys.readouterr().out.split("\n")
    assert out[1] == "" and out[0] and out[2]  # an empty line gives an empty translation
    with pytest.raises(FileNotFoundError, match="--input: no such file"):
        _cli("translate", str(path), "--input", str(tmp_path / "none.txt"))


def test_show_attention_writes_png(tiny, tmp_path):
    pytest.importorskip("matplotlib")
    _, _, path = tiny
    png = tmp_path / "att.png"
    assert _cli("translate", str(path), "I am hungry.", "--show-attention", str(png)) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    src, tgt, maps = T.load_translator(path).attention("I am hungry.")
    assert src == ["i", "am", "hungry", "."] and tgt[-1] == "<eos>"
    assert maps[0].shape == (len(tgt), 4)
    np.testing.assert_allclose(maps[0].sum(-1), 1.0, rtol=1e-5)
    tr = models.TransformerTranslator(5, 6, d_model=8, nhead=2, num_encoder_layers=1,
                                      num_decoder_layers=2, dim_feedforward=8).eval()
    att = tr.cross_attention(np.array([[4, 4, 0]]), [2], np.array([[2, 5, 5]]))
    assert len(att) == 2 and att[0].shape == (1, 2, 3, 3) and np.all(att[1][..., 2] == 0)
    T.plot_attention(tmp_path / "tr.png", ["a", "b", "c"], ["x", "y", "z"], [a[0] for a in att])
    assert (tmp_path / "tr.png").stat().st_size > 0
    with pytest.raises(CommandError, match="no attention to show"):
        T.plot_attention(tmp_path / "g.png", ["a"], ["b"], [])


def test_train_command_end_to_end(tmp_path, capsys):
    data = tmp_path / "pairs.tsv"
    pairs = PAIRS + [(f"Number {i}.", f"Numéro {i}.") for i in range(40)]
    data.write_text("".join(f"{en}\t{fr}\n" for en, fr in pairs), encoding="utf-8")
    out = tmp_path / "run"
    assert _cli("train", "translation", "--data", str(data), "--model", "transformer",
                "--epochs", "1", "--size", "16", "--min-freq", "1", "--beam", "2",
                "--out", str(out), "--quiet") == 0
    text = capsys.readouterr().out
    assert "greedy: BLEU" in text and "beam 2: BLEU" in text
    assert T.load_translator(out / "translation.safetensors").kind == "transformer"
    assert (out / "metrics.json").exists()


# ---- the real corpus ---------------------------------------------------------------------


@pytest.mark.slow
def test_attention_gru_learns_tatoeba_short_sentences():
    """One epoch (116 steps, ~6 s on one quiet core) on the short pairs (English <= 5 words) of
    the real corpus, with the app's recipe (tied embeddings, linear decay). Teacher-forced token
    accuracy on the validation sentences: measured 0.533 (the earlier recipe, untied with a
    constant rate, 0.456 under the 0.46 bound); always predicting the most frequent French token
    gives about 0.14 and the untrained model about 0. (The GRU without attention: 0.490.)"""
    pairs = T.load_pairs(shared_data("tatoeba-eng-fra") / "eng-fra.tsv.gz")
    short = [p for p in pairs if len(tokenize(p[0])) <= 5]
    split = T.split_pairs(short, seed=0)
    valid = [(en, fr) for en, refs in split["valid"].items() for fr in refs]
    tr, hist = T.train_translation(split, "gru-attn", epochs=1, hidden_size=96, embed_size=96,
                                   batch_size=64, lr=3e-3, log=None)
    acc = T.token_accuracy(tr, valid)
    untrained = T.Translator(models.Seq2SeqGRU(len(tr.src_vocab), len(tr.tgt_vocab), 96, 96,
                                               attention="general"),
                             tr.src_vocab, tr.tgt_vocab, "gru-attn", tr.max_src_len)
    assert T.token_accuracy(untrained, valid) < 0.05
    assert acc > 0.46, f"token accuracy {acc:.3f}"
