"""apps/faces and models/faces: the face CNN and embedder against PyTorch with the same weights,
the augmentation, ROC / AUC / equal error rate against a brute-force count, eigenfaces, the P x K
batches, the commands (train faces, embed, verify) with bad input, and - on the real ORL
photos, marked slow - a short recipe that must learn to recognise people."""

import argparse
import json
import zipfile

import numpy as np
import pytest
from conftest import shared_data
from helpers import SKIP_TORCH, torch

import deepwise as dw
from deepwise import models
from deepwise.apps import faces
from deepwise.data.image import ImageFormatError, random_affine
from deepwise.io import CheckpointError

# ---- models --------------------------------------------------------------------------------


def _torch_face_net(config, embedder):
    tnn = torch.nn

    class Trunk(tnn.Module):
        def __init__(self):
            super().__init__()
            layers, width = [], config["in_channels"]
            for c in config["channels"]:
                for _ in range(config["depth"]):
                    layers += [tnn.Conv2d(width, c, 3, padding=1, bias=False),
                               tnn.BatchNorm2d(c), tnn.ReLU()]
                    width = c
                layers.append(tnn.MaxPool2d(2))
            self.blocks = tnn.Sequential(*layers)
            self.pool = tuple(config.get("pool", (1, 1)))

        def forward(self, x):
            if self.pool == (1, 1):
                return self.blocks(x).mean(dim=(2, 3))
            return tnn.functional.adaptive_avg_pool2d(self.blocks(x), self.pool).flatten(1)

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = Trunk()
            out = config["embedding_dim"] if embedder else config["num_classes"]
            cells = int(np.prod(config.get("pool", (1, 1))))
            self.fc = tnn.Linear(config["channels"][-1] * cells, out)

        def forward(self, x):
            y = self.fc(self.trunk(x))
            return tnn.functional.normalize(y, dim=1) if embedder else y

    return Net()


def _copy_weights(ours, theirs):
    state = {k: torch.tensor(np.asarray(v.data if hasattr(v, "data") else v))
             for k, v in ours.state_dict().items()}
    missing, unexpected = theirs.load_state_dict(state, strict=False)
    assert all(k.endswith("num_batches_tracked") for k in missing), missing
    assert not unexpected, unexpected


