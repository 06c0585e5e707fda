"""Datasets (real on-disk formats, written here), the device loader and augmentation."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unlearn_opt.data import DeviceBatches, TensorData, augment_batch, load_dataset
from unlearn_opt.data.cifar import CIFAR_MEAN, CIFAR_STD
from unlearn_opt.data.loader import iterate_eval
from unlearn_opt.errors import UserError

# ------------------------------------------------------------------ digits and synthetic


def test_digits_fixed_stratified_split() -> None:
    a, b = load_dataset("digits"), load_dataset("digits")
    assert a.x_train.shape[1:] == (1, 8, 8) and a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert len(a.y_train) + len(a.y_test) == 1797 and a.num_classes == 10
    assert abs(len(a.y_test) - 539) <= 2
    assert (a.scale, a.mean, a.std) == (1.0, (0.0,), (1.0,))
    assert abs(float(a.x_train.mean())) < 1e-4 and abs(float(a.x_train.std()) - 1) < 1e-2
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    share = torch.bincount(a.y_test, minlength=10) / torch.bincount(a.y_train + 0, minlength=10)
    assert float(share.min()) > 0.35 and float(share.max()) < 0.5  # stratified: 30/70 per class
    rows = {tuple(r) for r in a.x_train.flatten(1).tolist()}
    assert sum(tuple(r) in rows for r in a.x_test.flatten(1).tolist()) < 5  # (digits has a few duplicate images)


def test_synthetic_deterministic_and_learnable() -> None:
    kw = {"train_size": 100, "test_size": 50, "channels": 3, "image_size": 4}
    a, b = load_dataset("synthetic", synthetic=kw), load_dataset("synthetic", synthetic=kw)
    assert a.x_train.shape == (100, 3, 4, 4) and a.x_test.shape == (50, 3, 4, 4) and a.x_train.dtype == torch.float32
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, load_dataset("synthetic", synthetic={**kw, "seed": 1}).x_train)
    d = load_dataset("synthetic")
    assert (
        d.x_train.shape == (2000, 1, 8, 8)
        and d.num_classes == 10
        and d.channels == 1
        and d.example_shape == (1, 8, 8)
        and d.is_image
    )
    # nearest class mean: far above chance, far from perfect
    means = torch.stack([d.x_train[d.y_train == c].flatten(1).mean(0) for c in range(10)])
    acc = float((torch.cdist(d.x_test.flatten(1), means).argmin(1) == d.y_test).float().mean())
    assert 0.4 < acc < 0.97


# ------------------------------------------------------------------ CIFAR


def write_cifar(root: Path, num_classes: int, per_file: int = 6, protocol: int = 2) -> dict[str, dict]:
    """torchvision's extracted layout, with the real keys (protocol 2 like the release)."""
    rng = np.random.default_rng(0)
    if num_classes == 10:
        folder, files, key = root / "cifar-10-batches-py", [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"], "labels"
    else:
        folder, files, key = root / "cifar-100-python", ["train", "test"], "fine_labels"
    folder.mkdir(parents=True)
    written = {}
    for name in files:
        labels = rng.integers(0, num_classes, size=per_file).tolist()
        entry = {
            "batch_label": name,
            key: labels,
            "data": rng.integers(0, 256, size=(per_file, 3072), dtype=np.uint8),
            "filenames": [f"{name}_{i}.png" for i in range(per_file)],
        }
        if num_classes == 100:
            entry["coarse_labels"] = [v // 5 for v in labels]
        (folder / name).write_bytes(pickle.dumps(entry, protocol=protocol))
        written[name] = entry
    meta_name, meta = (
        ("batches.meta", {"label_names": list("abcdefghij")})
        if num_classes == 10
        else ("meta", {"fine_label_names": [str(i) for i in range(100)], "coarse_label_names": [str(i) for i in range(20)]})
    )
    (folder / meta_name).write_bytes(pickle.dumps(meta, protocol=protocol))
    return written


@pytest.mark.parametrize(("num_classes", "protocol"), [(10, 2), (100, 2), (10, pickle.DEFAULT_PROTOCOL), (100, 5)])
def test_cifar_on_disk_format_round_trips(tmp_path: Path, num_classes: int, protocol: int) -> None:
    written = write_cifar(tmp_path, num_classes, protocol=protocol)
    data = load_dataset(f"cifar{num_classes}", data_dir=str(tmp_path))
    train = [e for n, e in written.items() if n not in ("test_batch", "test")]
    test = written["test_batch" if num_classes == 10 else "test"]
    key = "labels" if num_classes == 10 else "fine_labels"
    assert data.x_train.shape == (6 * len(train), 3, 32, 32) and data.x_train.dtype == torch.uint8
    # R plane, then G, then B, each 32×32 row-major
    raw = np.concatenate([e["data"] for e in train])
    assert np.array_equal(data.x_train.numpy(), raw.reshape(-1, 3, 32, 32))
    assert data.x_train[0, 1, 0, 0] == raw[0, 1024] and data.x_train[0, 2, 31, 31] == raw[0, 3071]
    assert data.y_train.tolist() == [v for e in train for v in e[key]] and data.y_train.dtype == torch.int64
    assert np.array_equal(data.x_test.numpy(), test["data"].reshape(-1, 3, 32, 32)) and data.y_test.tolist() == test[key]
    assert data.num_classes == num_classes and data.scale == 255.0 and data.example_shape == (3, 32, 32) and data.channels == 3
    # also accepted: data_dir pointing at the batches folder itself
    inner = tmp_path / ("cifar-10-batches-py" if num_classes == 10 else "cifar-100-python")
    assert torch.equal(load_dataset(f"cifar{num_classes}", data_dir=str(inner)).x_train, data.x_train)


class _Hostile:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned > hostile_ran",))


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_missing_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(UserError, match=f"{name}: data_dir {tmp_path / 'nope'} does not exist.*cifar-1"):
        load_dataset(name, data_dir=str(tmp_path / "nope"))
    with pytest.raises(UserError, match=f"{name}: expected torchvision's CIFAR.* in {tmp_path}.*is missing"):
        load_dataset(name, data_dir=str(tmp_path))  # exists, but holds no CIFAR files


def test_cifar_bad_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar(tmp_path, 10)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_3").unlink()
    with pytest.raises(UserError) as err:
        load_dataset("cifar10", data_dir=str(tmp_path))
    assert str(err.value) == (
        f"cifar10: expected torchvision's CIFAR-10 python files (cifar-10-batches-py/data_batch_1 … "
        f"test_batch) in {folder}: data_batch_3 is missing"
    )
    bad = {
        b"garbage, not a pickle": "not a CIFAR pickle",
        pickle.dumps({"labels": [1]}): "not a CIFAR pickle",  # no 'data'
        pickle.dumps([1, 2, 3]): "not a CIFAR pickle",
        pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}): "N×3072",
        pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}): "N×3072",
        pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}): "outside 0..9",
    }
    for content, message in bad.items():
        (folder / "data_batch_3").write_bytes(content)
        with pytest.raises(UserError, match=message) as err:
            load_dataset("cifar10", data_dir=str(tmp_path))
        assert "\n" not in str(err.value)
    monkeypatch.chdir(tmp_path)
    (folder / "data_batch_3").write_bytes(pickle.dumps(_Hostile()))
    with pytest.raises(UserError, match=f"{folder / 'data_batch_3'} is not a CIFAR pickle"):
        load_dataset("cifar10", data_dir=str(tmp_path))
    assert not (tmp_path / "hostile_ran").exists()  # the pickle's global was refused, not run


