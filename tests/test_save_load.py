"""deepwise.save / deepwise.load as torch.save / torch.load: tensors, arrays, nested containers,
state dicts, file objects and whole modules (no pickle: an allow-list decides which classes are
rebuilt); and PyTorch <-> deepwise state dicts for every layer family."""

import io as pyio

import numpy as np
import pytest
from helpers import needs_torch, torch

import deepwise as dw
from deepwise import nn
from deepwise.io import SerializationError


class Net(nn.Module):
    """A user's model, defined in the test module (not a deepwise class)."""

    def __init__(self, hidden=4):
        super().__init__()
        self.hidden = hidden
        self.body = nn.Sequential(nn.Linear(3, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 2)
        self.register_buffer("scale", dw.tensor([2.0]))
        self.register_buffer("tmp", dw.zeros(1), persistent=False)
        self.names = ("a", "b")
        self.act = dw.tanh

    def forward(self, x):
        return self.act(self.head(self.body(x))) * self.scale


def test_tensors_arrays_and_nested_containers_round_trip(tmp_path):
    obj = {"x": dw.arange(6).reshape(2, 3), "arr": np.eye(2, dtype=np.float64),
           "list": [dw.ones(2), 3, "s", None], "tuple": (1.5, dw.zeros(0)), 7: {"deep": True}}
    dw.save(obj, tmp_path / "obj.pt")
    back = dw.load(tmp_path / "obj.pt")
    assert back["x"].tolist() == [[0, 1, 2], [3, 4, 5]] and back["x"].dtype == np.int64
    assert isinstance(back["arr"], np.ndarray) and back["tuple"][0] == 1.5
    assert back["list"][1:] == [3, "s", None] and back[7] == {"deep": True}


def test_file_objects(tmp_path):
    buf = pyio.BytesIO()
    dw.save({"w": dw.randn(3, 2)}, buf)
    buf.seek(0)
    assert dw.load(buf)["w"].shape == (3, 2)
    with open(tmp_path / "t.pt", "wb") as f:
        dw.save(dw.tensor([1.0, 2.0]), f)
    with open(tmp_path / "t.pt", "rb") as f:
        assert dw.load(f, map_location="cpu").tolist() == [1.0, 2.0]
    with pytest.raises(SerializationError, match="not a readable safetensors file"):
        dw.load(pyio.BytesIO(b"\x08" + b"garbage" * 3))
    with pytest.raises(ValueError, match="no GPU backend"):
        dw.load(tmp_path / "t.pt", map_location="cuda:0")


def test_state_dict_round_trip(tmp_path):
    model = Net()
    sd = model.state_dict()
    assert "tmp" not in sd and "scale" in sd
    dw.save(sd, tmp_path / "sd.pt")
    other = Net()
    other.load_state_dict(dw.load(tmp_path / "sd.pt"))
    x = dw.randn(5, 3)
    np.testing.assert_array_equal(model(x).data, other(x).data)


def test_whole_module_needs_an_allow_list(tmp_path):
    model = Net(hidden=6)
    path = tmp_path / "model.pt"
    dw.save(model, path)
    with pytest.raises(SerializationError, match=r"test_save_load\.Net, which is not "
                       r"allow-listed.*weights_only=False.*add_safe_globals\(\[Net\]\)"):
        dw.load(path)
    with dw.serialization.safe_globals([Net]):
        back = dw.load(path)
    assert dw.serialization.get_safe_globals() == []
    x = dw.randn(4, 3)
    np.testing.assert_array_equal(model(x).data, back(x).data)
    assert type(back) is Net and back.hidden == 6 and back.names == ("a", "b")
    assert back.act is dw.tanh and back.training
    assert [n for n, _ in back.named_parameters()] == [n for n, _ in model.named_parameters()]
    assert "tmp" in dict(back.named_buffers()) and "tmp" not in back.state_dict()
    # trained further, it still works as a module: parameters, grads, an optimizer
    opt = dw.optim.SGD(back.parameters(), lr=0.1)
    back(x).sum().backward()
    opt.step()
    assert dw.load(path, weights_only=False).hidden == 6


def test_deepwise_modules_load_without_an_allow_list(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8, 2))
    model.eval()
    dw.save(model, tmp_path / "seq.pt")
    back = dw.load(tmp_path / "seq.pt")
    x = dw.randn(2, 1, 4, 4)
    np.testing.assert_array_equal(model(x).data, back(x).data)
    assert not back.training


