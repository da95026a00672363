"""The same training script with the bugs fixed: nnlint reports nothing.

Run: nnlint examples/train_clean.py
"""

import argparse

import torch
import torch.nn.functional as F
import torchvision.transforms as T
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets


class PatchClassifier(nn.Module):
    def __init__(self, channels: int = 64, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, channels, kernel_size=4, stride=4)
        self.mixer = nn.Sequential(
            nn.Linear(channels, channels, bias=False),
            nn.BatchNorm1d(channels),
            nn.GELU(),
            nn.Dropout(0.2),
        )
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (b, h*w, c), axes moved, not reinterpreted
        tokens = self.mixer(tokens.reshape(b * h * w, c)).reshape(b, h * w, c)
        return self.head(tokens.mean(dim=1))


def get_loaders(batch_size: int):
    train_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor()])
    val_tf = T.Compose([T.ToTensor()])
    train = datasets.CIFAR10("data", train=True, download=False, transform=train_tf)
    val = datasets.CIFAR10("data", train=False, download=False, transform=val_tf)
    return DataLoader(train, batch_size, shuffle=True), DataLoader(val, batch_size)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = PatchClassifier()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    train_loader, val_loader = get_loaders(128)

    for epoch in range(args.epochs):
        model.train()
        for images, labels in train_loader:
            logits = model(images)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
        scheduler.step()

        model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in val_loader:
                correct += (model(images).argmax(1) == labels).sum().item()
        print(f"epoch {epoch}: val acc {correct / len(val_loader.dataset):.3f}")


if __name__ == "__main__":
    main()
