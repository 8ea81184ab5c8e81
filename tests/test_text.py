"""deepwise.data.text: reading text files, tokenizer, vocabularies, LM batches, padding, buckets."""

import collections

import numpy as np
import pytest
from conftest import shared_data

from deepwise.data import text as T
from deepwise.tensor import Tensor

# ---- read_text: bad files give clear messages -------------------------------------------------

def test_read_text_roundtrip_utf8(tmp_path):
    p = tmp_path / "ok.txt"
    p.write_text("Café — naïve\nline 2\n", encoding="utf-8")
    assert T.read_text(p) == "Café — naïve\nline 2\n"


def test_read_text_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file.*nope.txt"):
        T.read_text(tmp_path / "nope.txt")


@pytest.mark.parametrize("content", [b"", b"  \n\t\n"])
def test_read_text_empty_file(tmp_path, content):
    p = tmp_path / "empty.txt"
    p.write_bytes(content)
    with pytest.raises(T.TextFileError, match=r"empty\.txt' is empty"):
        T.read_text(p)


def test_read_text_binary_file_names_offset(tmp_path):
    p = tmp_path / "model.bin"
    p.write_bytes(b"GIF89a" + b"\x00\x01\x02" + b"abc")
    with pytest.raises(T.TextFileError, match=r"model\.bin' looks like a binary.*offset 6"):
        T.read_text(p)


def test_read_text_non_utf8_names_byte_and_offset(tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes("hello wörld".encode("latin-1"))  # ö = 0xf6, at byte 7
    with pytest.raises(T.TextFileError, match=r"latin1\.txt' is not valid UTF-8.*0xf6.*offset 7"):
        T.read_text(p)


def test_read_labelled_lines(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("Great phone\t1\nnot good,\tat all\t0\n\n", encoding="utf-8")
    texts, labels = T.read_labelled_lines(p)
    assert texts == ["Great phone", "not good,\tat all"]
    assert labels.tolist() == [1, 0] and labels.dtype == np.int64
    p.write_text("fine\t1\nno label here\n", encoding="utf-8")
    with pytest.raises(T.TextFileError, match="line 2"):
        T.read_labelled_lines(p)


# ---- tokenizer ------------------------------------------------------------------------------

def test_tokenize_lowercases_and_splits_punctuation():
    assert T.tokenize("Great phone!! I don't LIKE it, though...") == [
        "great", "phone", "!", "!", "i", "don't", "like", "it", ",", "though", ".", ".", "."]
    assert T.tokenize("  ") == []
    assert T.tokenize("10/10 (wow)") == ["10", "/", "10", "(", "wow", ")"]
    with pytest.raises(TypeError):
        T.tokenize(["a"])


# ---- Vocab ----------------------------------------------------------------------------------

def test_vocab_order_specials_frequency_ties():
    v = T.Vocab([["b", "a", "c"], ["a", "c", "a"], ["d"]])
    assert v.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert v.itos[4:] == ["a", "c", "b", "d"]  # a:3, c:2, then b, d (1 each) alphabetically
    assert len(v) == 8 and v.stoi["a"] == 4
    assert (v.pad_index, v.unk_index, v.bos_index, v.eos_index) == (0, 1, 2, 3)


def test_vocab_min_freq_max_size_counter():
    counts = collections.Counter({"x": 5, "y": 3, "z": 1, "w": 3})
    v = T.Vocab(counts, min_freq=2)
    assert v.itos[4:] == ["x", "w", "y"]
    v = T.Vocab(counts, max_size=2, specials=("<unk>",))
    assert v.itos == ["<unk>", "x", "w"]


def test_vocab_encode_decode_unknown_and_strict():
    v = T.Vocab(["the", "cat", "the"])
    ids = v.encode(["the", "dog", "cat"])
    assert ids.dtype == np.int64 and ids.tolist() == [4, 1, 5]
    assert v.decode(ids) == ["the", "<unk>", "cat"]
    assert v.decode(Tensor(np.array([5, 4]))) == ["cat", "the"]
    with pytest.raises(T.UnknownTokenError, match="unknown token 'dog' at position 1"):
        v.encode(["the", "dog"], strict=True)
    with pytest.raises(IndexError, match="id 99 is out of range"):
        v.decode([99])
    with pytest.raises(TypeError, match="list of tokens"):
        v.encode("the cat")
    assert v.encode([]).shape == (0,)


def test_vocab_without_unk_raises_on_unknown():
    v = T.Vocab(["a"], specials=("<pad>",))
    with pytest.raises(T.UnknownTokenError, match="unknown token 'b'.*no '<unk>'"):
        v.encode(["a", "b"])


def test_vocab_save_load_json(tmp_path):
    v = T.Vocab([["héllo", "world"], ["world"]], min_freq=1)
    v.save(tmp_path / "v.json")
    w = T.Vocab.load(tmp_path / "v.json")
    assert w == v and w.stoi == v.stoi and type(w) is T.Vocab
    c = T.CharVocab.from_text("abcä")
    c.save(tmp_path / "c.json")
    d = T.Vocab.load(tmp_path / "c.json")
    assert type(d) is T.CharVocab and d.encode("ä").tolist() == [3]
    (tmp_path / "bad.json").write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not a deepwise vocabulary"):
        T.Vocab.load(tmp_path / "bad.json")
    assert not list(tmp_path.glob("*.tmp*"))


# ---- CharVocab ------------------------------------------------------------------------------

def test_char_vocab_roundtrip_and_unknown_character():
    text = "To be, or not to be: that is the question.\n"
    v = T.CharVocab.from_text(text)
    assert v.itos == sorted(set(text)) and v.specials == []
    ids = v.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert v.decode(ids) == text
    assert ids.tolist() == [v.stoi[c] for c in text]
    with pytest.raises(T.UnknownTokenError, match="unknown character 'Z' at position 3"):
        v.encode("to Zbe")


def test_char_vocab_with_unk_special_and_non_ascii():
    v = T.CharVocab.from_text("aé€😀", specials=("<unk>",))
    assert v.itos[0] == "<unk>"
    ids = v.encode("é?😀")
    assert ids.tolist() == [v.stoi["é"], 0, v.stoi["😀"]]
    with pytest.raises(T.UnknownTokenError, match=r"'\?' at position 1"):
        v.encode("é?", strict=True)


def test_char_vocab_tinyshakespeare():
    text = T.read_text(shared_data("tinyshakespeare/input.txt"))
    v = T.CharVocab.from_text(text)
    assert len(v) == 65  # as the data set's README states
    assert v.decode(v.encode(text[:2000])) == text[:2000]


# ---- LM batches -----------------------------------------------------------------------------

def test_lm_batches_contiguous_streams_and_shift():
    ids = np.arange(23)
    b = T.LMBatcher(ids, batch_size=3, bptt=4)
    # 23 // 3 = 7 tokens per stream; streams 0..6, 7..13, 14..20 (21, 22 dropped)
    batches = list(b)
    assert len(batches) == len(b) == 2  # 6 targets per stream: 4 + 2
    x0, y0 = batches[0]
    assert x0.shape == (4, 3) and x0.dtype == np.int64
    assert x0.numpy()[:, 0].tolist() == [0, 1, 2, 3]
    assert x0.numpy()[:, 2].tolist() == [14, 15, 16, 17]
    np.testing.assert_array_equal(y0.numpy(), x0.numpy() + 1)
    x1, y1 = batches[1]
    assert x1.shape == (2, 3)
    assert x1.numpy()[0].tolist() == [4, 11, 18]  # each column continues its stream
    assert y1.numpy()[-1].tolist() == [6, 13, 20]
    assert b.tokens_per_epoch == 18
    # every target is seen exactly once per epoch
    targets = np.concatenate([y.numpy().ravel() for _, y in batches])
    assert sorted(targets.tolist()) == sorted(set(range(21)) - {0, 7, 14})


def test_lm_batches_batch_first_and_errors():
    x, y = next(T.lm_batches(np.arange(100), batch_size=4, bptt=5, batch_first=True))
    assert x.shape == (4, 5) and x.numpy()[1].tolist() == [25, 26, 27, 28, 29]
    np.testing.assert_array_equal(y.numpy(), x.numpy() + 1)
    with pytest.raises(ValueError, match="too few"):
        T.LMBatcher(np.arange(5), batch_size=4, bptt=2)
    with pytest.raises(ValueError, match="bptt must be a positive int"):
        T.LMBatcher(np.arange(50), batch_size=4, bptt=0)
    with pytest.raises(ValueError, match="1-D integer"):
        T.LMBatcher(np.zeros((4, 4)), batch_size=2, bptt=2)


# ---- padding and bucketing ------------------------------------------------------------------

def test_pad_batch():
    x, lengths = T.pad_batch([[5, 6, 7], np.array([8]), [], Tensor(np.array([1, 2]))],
                             pad_value=0)
    assert x.numpy().tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0], [1, 2, 0]]
    assert lengths.numpy().tolist() == [3, 1, 0, 2] and x.dtype == np.int64
    xt, _ = T.pad_batch([[5, 6, 7], [8]], pad_value=-1, batch_first=False)
    assert xt.numpy().tolist() == [[5, 8], [6, -1], [7, -1]]
    xc, lc = T.pad_batch([[1, 2, 3, 4], [5]], max_len=2)
    assert xc.numpy().tolist() == [[1, 2], [5, 0]] and lc.numpy().tolist() == [2, 1]
    with pytest.raises(ValueError, match="no sequences"):
        T.pad_batch([])