# ------------------------------------------------------------------ Tiny ImageNet


def write_tiny(root: Path, *, wnids_file: bool = True) -> list[str]:
    base = root / "tiny-imagenet-200"
    wnids = ["n01629819", "n01443537", "n01641577"]  # wnids.txt order is not sorted order
    (base / "val" / "images").mkdir(parents=True)
    if wnids_file:
        (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    rng = np.random.default_rng(1)
    for w in wnids:
        (base / "train" / w / "images").mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)).save(
                base / "train" / w / "images" / f"{w}_{i}.JPEG", format="JPEG"
            )
        (base / "train" / w / f"{w}_boxes.txt").write_text("")
    lines = []
    for i, w in enumerate([wnids[2], wnids[0], wnids[1]]):
        name = f"val_{i}.JPEG"
        shape = (64, 64) if i == 0 else (64, 64, 3)  # val_0 is grayscale: converted to 3 channels
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8)).save(base / "val" / "images" / name, format="JPEG")
        lines.append(f"{name}\t{w}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return wnids


def test_tinyimagenet_official_layout(tmp_path: Path) -> None:
    wnids = write_tiny(tmp_path)
    data = load_dataset("tinyimagenet", data_dir=str(tmp_path))
    assert data.x_train.shape == (12, 3, 64, 64) and data.x_test.shape == (3, 3, 64, 64)
    assert data.x_train.dtype == torch.uint8 and data.num_classes == 3 and data.scale == 255.0
    assert data.y_train.tolist() == [0] * 4 + [1] * 4 + [2] * 4  # wnids.txt order
    assert data.y_test.tolist() == [2, 0, 1]
    gray = data.x_test[0]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    assert not torch.equal(data.x_test[1][0], data.x_test[1][1])
    decoded = np.asarray(Image.open(tmp_path / "tiny-imagenet-200" / "train" / wnids[0] / "images" / f"{wnids[0]}_0.JPEG"))
    assert np.array_equal(data.x_train[0].permute(1, 2, 0).numpy(), decoded)
    # data_dir may be the tiny-imagenet-200 folder itself
    assert torch.equal(load_dataset("tinyimagenet", data_dir=str(tmp_path / "tiny-imagenet-200")).y_test, data.y_test)


def test_tinyimagenet_without_wnids_uses_sorted_folders(tmp_path: Path) -> None:
    wnids = write_tiny(tmp_path, wnids_file=False)
    data = load_dataset("tinyimagenet", data_dir=str(tmp_path))
    order = sorted(wnids)
    assert data.y_test.tolist() == [order.index(w) for w in (wnids[2], wnids[0], wnids[1])]


def test_tinyimagenet_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=f"tinyimagenet: data_dir {tmp_path / 'missing'} does not exist.*tiny-imagenet-200"):
        load_dataset("tinyimagenet", data_dir=str(tmp_path / "missing"))
    with pytest.raises(UserError, match=f"expected {tmp_path / 'train'}/"):
        load_dataset("tinyimagenet", data_dir=str(tmp_path))
    wnids = write_tiny(tmp_path)
    base = tmp_path / "tiny-imagenet-200"
    corrupt = base / "train" / wnids[0] / "images" / f"{wnids[0]}_0.JPEG"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(UserError, match=f"tinyimagenet: {corrupt} is not a readable image"):
        load_dataset("tinyimagenet", data_dir=str(tmp_path))
    (base / "val" / "val_annotations.txt").unlink()
    with pytest.raises(UserError, match=f"tinyimagenet: {base / 'val' / 'val_annotations.txt'} is missing"):
        load_dataset("tinyimagenet", data_dir=str(tmp_path))
    for p in (base / "train" / wnids[1] / "images").iterdir():
        p.unlink()
    with pytest.raises(UserError, match=f"tinyimagenet: {base / 'train' / wnids[1] / 'images'} has no images"):
        load_dataset("tinyimagenet", data_dir=str(tmp_path))


