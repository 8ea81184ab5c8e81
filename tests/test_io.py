"""deepwise.io: safetensors round trips, nested checkpoints, atomic writes, corrupt files."""

import os

import numpy as np
import pytest

import deepwise as dw
from deepwise import io

st_numpy = pytest.importorskip("safetensors.numpy")


def files_in(d):
    return sorted(os.listdir(d))


def test_flat_state_dict_round_trip_is_plain_safetensors(tmp_path):
    sd = {"fc.weight": dw.tensor(np.arange(12, dtype=np.float32).reshape(3, 4)),
          "fc.bias": dw.tensor(np.array([1.5, -2.0, 0.25], dtype=np.float32)),
          "bn.num_batches_tracked": dw.tensor(np.array(7, dtype=np.int64)),
          "mask": np.array([True, False]),
          "empty": np.zeros((0, 3), dtype=np.float64),
          "transposed": np.arange(6.0).reshape(2, 3).T}  # non-contiguous view
    path = tmp_path / "w.safetensors"
    io.save(sd, path)
    back = io.load(path)
    assert list(back) == list(sd)  # order kept (load_state_dict order)
    for k, v in sd.items():
        got = back[k]
        assert type(got) is type(v), k
        a, b = (v.data, got.data) if isinstance(v, dw.Tensor) else (v, got)
        assert a.dtype == b.dtype and a.shape == b.shape, k
        np.testing.assert_array_equal(a, b)
    # any safetensors reader sees the state dict under its own names
    raw = st_numpy.load_file(str(path))
    assert set(raw) == set(sd)
    np.testing.assert_array_equal(raw["fc.bias"], sd["fc.bias"].data)
    # loaded arrays are writable and independent of the file
    back["fc.weight"].data[0, 0] = 99.0
    assert io.load(path)["fc.weight"].data[0, 0] == 0.0


def test_nested_checkpoint_round_trip(tmp_path):
    ckpt = {"model": {"w": dw.randn(2, 3), "b": dw.zeros(2)},
            "optimizer": {"state": {0: {"step": 3, "exp_avg": np.ones((2, 3), np.float32)},
                                    1: {"step": 3, "exp_avg": np.full(2, 0.5, np.float32)}},
                          "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8,
                                            "params": [0, 1], "amsgrad": False, "name": None}]},
            "epoch": 4,
            "history": {"loss": [1.0, 0.5, float("nan")], "val_loss": [np.float32(0.75)]},
            "note": "from test", "__tuple__": 1}
    path = tmp_path / "ckpt.safetensors"
    io.save(ckpt, path)
    back = io.load(path)
    assert back["epoch"] == 4 and back["note"] == "from test" and back["__tuple__"] == 1
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)  # tuple stays a tuple
    assert back["optimizer"]["param_groups"][0]["name"] is None
    assert set(back["optimizer"]["state"]) == {0, 1}  # int keys stay ints
    np.testing.assert_array_equal(back["optimizer"]["state"][1]["exp_avg"],
                                  ckpt["optimizer"]["state"][1]["exp_avg"])
    assert isinstance(back["optimizer"]["state"][0]["exp_avg"], np.ndarray)
    np.testing.assert_array_equal(back["model"]["w"].data, ckpt["model"]["w"].data)
    assert isinstance(back["model"]["w"], dw.Tensor)
    assert back["history"]["loss"][:2] == [1.0, 0.5] and np.isnan(back["history"]["loss"][2])
    assert back["history"]["val_loss"] == [0.75]
    # arrays live under dotted keys in the file
    raw = st_numpy.load_file(str(path))
    assert set(raw) == {"model.w", "model.b", "optimizer.state.0.exp_avg",
                        "optimizer.state.1.exp_avg"}


def test_colliding_dotted_keys_are_kept_apart(tmp_path):
    obj = {"a.b": np.array([1.0]), "a": {"b": np.array([2.0])}}
    io.save(obj, tmp_path / "c.safetensors")
    back = io.load(tmp_path / "c.safetensors")
    assert back["a.b"][0] == 1.0 and back["a"]["b"][0] == 2.0


def test_unsupported_value_names_its_path_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(io.SerializationError, match=r"set at 'optimizer\.extra'"):
        io.save({"optimizer": {"extra": {1, 2}}}, path)
    with pytest.raises(io.SerializationError, match="dtype object"):
        io.save({"x": np.array([object()])}, path)
    assert files_in(tmp_path) == []


