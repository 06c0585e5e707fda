"""Datasets (real on-disk formats, written here), the device loader and augmentation."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unlearn_opt.data import DeviceBatches, augment_batch, load_dataset
from unlearn_opt.data.loader import iterate_eval
from unlearn_opt.errors import UserError


def test_digits_fixed_split() -> None:
    a, b = load_dataset("digits"), load_dataset("digits")
    assert a.x_train.shape[1:] == (1, 8, 8) and a.x_train.dtype == torch.float32
    assert len(a.y_train) + len(a.y_test) == 1797 and a.num_classes == 10
    assert 0.25 < len(a.y_test) / 1797 < 0.35
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    rows = {tuple(r) for r in a.x_train.flatten(1).tolist()}
    assert sum(tuple(r) in rows for r in a.x_test.flatten(1).tolist()) < 5  # (digits has a few duplicates)


def test_synthetic_deterministic() -> None:
    a = load_dataset("synthetic", synthetic={"train_size": 100, "test_size": 50, "channels": 3, "image_size": 4})
    b = load_dataset("synthetic", synthetic={"train_size": 100, "test_size": 50, "channels": 3, "image_size": 4})
    assert a.x_train.shape == (100, 3, 4, 4) and a.x_test.shape == (50, 3, 4, 4)
    assert torch.equal(a.x_train, b.x_train)


def write_cifar(root: Path, num_classes: int, per_file: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    if num_classes == 10:
        folder, train, test, key = root / "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"
    else:
        folder, train, test, key = root / "cifar-100-python", ["train"], ["test"], "fine_labels"
    folder.mkdir(parents=True)
    written = {}
    for name in train + test:
        data = rng.integers(0, 256, size=(per_file, 3072), dtype=np.uint8)
        labels = rng.integers(0, num_classes, size=per_file).tolist()
        entry = {"data": data, key: labels, "batch_label": name, "filenames": [f"{i}.png" for i in range(per_file)]}
        if num_classes == 100:
            entry["coarse_labels"] = [v // 5 for v in labels]
        with (folder / name).open("wb") as f:
            pickle.dump(entry, f)
        written[name] = data
    meta = {"label_names": [str(i) for i in range(10)]} if num_classes == 10 else {"fine_label_names": [str(i) for i in range(100)]}
    with (folder / ("batches.meta" if num_classes == 10 else "meta")).open("wb") as f:
        pickle.dump(meta, f)
    return written


@pytest.mark.parametrize("num_classes", [10, 100])
def test_cifar_on_disk_format(tmp_path: Path, num_classes: int) -> None:
    written = write_cifar(tmp_path, num_classes)
    data = load_dataset(f"cifar{num_classes}", data_dir=str(tmp_path))
    first = "data_batch_1" if num_classes == 10 else "train"
    assert data.x_train.shape == (6 * (5 if num_classes == 10 else 1), 3, 32, 32) and data.x_train.dtype == torch.uint8
    # R plane, then G, then B, each 32×32 row-major
    raw = written[first][0]
    assert data.x_train[0, 0, 0, :5].tolist() == raw[:5].tolist()
    assert data.x_train[0, 1, 0, 0] == raw[1024] and data.x_train[0, 2, 31, 31] == raw[3071]
    assert data.num_classes == num_classes
    # also accepted: data_dir pointing at the batches folder itself
    inner = tmp_path / ("cifar-10-batches-py" if num_classes == 10 else "cifar-100-python")
    assert torch.equal(load_dataset(f"cifar{num_classes}", data_dir=str(inner)).x_test, data.x_test)


def test_cifar_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        load_dataset("cifar10", data_dir=str(tmp_path / "nope"))
    write_cifar(tmp_path, 10)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(UserError, match="data_batch_3 is missing"):
        load_dataset("cifar10", data_dir=str(tmp_path))
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"garbage, not a pickle")
    with pytest.raises(UserError, match="data_batch_3 is not a CIFAR pickle"):
        load_dataset("cifar10", data_dir=str(tmp_path))


def write_tiny(root: Path) -> list[str]:
    base = root / "tiny-imagenet-200"
    wnids = ["n01443537", "n01629819", "n01641577"]
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    rng = np.random.default_rng(1)
    for w in wnids:
        (base / "train" / w / "images").mkdir(parents=True)
        for i in range(4):
            arr = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
            Image.fromarray(arr).save(base / "train" / w / "images" / f"{w}_{i}.JPEG", format="JPEG")
        (base / "train" / w / f"{w}_boxes.txt").write_text("")
    lines = []
    for i, w in enumerate([wnids[2], wnids[0], wnids[1]]):
        name = f"val_{i}.JPEG"
        if i == 0:  # a grayscale image: converted to 3 channels
            Image.fromarray(rng.integers(0, 256, size=(64, 64), dtype=np.uint8), mode="L").save(base / "val" / "images" / name, format="JPEG")
        else:
            Image.fromarray(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)).save(base / "val" / "images" / name, format="JPEG")
        lines.append(f"{name}\t{w}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return wnids


def test_tinyimagenet_official_layout(tmp_path: Path) -> None:
    write_tiny(tmp_path)
    data = load_dataset("tinyimagenet", data_dir=str(tmp_path))
    assert data.x_train.shape == (12, 3, 64, 64) and data.x_test.shape == (3, 3, 64, 64)
    assert data.y_train.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert data.y_test.tolist() == [2, 0, 1]  # wnids.txt order
    gray = data.x_test[0]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])


def test_tinyimagenet_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="tiny-imagenet-200"):
        load_dataset("tinyimagenet", data_dir=str(tmp_path / "missing"))
    wnids = write_tiny(tmp_path)
    base = tmp_path / "tiny-imagenet-200"
    (base / "train" / wnids[0] / "images" / f"{wnids[0]}_0.JPEG").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(UserError, match=f"{wnids[0]}_0.JPEG is not a readable image"):
        load_dataset("tinyimagenet", data_dir=str(tmp_path))
    for p in (base / "train" / wnids[1] / "images").iterdir():
        p.unlink()
    with pytest.raises(UserError, match=f"{wnids[1]}/images has no images"):
        load_dataset("tinyimagenet", data_dir=str(tmp_path))


def write_folder(root: Path, split: str, classes: list[str], n: int, size: int = 12) -> None:
    rng = np.random.default_rng(2)
    for c in classes:
        (root / split / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")


def test_imagefolder(tmp_path: Path) -> None:
    write_folder(tmp_path, "train", ["cat", "dog", "eel"], 3)
    write_folder(tmp_path, "test", ["dog", "eel"], 2)
    data = load_dataset("imagefolder", data_dir=str(tmp_path))
    assert data.x_train.shape == (9, 3, 12, 12) and data.num_classes == 3
    assert data.y_train.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert data.y_test.tolist() == [1, 1, 2, 2]
    img = np.asarray(Image.open(tmp_path / "train" / "cat" / "0.png"))
    assert data.x_train[0].permute(1, 2, 0).numpy().tolist() == img.tolist()


def test_imagefolder_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="train/ with one folder per class"):
        load_dataset("imagefolder", data_dir=str(tmp_path))
    write_folder(tmp_path, "train", ["cat"], 2)
    write_folder(tmp_path, "test", ["cat", "owl"], 1)
    with pytest.raises(UserError, match="owl is a class that train/ does not have"):
        load_dataset("imagefolder", data_dir=str(tmp_path))


def shifted_crops(img: torch.Tensor, p: int) -> list[torch.Tensor]:
    padded = torch.nn.functional.pad(img, (p, p, p, p))
    h, w = img.shape[1:]
    out = []
    for dy in range(2 * p + 1):
        for dx in range(2 * p + 1):
            crop = padded[:, dy : dy + h, dx : dx + w]
            out += [crop, crop.flip(2)]
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_augment_batch_is_a_padded_crop_and_flip(dtype: torch.dtype) -> None:
    x = torch.randint(1, 255, (64, 3, 8, 8)).to(dtype)
    out = augment_batch(x, generator=torch.Generator().manual_seed(0), padding=2)
    assert out.shape == x.shape and out.dtype == dtype
    for i in range(6):
        assert any(torch.equal(out[i], c) for c in shifted_crops(x[i], 2))
    again = augment_batch(x, generator=torch.Generator().manual_seed(0), padding=2)
    assert torch.equal(out, again)
    flipped = sum(torch.equal(out[i], x[i].flip(2)) for i in range(64))
    unflipped = sum(torch.equal(out[i], x[i]) for i in range(64))
    assert 0 <= flipped + unflipped <= 64
    only_flip = augment_batch(x, generator=torch.Generator().manual_seed(1), padding=0)
    n_flipped = sum(torch.equal(only_flip[i], x[i].flip(2)) for i in range(64))
    assert 10 < n_flipped < 54  # both flips occur


def test_device_batches_cover_every_index_once() -> None:
    data = load_dataset("synthetic", synthetic={"train_size": 103, "test_size": 10})
    idx = torch.arange(0, 103, 2)
    b = DeviceBatches(data, split="train", indices=idx, batch_size=10, seed=3)
    assert len(b) == 6 and b.num_examples == 52
    first = [y for _, y in b]
    seen = torch.cat([x for x, _ in b])
    assert len(seen) == 52
    rows = {tuple(r) for r in data.normalize(data.x_train[idx]).flatten(1).tolist()}
    assert {tuple(r) for r in seen.flatten(1).tolist()} == rows
    second = [y for _, y in b]
    assert not all(torch.equal(a, c) for a, c in zip(first, second))  # a fresh order each epoch
    c = DeviceBatches(data, split="train", indices=idx, batch_size=10, seed=3)
    assert all(torch.equal(a, d) for a, (_, d) in zip(first, c))
    labels = torch.full((52,), 7)
    assert all(bool((y == 7).all()) for _, y in DeviceBatches(data, split="train", indices=idx, labels=labels, batch_size=10))
    assert len(DeviceBatches(data, split="train", indices=idx, batch_size=10, drop_last=True)) == 5


def test_iterate_eval_in_order() -> None:
    data = load_dataset("synthetic", synthetic={"train_size": 30, "test_size": 20})
    out = torch.cat(list(iterate_eval(data, split="test", indices=[3, 1, 2], batch_size=2)))
    assert torch.equal(out, data.normalize(data.x_test[[3, 1, 2]]))
