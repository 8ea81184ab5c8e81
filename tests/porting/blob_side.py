# ruff: noqa: A001, A002, N803, N806, B007 - written as PyTorch users write their scripts
"""Which side of the image is the blob on? A small fully-convolutional classifier built from the
blocks of fast-neural-style (InstanceNorm2d) and MobileNet (ReLU6), with PReLU, Hardtanh, a
ParameterList and a ParameterDict, an einsum head with '...', a logistic loss via
F.logsigmoid, a DataLoader with worker processes, the best weights kept with
``state_dict()`` + ``clone()``, and the parameters seen as one vector."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset, get_worker_info

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--workers", type=int, default=2)
args = parser.parse_args()
torch.manual_seed(0)


def make_data(n):
    """Noise plus a Gaussian blob; the label is 1 when the blob is in the right half."""
    r = torch.randint(1, 11, (n, 1, 1, 1)).float()
    c = torch.randint(1, 11, (n, 1, 1, 1)).float()
    yy = torch.arange(12).view(1, 1, 12, 1).float()
    xx = torch.arange(12).view(1, 1, 1, 12).float()
    blob = torch.exp(-((yy - r) ** 2 + (xx - c) ** 2) / 2.0)
    x = 0.5 * torch.randn(n, 1, 12, 12) + blob
    y = (c.view(-1) >= 6).long()
    return x, y


def seed_worker(worker_id):
    info = get_worker_info()
    assert info.id == worker_id and info.num_workers == args.workers


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.in1 = nn.InstanceNorm2d(8, affine=True)
        self.act1 = nn.PReLU(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.act2 = nn.ReLU6()
        self.scales = nn.ParameterList([nn.Parameter(torch.ones(8)) for _ in range(2)])
        self.head = nn.ParameterDict({"w": nn.Parameter(torch.randn(8, 12) * 0.1),
                                      "b": nn.Parameter(torch.zeros(1))})
        self.clip = nn.Hardtanh(-4.0, 4.0)

    def forward(self, x):
        h = self.act1(self.in1(self.conv1(x))) * self.scales[0].view(1, -1, 1, 1)
        h = self.act2(self.conv2(h)) * self.scales[1].view(1, -1, 1, 1)
        col = h.mean(dim=2)  # (N, 8, 12): each channel's column profile
        return self.clip(torch.einsum("...cw,cw->...", col, self.head["w"]) + self.head["b"])


def evaluate(model, x, y):
    model.eval()
    with torch.no_grad():
        acc = ((model(x) > 0).long() == y).float().mean().item()
    model.train()
    return acc


x_train, y_train = make_data(512)
x_test, y_test = make_data(256)
loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True,
                    num_workers=args.workers, persistent_workers=args.workers > 0,
                    worker_init_fn=seed_worker if args.workers else None)
model = Net()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
print(f"accuracy before training {evaluate(model, x_test, y_test):.3f}")
best_acc, best = -1.0, None
for epoch in range(1, args.epochs + 1):
    total, batches = 0.0, 0
    for data, target in loader:
        optimizer.zero_grad()
        sign = target.float() * 2 - 1
        loss = -F.logsigmoid(sign * model(data)).mean()
        loss.backward()
        optimizer.step()
        total += loss.item()
        batches += 1
    acc = evaluate(model, x_test, y_test)
    print(f"epoch {epoch} loss {total / batches:.4f} test accuracy {acc:.3f}")
    if acc > best_acc:
        best_acc, best = acc, {k: v.clone() for k, v in model.state_dict().items()}
model.load_state_dict(best)
vec = nn.utils.parameters_to_vector(model.parameters())
print(f"best test accuracy {evaluate(model, x_test, y_test):.3f} ({vec.numel()} parameters, "
      f"norm {vec.norm().item():.2f})")
