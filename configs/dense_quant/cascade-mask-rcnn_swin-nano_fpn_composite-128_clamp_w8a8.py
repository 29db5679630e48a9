# CLAMP-ViT W8/A8 on the backbone of the small Cascade Mask R-CNN with a Swin
# backbone trained on the composite set (Fashion-MNIST objects on photos):
# the project's real-data ground for dense tasks. Reports the task's own
# box and mask mAP (CocoMetric) beside FP with --fp.
#
#   python tools/train_dense.py configs/dense/cascade-mask-rcnn_swin-nano_fpn_composite-128.py
#   python tools/quantize.py configs/dense_quant/cascade-mask-rcnn_swin-nano_fpn_composite-128_clamp_w8a8.py \
#       checkpoints/cascade-mask-rcnn_swin-nano_fpn_composite-128.pth --fp
# (train_dense.py writes to ~/.cache/clamp_mm/checkpoints/ instead when the
# weights are too large to ship.)
_base_ = [
    '../dense/cascade-mask-rcnn_swin-nano_fpn_composite-128.py',
    '../_base_/clamp_dense_w8a8.py',
]

# The shared dense recipe, at this model's input size.
test_cfg = dict(_base_.clamp_test_cfg, resolution=(128, 128))

load_from = 'checkpoints/cascade-mask-rcnn_swin-nano_fpn_composite-128.pth'
