# ruff: noqa: A001, A002, N803, N806, B007 - written as PyTorch users write their scripts
"""An image classifier that reads a picture row by row with an LSTM (batch_first), a BatchNorm1d on
its last hidden state, Adam and CrossEntropyLoss; Fashion-MNIST through torchvision."""
import argparse

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, random_split
from torchvision import datasets, transforms


class RowLSTM(nn.Module):
    def __init__(self, input_size=28, hidden_size=64, num_classes=10):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.bn = nn.BatchNorm1d(hidden_size)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        x = x.squeeze(1)                     # (B, 28 rows, 28 pixels)
        out, (h_n, c_n) = self.lstm(x)
        return self.fc(self.bn(out[:, -1, :]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../data")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    full = datasets.FashionMNIST(root=args.data, train=True, download=True,
                                 transform=transforms.ToTensor())
    small, _ = random_split(full, [args.samples, len(full) - args.samples],
                            generator=torch.Generator().manual_seed(42))
    train_set, val_set = random_split(small, [0.8, 0.2])
    train_loader = DataLoader(train_set, batch_size=100, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=500)
    model = RowLSTM()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    for epoch in range(args.epochs):
        model.train()
        running = 0.0
        for i, (images, labels) in enumerate(train_loader):
            outputs = model(images)
            loss = criterion(outputs, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running += loss.item()
            if (i + 1) % 10 == 0:
                print(f"Epoch [{epoch + 1}/{args.epochs}], Step [{i + 1}/{len(train_loader)}], "
                      f"Loss: {loss.item():.4f}")
        model.eval()
        correct = total = 0
        with torch.inference_mode():
            for images, labels in val_loader:
                _, predicted = torch.max(model(images).data, 1)
                total += labels.size(0)
                correct += (predicted == labels).sum().item()
        print(f"Validation accuracy: {100 * correct / total:.2f} %")


if __name__ == "__main__":
    main()
