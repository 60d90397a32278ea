"""Region bookkeeping, the nothing-found policy and IMAGE/MASK validation."""

from __future__ import annotations

import pytest
import torch

from pinpoint.errors import PinpointError, reported_as
from pinpoint.images import as_mask_batch, check_image, check_prompt, load_image, save_image
from pinpoint.regions import (
    IfNothingFound,
    ImageRegions,
    Region,
    RegionBatch,
    resolve_nothing_found,
)


def test_error_format_and_retitle():
    err = PinpointError("nothing here.", "do this.", "Detect")
    assert str(err) == "Detect: nothing here. Fix: do this."
    assert (
        str(PinpointError("nothing here.", "do this.")) == "Pinpoint: nothing here. Fix: do this."
    )
    with pytest.raises(PinpointError) as caught:
        with reported_as("Detect Objects (Pinpoint)"):
            raise err
    assert str(caught.value) == "Detect Objects (Pinpoint): nothing here. Fix: do this."


def test_nothing_found_policies():
    empty = ImageRegions(30, 20, ())
    with pytest.raises(PinpointError) as caught, reported_as("Match"):
        resolve_nothing_found(
            empty, IfNothingFound.ERROR, "nothing matched", "lower it", index=1, batch_size=3
        )
    message = str(caught.value)
    assert message.startswith("Match: nothing matched in image 2 of 3. Fix: lower it")
    assert "empty mask" in message and "whole image" in message
    kept = resolve_nothing_found(empty, IfNothingFound.EMPTY_MASK, "nothing matched", "x")
    assert kept.regions == () and "empty mask" in kept.note
    whole = resolve_nothing_found(empty, IfNothingFound.WHOLE_IMAGE, "nothing matched", "x")
    assert [r.box for r in whole.regions] == [
        (0.0, 0.0, 30.0, 20.0)
    ] and "whole image" in whole.note
    found = ImageRegions(30, 20, (Region((1, 1, 2, 2), "a", 0.5, "t"),))
    assert resolve_nothing_found(found, IfNothingFound.ERROR, "r", "f") is found


def test_region_batch_checks_image_size_and_batch():
    batch = RegionBatch((ImageRegions(8, 6, ()),))
    batch.check_matches(torch.zeros(1, 6, 8, 3))
    with pytest.raises(PinpointError, match="image batch has 2 image"):
        batch.check_matches(torch.zeros(2, 6, 8, 3))
    with pytest.raises(PinpointError, match="8x6 image but this image is 9x6"):
        batch.check_matches(torch.zeros(1, 6, 9, 3))


@pytest.mark.parametrize(
    "channels, word", [(1, "grayscale"), (4, "RGBA"), (2, "grayscale\\+alpha")]
)
def test_non_rgb_images_are_refused(channels, word):
    with pytest.raises(PinpointError, match=f"is {word} .*Fix: convert it to RGB"):
        check_image(torch.zeros(1, 8, 8, channels))


def test_image_must_be_a_batch():
    with pytest.raises(PinpointError, match=r"\[B, H, W, 3\]"):
        check_image(torch.zeros(8, 8, 3))


def test_mask_size_mismatch_and_broadcast():
    image = torch.zeros(2, 32, 48, 3)
    with pytest.raises(PinpointError, match="the mask is 64x64 but the image is 48x32"):
        as_mask_batch(torch.zeros(1, 64, 64), image)
    assert as_mask_batch(torch.ones(32, 48), image).shape == (2, 32, 48)
    with pytest.raises(PinpointError, match="3 masks for 2 images"):
        as_mask_batch(torch.zeros(3, 32, 48), image)


def test_empty_prompt():
    with pytest.raises(PinpointError, match="the prompt is empty. Fix: "):
        check_prompt("   ", "prompt", "a cat")
    assert check_prompt("  a cat ", "prompt", "x") == "a cat"


def test_load_image_refuses_grayscale_unless_converted(tmp_path):
    from PIL import Image

    Image.new("L", (5, 4), 128).save(tmp_path / "gray.png")
    Image.new("RGBA", (5, 4), (1, 2, 3, 4)).save(tmp_path / "rgba.png")
    with pytest.raises(PinpointError, match="is L but RGB is required"):
        load_image(tmp_path / "gray.png")
    with pytest.raises(PinpointError, match="is RGBA but RGB is required"):
        load_image(tmp_path / "rgba.png")
    assert load_image(tmp_path / "gray.png", convert_rgb=True).shape == (1, 4, 5, 3)
    with pytest.raises(PinpointError, match="does not exist"):
        load_image(tmp_path / "missing.png")


def test_save_load_round_trip_is_exact_for_8_bit_values(tmp_path):
    values = torch.randint(0, 256, (1, 7, 9, 3)).float() / 255
    save_image(values, tmp_path / "a.png")
    assert torch.equal(load_image(tmp_path / "a.png"), values)