# ------------------------------------------------------------------ image folder


def write_folder(root: Path, split: str, classes: list[str], n: int, size: tuple[int, int] = (12, 12)) -> None:
    rng = np.random.default_rng(2)
    for c in classes:
        (root / split / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")


def test_imagefolder(tmp_path: Path) -> None:
    write_folder(tmp_path, "train", ["cat", "dog", "eel"], 3)
    write_folder(tmp_path, "test", ["dog", "eel"], 2)
    (tmp_path / "train" / "dog" / "notes.txt").write_text("not an image: skipped")
    data = load_dataset("imagefolder", data_dir=str(tmp_path))
    assert data.x_train.shape == (9, 3, 12, 12) and data.x_test.shape == (4, 3, 12, 12) and data.num_classes == 3
    assert data.y_train.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert data.y_test.tolist() == [1, 1, 2, 2]
    img = np.asarray(Image.open(tmp_path / "train" / "cat" / "0.png"))
    assert np.array_equal(data.x_train[0].permute(1, 2, 0).numpy(), img)
    flat = data.x_train.double().div(255).transpose(0, 1).flatten(1)
    assert np.allclose(data.mean, flat.mean(1).numpy()) and np.allclose(data.std, flat.std(1, correction=0).numpy())


def test_imagefolder_resizes_to_the_shorter_side_of_the_first_image(tmp_path: Path) -> None:
    write_folder(tmp_path, "train", ["a", "b"], 2, size=(10, 14))  # H 10, W 14
    write_folder(tmp_path, "test", ["b"], 1, size=(20, 20))
    Image.fromarray(np.zeros((16, 16), np.uint8), mode="L").save(tmp_path / "train" / "b" / "gray.bmp")
    data = load_dataset("imagefolder", data_dir=str(tmp_path))
    assert data.x_train.shape == (5, 3, 10, 10) and data.x_test.shape == (1, 3, 10, 10)


def test_imagefolder_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=f"imagefolder: expected {tmp_path / 'train'}/ with one folder per class"):
        load_dataset("imagefolder", data_dir=str(tmp_path))
    with pytest.raises(UserError, match="imagefolder: data_dir is required"):
        load_dataset("imagefolder")
    write_folder(tmp_path, "train", ["cat"], 2)
    write_folder(tmp_path, "test", ["cat", "owl"], 1)
    with pytest.raises(UserError, match=f"{tmp_path / 'test' / 'owl'} is a class that train/ does not have"):
        load_dataset("imagefolder", data_dir=str(tmp_path))
    (tmp_path / "test" / "owl" / "0.png").unlink()
    (tmp_path / "test" / "owl").rmdir()
    (tmp_path / "test" / "cat" / "0.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(UserError, match=f"{tmp_path / 'test' / 'cat' / '0.png'} is not a readable image"):
        load_dataset("imagefolder", data_dir=str(tmp_path))


def test_unknown_dataset() -> None:
    with pytest.raises(UserError, match="unknown 'mnist'"):
        load_dataset("mnist")


# ------------------------------------------------------------------ augmentation


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
    x = torch.randint(1, 255, (64, 3, 8, 8), generator=torch.Generator().manual_seed(5)).to(dtype)
    out = augment_batch(x, generator=torch.Generator().manual_seed(0), padding=2)
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    for i in range(8):
        assert any(torch.equal(out[i], c) for c in shifted_crops(x[i], 2))
    assert not torch.equal(out, x)
    assert torch.equal(out, augment_batch(x, generator=torch.Generator().manual_seed(0), padding=2))
    assert not torch.equal(out, augment_batch(x, generator=torch.Generator().manual_seed(1), padding=2))
    only_flip = augment_batch(x, generator=torch.Generator().manual_seed(1), padding=0)
    n_flipped = sum(torch.equal(only_flip[i], x[i].flip(2)) for i in range(64))
    n_kept = sum(torch.equal(only_flip[i], x[i]) for i in range(64))
    assert n_flipped + n_kept == 64 and 10 < n_flipped < 54  # both occur
    assert torch.equal(augment_batch(x, padding=0, flip=False), x)
    assert augment_batch(x).shape == x.shape  # default generator


# ------------------------------------------------------------------ device batches


def unique_rows() -> TensorData:
    """Image i is filled with the value i (so a batch row tells its index); label i % 7."""
    n = 103
    x = torch.arange(n, dtype=torch.uint8)[:, None, None, None].expand(n, 3, 4, 4).contiguous()
    y = torch.arange(n) % 7
    return TensorData("rows", x, y, x[:10], y[:10], 7, (0.2, 0.3, 0.4), (0.5, 0.6, 0.7), 255.0)


def index_of(xb: torch.Tensor, data: TensorData) -> list[int]:
    """Back from normalized rows to the index written into the image."""
    mean, std = torch.tensor(data.mean)[None, :, None, None], torch.tensor(data.std)[None, :, None, None]
    return (xb * std + mean).mul(255).round()[:, 0, 0, 0].long().tolist()


def test_device_batches_cover_every_index_once() -> None:
    data = unique_rows()
    idx = torch.arange(0, 103, 2)
    b = DeviceBatches(data, split="train", indices=idx, batch_size=10, seed=3)
    assert len(b) == 6 and b.num_examples == 52
    first = list(b)
    assert [len(y) for _, y in first] == [10] * 5 + [2]
    assert all(x.dtype == torch.float32 and y.dtype == torch.int64 for x, y in first)
    seen = [i for x, _ in first for i in index_of(x, data)]
    assert sorted(seen) == idx.tolist()  # every index exactly once
    assert seen != idx.tolist()  # shuffled
    for x, y in first:  # x and y stay aligned, x normalized like data.normalize
        assert y.tolist() == [i % 7 for i in index_of(x, data)]
        assert torch.allclose(x, data.normalize(data.x_train[index_of(x, data)]))
    second = [i for x, _ in b for i in index_of(x, data)]
    assert second != seen and sorted(second) == sorted(seen)  # a fresh order each epoch
    again = DeviceBatches(data, split="train", indices=idx.numpy(), batch_size=10, seed=3)
    assert [i for x, _ in again for i in index_of(x, data)] == seen  # same seed, same sequence
    assert [i for x, _ in again for i in index_of(x, data)] == second
    other = DeviceBatches(data, split="train", indices=idx, batch_size=10, seed=4)
    assert [i for x, _ in other for i in index_of(x, data)] != seen
    assert len(DeviceBatches(data, split="train", indices=idx, batch_size=10, drop_last=True)) == 5
    assert sum(len(y) for _, y in DeviceBatches(data, split="train", indices=idx, batch_size=10, drop_last=True)) == 50


def test_device_batches_labels_override_order_and_augment() -> None:
    data = unique_rows()
    idx = [5, 1, 9, 30]
    labels = torch.tensor([50, 10, 90, 300])
    ordered = list(DeviceBatches(data, split="train", indices=idx, labels=labels, batch_size=3, shuffle=False))
    assert [index_of(x, data) for x, _ in ordered] == [[5, 1, 9], [30]]
    assert [y.tolist() for _, y in ordered] == [[50, 10, 90], [300]]
    for x, y in DeviceBatches(data, split="train", indices=idx, labels=labels, batch_size=3, seed=1):
        assert y.tolist() == [i * 10 for i in index_of(x, data)]
    aug = next(iter(DeviceBatches(data, split="train", indices=list(range(64)), batch_size=64, augment=True)))[0]
    assert aug.shape == (64, 3, 4, 4) and aug.dtype == torch.float32
    zero = data.normalize(torch.zeros(1, 3, 1, 1, dtype=torch.uint8))[0, :, 0, 0]
    assert bool((aug[:, :, 0, 0] == zero).all(1).any())  # some crops reach into the zero padding
    test_split = list(DeviceBatches(data, split="test", indices=[2, 3], batch_size=5, shuffle=False))
    assert index_of(test_split[0][0], data) == [2, 3]
    with pytest.raises(ValueError, match="align"):
        DeviceBatches(data, split="train", indices=idx, labels=labels[:2], batch_size=3)
    with pytest.raises(ValueError, match="split"):
        DeviceBatches(data, split="val", indices=idx, batch_size=3)


def test_iterate_eval_in_order() -> None:
    data = load_dataset("synthetic", synthetic={"train_size": 30, "test_size": 20})
    out = list(iterate_eval(data, split="test", indices=[3, 1, 2], batch_size=2))
    assert [len(b) for b in out] == [2, 1]
    assert torch.equal(torch.cat(out), data.normalize(data.x_test[[3, 1, 2]]))


def test_normalize_and_to() -> None:
    x = torch.randint(0, 256, (4, 3, 2, 2), dtype=torch.uint8)
    data = TensorData(
        "c", x, torch.zeros(4, dtype=torch.int64), x, torch.zeros(4, dtype=torch.int64), 10, CIFAR_MEAN, CIFAR_STD, 255.0
    )
    mean, std = torch.tensor(CIFAR_MEAN)[None, :, None, None], torch.tensor(CIFAR_STD)[None, :, None, None]
    assert torch.allclose(data.normalize(x), (x.float() / 255 - mean) / std, atol=1e-5)
    moved = data.to("cpu")
    assert moved is not data and moved.device == torch.device("cpu") and torch.equal(moved.x_train, x)
    assert torch.allclose(moved.normalize(x[:1]), data.normalize(x[:1]))
