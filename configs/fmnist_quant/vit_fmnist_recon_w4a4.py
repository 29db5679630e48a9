# Data-free W4/A4 of the small Fashion-MNIST ViT with block reconstruction
# after the observers (issue 18): CLAMP stage-1 images, the default quantizer
# (preset clamp_full), then clamp_mm.BlockReconstructionCalibrator instead of
# the evolutionary search. docs/block_reconstruction.md has its figures.
#
#   python tools/quantize.py configs/fmnist_quant/vit_fmnist_recon_w4a4.py --fp
_base_ = [
    '../fashion_mnist/vit_fmnist.py',
    '../_base_/clamp_w4a8.py',
]

test_cfg = dict(
    type='clamp_mm.QuantTestLoop',
    recipe=dict(weight_bits=4, act_bits=4),
    generator={{_base_.clamp_generator}},
    num_images=32,
    resolution=None,
    calibrator=dict(type='clamp_mm.BlockReconstructionCalibrator',
                    iterations=500, drop_prob=0.5),
    evaluate_fp=False)

load_from = 'checkpoints/fmnist_vit.pth'
