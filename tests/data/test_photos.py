"""Tests of the bundled photographs, their fixed splits and the photo-crop training source."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging.data.photos import (
    HELDOUT_PHOTOS,
    PHOTOS,
    RESERVED_PHOTOS,
    TRAINING_PHOTOS,
    VALIDATION_PHOTOS,
    heldout_photos,
    load_photo,
    photo_crops,
)
from reddiff_imaging.models import PhotoCropSource


def test_splits_are_disjoint_and_cover_the_photographs() -> None:
    splits = [set(TRAINING_PHOTOS), set(VALIDATION_PHOTOS), set(HELDOUT_PHOTOS), set(RESERVED_PHOTOS)]
    assert sum(len(s) for s in splits) == len(PHOTOS) == len(set().union(*splits))
    assert {"camera", "astronaut", "coffee"} <= set(HELDOUT_PHOTOS)
    assert {"china", "flower"} == set(RESERVED_PHOTOS)


@pytest.mark.parametrize("name", [n for n in PHOTOS if n not in RESERVED_PHOTOS])
def test_every_bundled_photograph_loads_offline(name: str) -> None:
    image = load_photo(name)
    assert image.dtype == torch.float32 and image.ndim == 3 and image.shape[0] in (1, 3)
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert float(image.std()) > 0.02  # a real picture, not a blank


def test_channel_conversions() -> None:
    gray = load_photo("camera")
    assert gray.shape == (1, 512, 512)
    assert torch.equal(load_photo("camera", channels=3), gray.expand(3, -1, -1))
    colour = load_photo("astronaut")
    lum = load_photo("astronaut", channels=1)
    assert lum.shape == (1, 512, 512)
    torch.testing.assert_close(lum[0], 0.2125 * colour[0] + 0.7154 * colour[1] + 0.0721 * colour[2], atol=1e-6, rtol=0)


def test_heldout_crops_are_fixed_centre_crops() -> None:
    crops = heldout_photos(256)
    assert crops.shape == (len(HELDOUT_PHOTOS), 3, 256, 256)
    coffee = load_photo("coffee")  # 400 x 600
    assert torch.equal(crops[HELDOUT_PHOTOS.index("coffee")], coffee[:, 72:328, 172:428])
    assert torch.equal(heldout_photos(256), crops)


def test_errors() -> None:
    with pytest.raises(ValueError, match="name must be one of"):
        load_photo("lena")
    with pytest.raises(ValueError, match="channels must be None, 1 or 3, got 2"):
        load_photo("camera", channels=2)
    with pytest.raises(ValueError, match="smaller than size=1024"):
        photo_crops(["camera"], 1024)
    with pytest.raises(ValueError, match="size must be an int >= 1, got 0"):
        photo_crops(["camera"], 0)


def test_photo_crop_source_draws_reproducible_augmented_crops() -> None:
    photo = torch.linspace(0, 1, 80 * 96).reshape(1, 80, 96).expand(3, -1, -1)
    source = PhotoCropSource([photo], ["ramp"], size=16, max_downscale=4.0)
    a = source.sample(64, torch.Generator().manual_seed(3))
    b = source.sample(64, torch.Generator().manual_seed(3))
    assert a.shape == (64, 3, 16, 16) and torch.equal(a, b)
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    # a crop's value range on the ramp grows with its side: coarse and fine crops both occur
    ranges = (a.amax(dim=(1, 2, 3)) - a.amin(dim=(1, 2, 3)))
    assert float(ranges.max()) > 2 * float(ranges.min())  # several scales
    assert source.describe() == {"kind": "photo-crops", "photos": ["ramp"], "size": 16, "channels": 3, "max_downscale": 4.0}


def test_photo_crop_source_on_a_device_draws_the_same_crops_there(device: torch.device) -> None:
    photo = torch.rand(3, 48, 40, generator=torch.Generator().manual_seed(0))
    source = PhotoCropSource([photo], ["noise"], size=16)
    moved = source.to(device)
    assert moved.photos[0].device.type == device.type and source.photos[0].device.type == "cpu"
    a = source.sample(32, torch.Generator().manual_seed(5))
    b = moved.sample(32, torch.Generator().manual_seed(5))
    assert b.device.type == device.type and b.shape == a.shape
    torch.testing.assert_close(b.cpu(), a, atol=1e-5, rtol=0)  # the same draws; resizing may round differently on a GPU
    assert moved.describe() == source.describe()


def test_photo_crop_source_symmetries_and_permutations_are_all_used() -> None:
    photo = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    source = PhotoCropSource([photo], ["noise"], size=16)
    batch = source.sample(400, torch.Generator().manual_seed(1))
    variants = set()
    for crop in batch:
        for k in range(8):
            for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
                candidate = torch.rot90(photo[list(perm)], k % 4, dims=(1, 2))
                if torch.equal(crop, candidate.flip(-1) if k >= 4 else candidate):
                    variants.add((k, perm))
    assert len(variants) == 48


def test_photo_crop_source_errors() -> None:
    with pytest.raises(ValueError, match="smaller than size=64"):
        PhotoCropSource([torch.rand(3, 32, 80)], ["small"], size=64)
    with pytest.raises(ValueError, match="one C"):
        PhotoCropSource([torch.rand(3, 64, 64), torch.rand(1, 64, 64)], ["a", "b"], size=16)
    with pytest.raises(ValueError, match="max_downscale"):
        PhotoCropSource([torch.rand(3, 64, 64)], ["a"], size=16, max_downscale=0.5)


def test_bundled_training_source_uses_only_training_photographs() -> None:
    source = PhotoCropSource.bundled(64, channels=3)
    assert source.names == list(TRAINING_PHOTOS) and source.channels == 3
    assert not set(source.names) & set(HELDOUT_PHOTOS + VALIDATION_PHOTOS + RESERVED_PHOTOS)
    assert PhotoCropSource.bundled(64, channels=1).sample(2, torch.Generator().manual_seed(0)).shape == (2, 1, 64, 64)


def test_channels_and_names_are_checked_before_loading() -> None:
    for bad in (True, 1.0, "3"):
        with pytest.raises(ValueError, match="channels must be None, 1 or 3"):
            load_photo("camera", channels=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="channels must be None, 1 or 3"):
            photo_crops(["camera"], 16, channels=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name must be one of"):
        load_photo(["camera"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"names must be a non-empty tuple or list of photograph names, got \(\)"):
        photo_crops((), 16)
    with pytest.raises(ValueError, match="names must be a non-empty tuple or list"):
        photo_crops(None, 16)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"names must be keys of PHOTOS .*got unknown \['nope'\]"):
        photo_crops(["camera", "nope"], 16)
