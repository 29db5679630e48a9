"""The search's image argument: bad images are one line naming the value and
what was expected, before any model code runs."""
import pytest
import torch
from timm.models.vision_transformer import VisionTransformer

from clamp_mm.registry import CALIBRATORS

torch.set_num_threads(1)


def tiny_vit():
    torch.manual_seed(0)
    return VisionTransformer(img_size=16, patch_size=4, embed_dim=16,
                             depth=1, num_heads=2, num_classes=3).eval()


def calibrator():
    return CALIBRATORS.build(dict(
        type='clamp_mm.EvolutionaryCalibrator', population_size=2,
        tournament_size=1, passes=1, cycles=1, children_per_cycle=1,
        progress_bar=False, plots=False))


@pytest.mark.parametrize('images,expected', [
    (torch.randn(2, 3, 24, 24), 'of size 24x24 do not fit'),
    (torch.randn(0, 3, 16, 16), 'have shape (0, 3, 16, 16)'),
    (torch.full((2, 3, 16, 16), float('nan')), 'hold 1536 NaN or Inf'),
    (torch.zeros(2, 3, 16, 16, dtype=torch.uint8), 'a torch.uint8 tensor'),
    ([1, 2], 'images is list'),
])
def test_bad_images_are_named(images, expected):
    model = tiny_vit()
    with pytest.raises(ValueError) as error:
        calibrator().calibrate(model, images, recipe=dict(weight_bits=4))
    message = str(error.value)
    assert expected in message, message
    assert 'VisionTransformer takes 16x16' in message
    assert '\n' not in message


def test_good_images_pass_and_the_check_changes_nothing():
    model = tiny_vit()
    images = torch.randn(2, 3, 16, 16)
    result = calibrator().calibrate(model, images, recipe=dict(weight_bits=4))
    assert result.finished


@pytest.mark.parametrize('num_images,resolution,expected', [
    (1, (24, 24), 'resolution 24x24 does not fit VisionTransformer'),
    (2.5, None, 'num_images=2.5 is invalid, expected an int >= 1'),
    (0, None, 'num_images=0 is invalid'),
])
def test_generator_request_is_checked_first(num_images, resolution,
                                            expected):
    from clamp_mm.synth import ClampGenerator
    generator = ClampGenerator(iterations=1, warmup_iterations=0,
                               progress=False)
    with pytest.raises(ValueError) as error:
        generator.generate(tiny_vit(), num_images, resolution)
    assert expected in str(error.value)
    assert '\n' not in str(error.value)
