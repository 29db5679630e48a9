# CLAMP-ViT mixed precision (see mixed_precision_budget.py): the search
# starts from W4/A8 and also picks per-layer bit-widths under the budget;
# the results file reports the bits it chose per layer.
_base_ = ['./clamp_w4a8.py', './mixed_precision_budget.py']

clamp_test_cfg = dict(
    calibrator=dict(mixed_precision={{_base_.clamp_mixed_precision}}))