def test_atomic_write_failure_mid_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    io.save({"w": np.ones(1000, np.float32)}, path)
    before = path.read_bytes()
    real_save_file = st_numpy.save_file

    def crash_half_way(tensors, filename, metadata=None):
        real_save_file(tensors, filename, metadata=metadata)
        with open(filename, "r+b") as f:  # the disk fills up half way through the data
            f.truncate(os.path.getsize(filename) // 2)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(st_numpy, "save_file", crash_half_way)
    with pytest.raises(OSError, match="No space left"):
        io.save({"w": np.zeros(1000, np.float32)}, path)
    assert path.read_bytes() == before  # old file intact
    assert files_in(tmp_path) == ["model.safetensors"]  # no temp file left
    # an interrupt (Ctrl-C) between write and rename: same guarantee, and no file if none existed
    monkeypatch.setattr(st_numpy, "save_file", real_save_file)

    def interrupted_fsync(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        io.save({"w": np.zeros(10, np.float32)}, tmp_path / "new.safetensors")
    assert files_in(tmp_path) == ["model.safetensors"]


def test_atomic_write_text(tmp_path):
    path = tmp_path / "log.csv"
    with io.atomic_write(path) as f:
        f.write("a,b\n")
    assert path.read_text() == "a,b\n"
    with pytest.raises(RuntimeError, match="boom"):
        with io.atomic_write(path) as f:
            f.write("half")
            raise RuntimeError("boom")
    assert path.read_text() == "a,b\n" and files_in(tmp_path) == ["log.csv"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.save({}, tmp_path / "no" / "such" / "dir.safetensors")


def test_corrupt_files_raise_a_clear_error(tmp_path):
    good = tmp_path / "good.safetensors"
    io.save({"w": np.arange(100, dtype=np.float32), "b": np.ones(3)}, good)
    data = good.read_bytes()
    cases = {"truncated.safetensors": data[: len(data) - 10],
             "header_only.safetensors": data[:30],
             "empty.safetensors": b"",
             "text.safetensors": b"this is not a safetensors file at all, just text\n" * 3}
    for name, content in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(io.SerializationError, match=name.replace(".", r"\.")):
            io.load(p)
    flipped = bytearray(data)
    flipped[-50] ^= 0xFF  # one bit of array data damaged: only the checksum can tell
    (tmp_path / "flipped.safetensors").write_bytes(bytes(flipped))
    with pytest.raises(io.SerializationError, match=r"flipped\.safetensors.*checksum"):
        io.load(tmp_path / "flipped.safetensors")
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        io.load(tmp_path / "missing.safetensors")


def test_foreign_safetensors_file_loads_as_tensors(tmp_path):
    path = str(tmp_path / "hf.safetensors")
    st_numpy.save_file({"x": np.arange(4, dtype=np.int32)}, path)
    back = io.load(path)
    assert isinstance(back["x"], dw.Tensor) and back["x"].dtype == np.int32


# --------------------------------------------------------------------------------------------
# checkpoints of real models and optimizers


def _net(hidden=8, extra=False):
    from deepwise import nn

    layers = [nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 3)]
    if extra:
        layers += [nn.ReLU(), nn.Linear(3, 2)]
    return nn.Sequential(*layers)


def _train_steps(model, opt, steps, seed=0):
    from deepwise.nn import functional as F

    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = dw.tensor(rng.normal(size=(16, 4)).astype(np.float32))
        y = dw.tensor(rng.integers(0, 3, size=16))
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


def test_checkpoint_round_trip_restores_model_and_optimizer(tmp_path):
    from deepwise import optim

    model = _net()
    opt = optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.99))
    _train_steps(model, opt, 3)
    path = tmp_path / "ckpt.safetensors"
    io.save_checkpoint(path, model, opt, epoch=3, history={"loss": [0.9, 0.7, 0.6]}, note="hi")

    dw.manual_seed(99)
    model2 = _net()
    opt2 = optim.Adam(model2.parameters(), lr=0.5)
    ck = io.load_checkpoint(path, model2, opt2)
    assert ck["epoch"] == 3 and ck["history"] == {"loss": [0.9, 0.7, 0.6]} and ck["note"] == "hi"
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["betas"] == (0.8, 0.99)
    # the restored optimizer continues exactly as the original does
    _train_steps(model, opt, 2, seed=1)
    _train_steps(model2, opt2, 2, seed=1)
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    # a bare state dict file is accepted by load_checkpoint for the model
    io.save(model.state_dict(), tmp_path / "sd.safetensors")
    model3 = _net()
    io.load_checkpoint(tmp_path / "sd.safetensors", model3)
    np.testing.assert_array_equal(model3.state_dict()["2.bias"], model.state_dict()["2.bias"])


def test_checkpoint_of_another_architecture_lists_the_keys(tmp_path):
    from deepwise import optim

    small = tmp_path / "small.safetensors"
    io.save_checkpoint(small, _net(8), optim.SGD(_net(8).parameters(), lr=0.1))
    big = _net(16, extra=True)
    before = {k: v.copy() for k, v in big.state_dict().items()}
    with pytest.raises(io.CheckpointError) as err:
        io.load_checkpoint(small, big)
    msg = str(err.value)
    assert "small.safetensors" in msg and "Sequential" in msg
    assert "missing keys" in msg and "4.weight, 4.bias" in msg
    assert "0.weight: checkpoint (8, 4) vs model (16, 4)" in msg
    assert "2.weight: checkpoint (3, 8) vs model (3, 16)" in msg
    for k, v in big.state_dict().items():  # nothing was changed
        np.testing.assert_array_equal(v, before[k])
    io.save_checkpoint(tmp_path / "big.safetensors", big)
    with pytest.raises(io.CheckpointError, match=r"unexpected keys.*4\.weight, 4\.bias"):
        io.load_checkpoint(tmp_path / "big.safetensors", _net(16))
    # strict=False tolerates unknown keys, never wrong shapes
    io.load_checkpoint(tmp_path / "big.safetensors", _net(16), strict=False)
    # an optimizer over other parameters, or a checkpoint without optimizer state
    model = _net(8)
    with pytest.raises(io.CheckpointError, match="optimizer state does not fit"):
        io.load_checkpoint(small, model, optim.SGD(list(model.parameters())[:2], lr=0.1))
    with pytest.raises(io.CheckpointError, match="no optimizer state"):
        io.load_checkpoint(tmp_path / "big.safetensors", big, optim.SGD(big.parameters(), lr=1))
