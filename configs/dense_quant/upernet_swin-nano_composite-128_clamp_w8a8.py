# CLAMP-ViT W8/A8 on the backbone of the small UperNet with a Swin
# backbone trained on the composite set (Fashion-MNIST objects on photos):
# the project's real-data ground for dense tasks. Reports the task's own
# mIoU (IoUMetric) beside FP with --fp.
#
#   python tools/train_dense.py configs/dense/upernet_swin-nano_composite-128.py
#   python tools/quantize.py configs/dense_quant/upernet_swin-nano_composite-128_clamp_w8a8.py \
#       checkpoints/upernet_swin-nano_composite-128.pth --fp
# (train_dense.py writes to ~/.cache/clamp_mm/checkpoints/ instead when the
# weights are too large to ship.)
_base_ = [
    '../dense/upernet_swin-nano_composite-128.py',
    '../_base_/clamp_dense_w8a8.py',
]

# The shared dense recipe; resolution None: the data preprocessor's crop
# size, 128 x 128.
test_cfg = {{_base_.clamp_test_cfg}}

load_from = 'checkpoints/upernet_swin-nano_composite-128.pth'
