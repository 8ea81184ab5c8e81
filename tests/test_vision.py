"""deepwise.vision: torchvision's datasets (offline), transforms and utils."""

import numpy as np
import pytest
from PIL import Image

import deepwise as dw
from deepwise.utils.data import DataLoader, Subset
from deepwise.vision import datasets, transforms
from deepwise.vision.utils import make_grid, save_image

FASHION = "/usr/share/datasets/fashion-mnist"


def _img(h=5, w=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w), dtype=np.uint8)


# ---- transforms ---------------------------------------------------------------------------


def test_to_tensor_scales_and_moves_channels():
    a = _img()
    t = transforms.ToTensor()(Image.fromarray(a))
    assert isinstance(t, dw.Tensor) and t.shape == (1, 5, 7) and t.dtype == np.float32
    np.testing.assert_allclose(t.data[0], a / 255, rtol=1e-6)
    rgb = np.stack([a, a // 2, 255 - a], axis=-1)
    t3 = transforms.ToTensor()(rgb)
    assert t3.shape == (3, 5, 7)
    np.testing.assert_allclose(t3.data[2], (255 - a) / 255, rtol=1e-6)
    with pytest.raises(TypeError, match="already a Tensor"):
        transforms.ToTensor()(t)


def test_normalize_and_compose_batch_equal_the_per_sample_path():
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.25,))])
    imgs = np.stack([_img(seed=k) for k in range(4)])
    per_sample = np.stack([tf(Image.fromarray(a)).data for a in imgs])
    np.testing.assert_allclose(tf.batch(imgs), per_sample, rtol=1e-6)
    np.testing.assert_allclose(per_sample[0, 0], (imgs[0] / 255 - 0.5) / 0.25, rtol=1e-5)
    # a transform with no batch form, or one before ToTensor, means sample by sample
    assert transforms.Compose([transforms.Lambda(lambda x: x), transforms.ToTensor()]).batch \
        is None
    assert transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor()]).batch \
        is None
    with pytest.raises(ValueError, match="apply ToTensor first"):
        transforms.Normalize((0.5,), (0.5,))(np.zeros((4, 4)))


def test_resize_pil_and_tensor():
    img = Image.fromarray(_img(8, 16))
    assert transforms.Resize(4)(img).size == (8, 4)  # the shorter side to 4, aspect kept
    assert transforms.Resize((3, 5))(img).size == (5, 3)
    t = transforms.Resize((4, 8))(transforms.ToTensor()(img))
    assert t.shape == (1, 4, 8)
    # bilinear halving with align_corners=False averages each 2x2 block
    x = dw.tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4))
    np.testing.assert_allclose(transforms.Resize((2, 2))(x).data[0], [[2.5, 4.5], [10.5, 12.5]])


def test_random_crop_and_flip():
    a = _img(6, 6)
    out = transforms.RandomCrop(4)(Image.fromarray(a))
    assert out.size == (4, 4)
    crop = np.asarray(out)
    windows = np.lib.stride_tricks.sliding_window_view(a, (4, 4)).reshape(-1, 4, 4)
    assert any((w == crop).all() for w in windows)  # a window of the image
    padded = transforms.RandomCrop(6, padding=2)(transforms.ToTensor()(a))
    assert padded.shape == (1, 6, 6)
    flip = transforms.RandomHorizontalFlip(p=1.0)
    np.testing.assert_array_equal(np.asarray(flip(Image.fromarray(a))), a[:, ::-1])
    np.testing.assert_array_equal(flip(dw.tensor(a[None] / 1.0)).data[0], a[:, ::-1])
    np.testing.assert_array_equal(transforms.RandomHorizontalFlip(p=0.0)(a), a)
    with pytest.raises(ValueError, match="only zero padding"):
        transforms.RandomCrop(4, padding=1, padding_mode="reflect")


# ---- utils ----------------------------------------------------------------------------------


def test_make_grid_layout_as_torchvision():
    x = dw.tensor(np.arange(5 * 1 * 2 * 3, dtype=np.float32).reshape(5, 1, 2, 3))
    g = make_grid(x, nrow=2, padding=1, pad_value=-1)
    # torchvision: 3 channels (grey repeated), rows = ceil(5/2) = 3, (2+1)*3+1 by (3+1)*2+1
    assert g.shape == (3, 10, 9)
    np.testing.assert_array_equal(g.data[0, 1:3, 1:4], x.data[0, 0])
    np.testing.assert_array_equal(g.data[1, 4:6, 5:8], x.data[3, 0])
    assert (g.data[:, 0] == -1).all() and (g.data[:, 7:9, 5:8] == -1).all()  # the empty cell
    n = make_grid(x, normalize=True)
    assert n.data.min() == 0 and n.data.max() == 1
    assert make_grid(x[:1]).shape == (3, 2, 3)  # one image: no padding


def test_save_image_writes_a_png_atomically(tmp_path):
    x = dw.rand(4, 1, 6, 6)
    save_image(x, tmp_path / "grid.png", nrow=2, padding=0)
    img = np.asarray(Image.open(tmp_path / "grid.png"))
    assert img.shape == (12, 12, 3)
    np.testing.assert_array_equal(img[:6, 6:, 0], np.clip(x.data[1, 0] * 255 + 0.5, 0, 255)
                                  .astype(np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]
    with pytest.raises(ValueError, match="cannot tell the image format"):
        save_image(x, tmp_path / "grid.unknownext")


# ---- datasets -------------------------------------------------------------------------------


def test_download_true_never_touches_the_network(tmp_path, monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("the network was used")

    monkeypatch.setattr("socket.socket.connect", no_network)
    monkeypatch.delenv("DEEPWISE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(datasets.DatasetNotFoundError, match=r"does not download data at run "
                       r"time\. Put the four files \(train-images-idx3-ubyte\.gz"):
        datasets.MNIST(tmp_path / "data", train=True, download=True)


@pytest.fixture()
def fashion(tmp_path):
    from pathlib import Path

    if not (Path(FASHION) / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in Path(FASHION).glob("t10k-*.gz"):
        (raw / f.name).symlink_to(f)
    return tmp_path


def test_fashion_mnist_as_torchvision_gives_it(fashion):
    ds = datasets.FashionMNIST(fashion, train=False)
    img, label = ds[0]
    assert isinstance(img, Image.Image) and img.size == (28, 28) and isinstance(label, int)
    assert ds.data.shape == (10000, 28, 28) and ds.data.dtype == np.uint8
    assert isinstance(ds.targets, dw.Tensor) and int(ds.targets[0]) == label
    assert ds.classes[9] == "Ankle boot" and "FashionMNIST" in ds.raw_folder
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.286,), (0.353,))])
    fast = datasets.FashionMNIST(fashion, train=False, transform=tf)
    slow = datasets.FashionMNIST(fashion, train=False, transform=tf,
                                 target_transform=lambda y: y)  # no batch form: per sample
    xb, yb = next(iter(DataLoader(Subset(fast, range(8)), batch_size=8)))
    xs, ys = next(iter(DataLoader(Subset(slow, range(8)), batch_size=8)))
    assert xb.shape == (8, 1, 28, 28) and yb.dtype == np.int64
    np.testing.assert_allclose(xb.data, xs.data, rtol=1e-6)
    np.testing.assert_array_equal(yb.data, ys.data)