def test_bucket_batches_cover_all_and_group_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=1000)
    batches = T.bucket_batches(lengths, batch_size=32, shuffle=True, generator=rng)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))  # every sample once
    assert all(len(b) <= 32 for b in batches)
    # bucketing wastes far less padding than random batches
    waste = sum(int(lengths[b].max() * len(b) - lengths[b].sum()) for b in batches)
    perm = rng.permutation(1000)
    rand_waste = sum(int(lengths[b].max() * len(b) - lengths[b].sum())
                     for b in np.array_split(perm, len(batches)))
    assert waste < 0.2 * rand_waste
    # a new epoch gives a new order
    again = T.bucket_batches(lengths, batch_size=32, shuffle=True, generator=rng)
    assert [b.tolist() for b in again] != [b.tolist() for b in batches]


def test_bucket_batches_no_shuffle_sorted_and_drop_last():
    batches = T.bucket_batches([5, 1, 4, 2, 3], batch_size=2, shuffle=False)
    assert [b.tolist() for b in batches] == [[1, 3], [4, 2], [0]]
    assert len(T.bucket_batches([5, 1, 4, 2, 3], batch_size=2, shuffle=False,
                                drop_last=True)) == 2


def test_bucket_sampler_epochs():
    s = T.BucketSampler([3, 1, 2, 5, 4, 6, 7], batch_size=3, shuffle=True,
                        generator=np.random.default_rng(1))
    assert len(s) == 3
    e1 = [b.tolist() for b in s]
    assert sorted(sum(e1, [])) == list(range(7))
    assert T.BucketSampler([1, 2, 3], batch_size=2, drop_last=True).__len__() == 1