@pytest.mark.parametrize("embedder", [False, True])
def test_face_networks_match_pytorch(embedder):
    if torch is None:
        pytest.skip(SKIP_TORCH)
    if embedder:
        ours = models.FaceEmbedder(embedding_dim=8, channels=(4, 6), depth=2, pool=(2, 1))
    else:
        ours = models.FaceCNN(num_classes=5, channels=(4, 6, 8), depth=1, dropout=0.0)
    ours.double()
    theirs = _torch_face_net(ours.config, embedder).double()
    _copy_weights(ours, theirs)
    x = np.random.default_rng(0).standard_normal((3, 1, 17, 13))
    for train in (True, False):  # batch statistics, then the running ones
        ours.train(train)
        theirs.train(train)
        xt = torch.tensor(x, requires_grad=True)
        xd = dw.tensor(x, requires_grad=True)
        yt, yd = theirs(xt), ours(xd)
        np.testing.assert_allclose(yd.data, yt.detach().numpy(), rtol=1e-7, atol=1e-9)
        w = np.random.default_rng(1).standard_normal(yd.shape)
        (yd * dw.tensor(w)).sum().backward()
        (yt * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(xd.grad.data, xt.grad.numpy(), rtol=1e-6, atol=1e-9)
        fc = theirs.fc.weight.grad.numpy()
        np.testing.assert_allclose(ours.fc.weight.grad.data, fc, rtol=1e-6, atol=1e-9)
        ours.zero_grad()
        theirs.zero_grad()


def test_models_are_registered_and_rebuilt_from_their_config():
    m = models.FaceCNN(num_classes=7, channels=(8, 16), depth=1)
    again = models.build({"model": "face-cnn", **m.config})
    assert again.config == m.config and again.fc.out_features == 7
    e = models.build({"model": "face-embedder", "embedding_dim": 16, "channels": [8]})
    out = e(dw.tensor(np.random.default_rng(0).random((2, 1, 56, 46)), dtype=dw.float32))
    np.testing.assert_allclose(np.linalg.norm(out.data, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="FaceCNN: channels must be a non-empty list"):
        models.FaceCNN(channels=())


# ---- augmentation ----------------------------------------------------------------------------


def test_random_affine_identity_flip_and_variety():
    x = np.random.default_rng(0).random((4, 1, 12, 9)).astype(np.float32)
    same = random_affine(x, degrees=0, translate=0, scale=(1, 1), flip_p=0, brightness=0,
                         contrast=0)
    np.testing.assert_allclose(same, x, atol=1e-6)
    assert same.dtype == np.float32
    flipped = random_affine(x, degrees=0, translate=0, scale=(1, 1), flip_p=1, brightness=0,
                            contrast=0)
    np.testing.assert_allclose(flipped, x[..., ::-1], atol=1e-6)
    dark = random_affine(x, degrees=0, translate=0, scale=(1, 1), flip_p=0, brightness=0.5,
                         contrast=0, generator=np.random.default_rng(3))
    ratio = dark.mean(axis=(1, 2, 3)) / x.mean(axis=(1, 2, 3))
    assert np.all((ratio > 0.45) & (ratio < 1.55)) and ratio.std() > 0.01  # one draw per image
    warped = random_affine(np.repeat(x[:1], 6, axis=0), generator=np.random.default_rng(1))
    assert warped.min() >= 0 and warped.max() <= 1
    assert np.abs(warped[1:] - warped[:1]).max() > 0.1  # each image its own warp
    with pytest.raises(ValueError, match=r"random_affine: expected a float batch \(N, C, H, W\)"):
        random_affine(x[0])


# ---- metrics and the baseline --------------------------------------------------------------


def _brute_auc(scores, positive):
    pos, neg = scores[positive], scores[~positive]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size


def test_roc_auc_and_equal_error_rate():
    rng = np.random.default_rng(0)
    positive = rng.random(300) < 0.3
    scores = np.round(rng.standard_normal(300) + 1.2 * positive, 1)  # ties on purpose
    assert faces.roc_auc(scores, positive) == pytest.approx(_brute_auc(scores, positive))
    fpr, tpr, thr = faces.roc_curve(scores, positive)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1 and np.all(np.diff(thr) < 0)
    eer, t = faces.equal_error_rate(scores, positive)
    far, frr = (scores[~positive] >= t).mean(), (scores[positive] < t).mean()
    assert abs(far - eer) < 0.05 and abs(frr - eer) < 0.05
    # separable scores: AUC 1, EER 0; a worked case: 2 genuine, 2 impostor
    assert faces.roc_auc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0], bool)) == 1.0
    assert faces.equal_error_rate(np.array([0.9, 0.8, 0.1, 0.2]),
                                  np.array([1, 1, 0, 0], bool))[0] == 0.0
    s, p = np.array([0.9, 0.6, 0.5, 0.1]), np.array([1, 0, 1, 0], bool)
    assert faces.roc_auc(s, p) == 0.75
    assert faces.equal_error_rate(s, p)[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="needs both positive and negative pairs"):
        faces.roc_auc(s, np.ones(4, bool))


def test_train_embedder_both_losses_give_unit_rows():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 6)
    x = np.clip(rng.random((4, 1, 112, 92))[y] + 0.1 * rng.standard_normal((24, 1, 112, 92)),
                0, 1).astype(np.float32)
    for loss in ("arcface", "batch-hard"):
        model, stats = faces.train_embedder(x, y, loss=loss, epochs=1, channels=(4, 8),
                                            photos_per_person=3)
        e = faces.embed(model, x[:5], stats)  # the pooled trunk: 8 channels x a 3x2 grid
        assert e.shape == (5, 48)
        np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)
        out = faces.embed(model, x[:5], stats, layer="output")  # the projection the loss saw
        assert out.shape == (5, 64)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="layer must be 'features' or 'output', got 'fc'"):
        faces.embed(model, x[:5], stats, layer="fc")
    with pytest.raises(ValueError, match="layer='output' needs a FaceEmbedder, got FaceCNN"):
        faces.embed(models.FaceCNN(4, channels=(4, 8)), x[:5], stats, layer="output")
    with pytest.raises(ValueError, match="loss must be 'arcface' or 'batch-hard'"):
        faces.train_embedder(x, y, loss="contrastive")


def test_roc_figure(tmp_path):
    s, p = np.array([0.9, 0.6, 0.5, 0.1]), np.array([1, 0, 1, 0], bool)
    fpr, tpr, _ = faces.roc_curve(s, p)
    faces.roc_figure(fpr, tpr, 0.75, 0.5, tmp_path / "roc.png")
    assert (tmp_path / "roc.png").read_bytes()[:4] == b"\x89PNG"


