# ruff: noqa: A001, A002, N803, N806, B007 - written as PyTorch users write their scripts
"""An MLP on an imbalanced three-class spiral: TensorDataset, random_split, a
WeightedRandomSampler that rebalances the classes, DataLoader(num_workers=2, drop_last=True),
RAdam with a warm-up then cosine schedule (SequentialLR), top-k accuracy, torch.save of the
whole training state."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler, random_split


def spiral(counts, noise=0.2):
    xs, ys = [], []
    for label, n in enumerate(counts):
        t = torch.linspace(0.05, 1, n)
        theta = label * 4.2 + t * 4 + torch.randn(n) * noise
        xs.append(torch.stack([t * torch.sin(theta), t * torch.cos(theta)], dim=1))
        ys.append(torch.full((n,), label, dtype=torch.long))
    return torch.cat(xs), torch.cat(ys)


torch.manual_seed(0)
X, y = spiral([900, 450, 150])
train_set, test_set = random_split(TensorDataset(X, y), [0.8, 0.2],
                                   generator=torch.Generator().manual_seed(1))
train_labels = y[torch.tensor(train_set.indices)]
class_count = torch.bincount(train_labels)
weights = 1.0 / class_count[train_labels].double()
sampler = WeightedRandomSampler(weights, num_samples=len(train_set), replacement=True)
train_loader = DataLoader(train_set, batch_size=64, sampler=sampler, num_workers=2,
                          drop_last=True, persistent_workers=True)
test_loader = DataLoader(test_set, batch_size=256)

model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                      nn.Linear(64, 3))
optimizer = torch.optim.RAdam(model.parameters(), lr=1e-2, weight_decay=1e-4)
epochs = 30
scheduler = SequentialLR(optimizer, [LinearLR(optimizer, start_factor=0.1, total_iters=3),
                                     CosineAnnealingLR(optimizer, T_max=epochs - 3)],
                         milestones=[3])


def evaluate():
    model.eval()
    correct, per_class = 0, torch.zeros(3)
    totals = torch.zeros(3)
    with torch.no_grad():
        for xb, yb in test_loader:
            top = model(xb).topk(1, dim=1).indices.squeeze(1)
            correct += (top == yb).sum().item()
            for c in range(3):
                per_class[c] += ((top == yb) & (yb == c)).sum().item()
                totals[c] += (yb == c).sum().item()
    return correct / len(test_set), (per_class / totals).min().item()


for epoch in range(1, epochs + 1):
    model.train()
    total = 0.0
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
    scheduler.step()
    if epoch == 1 or epoch % 10 == 0:
        acc, worst = evaluate()
        print(f"epoch {epoch:2d} lr {scheduler.get_last_lr()[0]:.5f} loss "
              f"{total / (len(train_loader) * 64):.4f} test accuracy {acc:.3f} "
              f"worst class {worst:.3f}")
torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epochs},
           "checkpoint.pt")
state = torch.load("checkpoint.pt")
print(f"saved epoch {state['epoch']} with {len(state['model'])} tensors")
