# CLAMP-ViT mixed precision for detection and segmentation backbones.
_base_ = ['./clamp_dense_w4a8.py', './mixed_precision_budget.py']

clamp_test_cfg = dict(
    calibrator=dict(mixed_precision={{_base_.clamp_mixed_precision}}))