def test_verification_scores_count_every_pair_once():
    emb = np.eye(4)[[0, 0, 1, 2]]
    scores, same = faces.verification_scores(emb, np.array([5, 5, 6, 7]))
    assert len(scores) == 6 and same.sum() == 1 and scores[same][0] == 1.0


def test_eigenfaces_and_pk_batches():
    rng = np.random.default_rng(0)
    centres = rng.random((5, 1, 8, 8))
    y = np.repeat(np.arange(5), 6)
    x = centres[y] + 0.05 * rng.standard_normal((30, 1, 8, 8))
    train = np.arange(30) % 6 < 3
    pred = faces.eigenfaces(x[train], y[train], x[~train])
    assert (pred == y[~train]).all()
    batches = faces._pk_batches(np.repeat(np.arange(6), 10), 4, 3, rng)
    assert len(batches) >= 3
    for b in batches:
        people, counts = np.unique(np.repeat(np.arange(6), 10)[b], return_counts=True)
        assert len(people) == 4 and np.all(counts == 3)


# ---- commands --------------------------------------------------------------------------------


def _p5(img):
    return b"P5\n92 112\n255\n" + img.astype(np.uint8).tobytes()


@pytest.fixture(scope="module")
def tiny_orl(tmp_path_factory):
    """6 people x 10 photos (92x112): a smooth pattern per person, a little noise per photo."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("orl")
    path = root / "faces.zip"
    yy, xx = np.mgrid[0:112, 0:92] / 20.0
    with zipfile.ZipFile(path, "w") as z:
        for p in range(1, 7):
            a, b = rng.uniform(0.5, 2.0, 2)
            base = 128 + 90 * np.sin(a * xx + p) * np.cos(b * yy)
            for i in range(1, 11):
                img = np.clip(base + 15 * rng.standard_normal(base.shape), 0, 255)
                z.writestr(f"orl_faces/s{p}/{i}.pgm", _p5(img))
    return path


def _run(*argv):
    parser = argparse.ArgumentParser(prog="deepwise")
    faces.add_commands(parser.add_subparsers())
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


def test_train_identify_writes_checkpoint_metrics_and_figures(tiny_orl, tmp_path, capsys):
    out = tmp_path / "id"
    assert _run("train", "faces", "--data", tiny_orl, "--task", "identify", "--epochs", "2",
                "--channels", "4,8", "--out", out) == 0
    text = capsys.readouterr().out
    assert "identification, 6 people, 5 photos each to train: test accuracy" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_photos"] == 30 and metrics["eigenfaces_accuracy"] > 0.9
    for name in ("filters.png", "saliency.png", "neighbours.png", "embedding_2d.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    model, ckpt = models.load(out / "faces.safetensors", expected="face-cnn")
    assert ckpt["classes"] == [f"s{p}" for p in range(1, 7)] and ckpt["preprocess"]["std"] > 0
    # a CNN checkpoint embeds (pooled features), but cannot verify (no threshold)
    photo = tmp_path / "a.pgm"
    with zipfile.ZipFile(tiny_orl) as z:
        photo.write_bytes(z.read("orl_faces/s1/7.pgm"))
    assert _run("embed", out / "faces.safetensors", photo, "--out", tmp_path / "e.npy") == 0
    assert np.load(tmp_path / "e.npy").shape == (1, model.trunk.width)
    with pytest.raises(ValueError, match="is a 'face-cnn' checkpoint, not 'face-embedder'.*"
                                         "--task verify"):
        _run("verify", out / "faces.safetensors", photo, photo)


def test_train_verify_embed_and_verify_with_bad_input(tiny_orl, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "ver"
    assert _run("train", "faces", "--data", tiny_orl, "--task", "verify", "--epochs", "2",
                "--channels", "4,8", "--train-people", "4", "--no-figures", "--out", out) == 0
    assert "verification on 2 unseen people (90 same / 100 different pairs)" in \
        capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["roc_auc"] <= 1 and not (out / "roc.png").exists()
    assert 0 <= metrics["roc_auc_projection"] <= 1
    ckpt = out / "faces.safetensors"
    with zipfile.ZipFile(tiny_orl) as z:
        for name, member in (("a", "s5/1"), ("b", "s5/2"), ("c", "s6/1")):
            (tmp_path / f"{name}.pgm").write_bytes(z.read(f"orl_faces/{member}.pgm"))
    paths = [tmp_path / f"{n}.pgm" for n in "abc"]
    assert _run("embed", ckpt, *paths, "--out", tmp_path / "e.npy") == 0
    emb = np.load(tmp_path / "e.npy")
    assert emb.shape == (3, 8 * 3 * 2) and emb.dtype == np.float32  # the pooled trunk
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    capsys.readouterr()
    assert _run("verify", ckpt, paths[0], paths[1]) == 0
    line = capsys.readouterr().out
    sim = float(line.split()[1].rstrip(":"))
    assert sim == pytest.approx(float(emb[0] @ emb[1]), abs=1e-4)
    assert ("same person" in line) == (sim >= metrics["threshold"])
    # a colour PNG of the right size is converted to grey: the same answer as its grey PGM
    grey = np.frombuffer((tmp_path / "a.pgm").read_bytes()[-92 * 112:], np.uint8)
    Image.fromarray(np.repeat(grey.reshape(112, 92, 1), 3, axis=2)).save(tmp_path / "a.png")
    capsys.readouterr()
    assert _run("verify", ckpt, tmp_path / "a.png", paths[1]) == 0
    assert capsys.readouterr().out == line
    # a different size is refused with the sizes named, or resized with --resize
    Image.fromarray(grey.reshape(112, 92)).resize((46, 56)).save(tmp_path / "small.png")
    with pytest.raises(ImageFormatError, match=r"small.png': the image is 46x56 .* expected "
                                               r"92x112"):
        _run("verify", ckpt, tmp_path / "small.png", paths[1])
    assert _run("verify", ckpt, tmp_path / "small.png", paths[1], "--resize") == 0
    # a file that is no image, a missing file, a checkpoint that is not one, a wrong --out
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageFormatError, match="notes.txt': not an image file"):
        _run("embed", ckpt, tmp_path / "notes.txt", "--out", tmp_path / "x.npy")
    with pytest.raises(FileNotFoundError):
        _run("verify", ckpt, tmp_path / "missing.pgm", paths[1])
    with pytest.raises((CheckpointError, ValueError)):
        _run("verify", tmp_path / "notes.txt", paths[0], paths[1])
    with pytest.raises(faces.CommandError, match="--out must name a .npy file"):
        _run("embed", ckpt, paths[0], "--out", tmp_path / "x.txt")


def test_checkpoints_name_the_layer_their_threshold_was_set_on():
    assert faces._layer({"embedding": "features", "config": {"model": "face-embedder"}}) == \
        "features"
    # verify checkpoints written before the layer was recorded compared the projection
    assert faces._layer({"config": {"model": "face-embedder"}}) == "output"
    assert faces._layer({"config": {"model": "face-cnn"}}) == "features"


def test_train_faces_refuses_bad_options(tiny_orl, tmp_path):
    with pytest.raises(faces.CommandError, match="--train-per-person must be 1..5"):
        _run("train", "faces", "--data", tiny_orl, "--train-per-person", "6", "--out", tmp_path)
    with pytest.raises(faces.CommandError, match="--train-people must leave at least 2"):
        _run("train", "faces", "--data", tiny_orl, "--task", "verify", "--train-people", "5",
             "--out", tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _run("train", "faces", "--data", tmp_path / "nope.zip", "--out", tmp_path)
    with pytest.raises(faces.CommandError, match="--channels must be comma-separated"):
        _run("train", "faces", "--data", tiny_orl, "--channels", "8,x", "--out", tmp_path)


# ---- the real photos -----------------------------------------------------------------------


@pytest.mark.slow
def test_identification_learns_on_the_real_orl_faces():
    """The identification CNN, trained briefly (16 epochs, batch 8, no augmentation: the short
    schedule converges faster without it) on the standard split (photos 1-5 to train, 6-10 to
    test), must beat the classical baseline: >= 92% of the 160 test photos, a bound that
    eigenfaces on the same split (91.25%, computed here) misses. Measured: 95.6%; 161 s at load
    5-10 on the 2-core machine (roughly 40 s when it is quiet: an estimate, not measured)."""
    path = shared_data("orl-faces/orl_faces.zip")
    x, person, photo = faces.load_faces(path)
    y = np.searchsorted(np.unique(person), person)
    train, test = photo <= 5, photo >= 6
    eigen = float((faces.eigenfaces(x[train], y[train], x[test]) == y[test]).mean())
    model, stats = faces.train_identifier(x[train], y[train], epochs=16, batch_size=8,
                                          augment=False)
    acc = float((faces.identify(model, x[test], stats).argmax(axis=1) == y[test]).mean())
    assert eigen < 0.92 <= acc, (acc, eigen)
