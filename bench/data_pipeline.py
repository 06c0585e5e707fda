"""One epoch of CIFAR-shaped data (uint8, 32×32×3) with random crop (padding 4) + horizontal
flip + normalization: our device loader against a torchvision DataLoader doing the same
augmentation per sample. Prints {"ratio": dataloader seconds / ours, ...}."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from bench.common import best_of, device_of, emit, parser
from unlearn_opt.data import DeviceBatches, TensorData
from unlearn_opt.data.cifar import CIFAR_MEAN, CIFAR_STD


class Images(Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform: v2.Transform) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.x[i]), self.y[i]


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    device = device_of(args.device)
    n = 2_000 if args.quick else 50_000
    batch = 256
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    data = TensorData("cifar-shaped", x, y, x[:10], y[:10], 10, CIFAR_MEAN, CIFAR_STD, 255.0).to(device)
    ours = DeviceBatches(data, split="train", indices=torch.arange(n), batch_size=batch, augment=True, seed=0)

    def run_ours() -> None:
        for _batch in ours:
            pass

    transform = v2.Compose(
        [
            v2.RandomCrop(32, padding=4),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(CIFAR_MEAN, CIFAR_STD),
        ]
    )
    workers = 0 if args.quick else 2
    loader = DataLoader(
        Images(x, y, transform), batch_size=batch, shuffle=True, num_workers=workers, pin_memory=device.type == "cuda"
    )

    def run_loader() -> None:
        for xb, yb in loader:
            xb.to(device, non_blocking=True)
            yb.to(device, non_blocking=True)

    repeats = 1 if args.quick else 3
    t_ours = best_of(run_ours, repeats=repeats, device=device)
    t_loader = best_of(run_loader, repeats=repeats, device=device)
    emit(
        {
            "benchmark": "data_pipeline",
            "examples": n,
            "batch_size": batch,
            "device": str(device),
            "ours_seconds": round(t_ours, 4),
            "dataloader_seconds": round(t_loader, 4),
            "dataloader_workers": workers,
            "ratio": round(t_loader / t_ours, 2),
        }
    )


if __name__ == "__main__":
    main()
