"""Tests of clamp_mm.synth.taps."""
import torch

from clamp_mm.synth.taps import TokenGridCollector


def test_collects_one_grid_per_tap_and_removes_hooks(vit_adapter):
    images = torch.randn(2, 3, 32, 32, requires_grad=True)
    collector = TokenGridCollector(vit_adapter)
    with collector:
        vit_adapter.forward_images(images)
    assert collector.names == ['blocks.0.attn', 'blocks.1.attn']
    assert [tuple(g.shape) for g in collector.grids] == [(2, 4, 4, 16)] * 2
    # Grids stay in the graph: a loss on them reaches the pixels.
    collector.grids[0].sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    # Hooks are gone after the block: another forward records nothing.
    vit_adapter.forward_images(images)
    assert len(collector.records) == 2
    with collector:
        vit_adapter.forward_images(torch.randn(1, 3, 48, 32))
    assert [tuple(g.shape) for g in collector.grids] == [(1, 6, 4, 16)] * 2