def test_hooks_are_not_saved_and_say_so(tmp_path):
    model = Net()
    model.register_forward_hook(lambda m, i, o: None)
    with pytest.raises(SerializationError, match="hooks are code and are not saved"):
        dw.save(model, tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


# ---- PyTorch <-> deepwise state dicts, every layer family ---------------------------------


def _families():
    return [
        ("Linear", lambda m: m.Linear(4, 3), (2, 4)),
        ("Conv1d", lambda m: m.Conv1d(2, 3, 3, padding=1), (2, 2, 7)),
        ("Conv2d", lambda m: m.Conv2d(2, 3, 3, stride=2), (2, 2, 7, 7)),
        ("ConvTranspose2d", lambda m: m.ConvTranspose2d(2, 3, 2, stride=2), (1, 2, 3, 3)),
        ("BatchNorm1d", lambda m: m.BatchNorm1d(4), (5, 4)),
        ("BatchNorm2d", lambda m: m.BatchNorm2d(2), (3, 2, 4, 4)),
        ("LayerNorm", lambda m: m.LayerNorm(4), (2, 4)),
        ("GroupNorm", lambda m: m.GroupNorm(2, 4), (2, 4, 3)),
        ("Embedding", lambda m: m.Embedding(10, 3), None),
        ("RNN", lambda m: m.RNN(4, 3, num_layers=2), (5, 2, 4)),
        ("LSTM", lambda m: m.LSTM(4, 3, batch_first=True, bidirectional=True), (2, 5, 4)),
        ("GRU", lambda m: m.GRU(4, 3), (5, 2, 4)),
        ("LSTMCell", lambda m: m.LSTMCell(4, 3), (2, 4)),
        ("GRUCell", lambda m: m.GRUCell(4, 3), (2, 4)),
        ("MultiheadAttention", lambda m: m.MultiheadAttention(4, 2), (3, 2, 4)),
        ("TransformerEncoderLayer",
         lambda m: m.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0), (3, 2, 4)),
    ]


def _out(layer, x):
    if isinstance(layer, (nn.MultiheadAttention, torch.nn.MultiheadAttention)):
        return layer(x, x, x)[0]
    y = layer(x)
    return y[0] if isinstance(y, tuple) else y


@pytest.mark.parametrize("name,make,shape", _families(), ids=[f[0] for f in _families()])
def test_state_dicts_cross_between_pytorch_and_deepwise(name, make, shape):
    needs_torch()
    dw.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = make(nn).eval(), make(torch.nn).eval()
    x = (np.random.default_rng(0).integers(0, 10, size=(2, 5)) if shape is None else
         np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    # PyTorch -> deepwise: load theirs into ours, the same outputs
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    with torch.no_grad():
        want = _out(theirs, torch.tensor(x)).numpy()
    np.testing.assert_allclose(_out(ours, dw.tensor(x)).data, want, rtol=1e-4, atol=1e-5)
    # deepwise -> PyTorch: new weights on our side, through a deepwise file, into theirs
    for p in ours.parameters():
        p.data.uniform_(-0.5, 0.5)
    buf = pyio.BytesIO()
    dw.save(ours.state_dict(), buf)
    buf.seek(0)
    theirs.load_state_dict({k: torch.tensor(np.array(v.data)) for k, v in dw.load(buf).items()})
    with torch.no_grad():
        want = _out(theirs, torch.tensor(x)).numpy()
    np.testing.assert_allclose(_out(ours, dw.tensor(x)).data, want, rtol=1e-4, atol=1e-5)
