# CLAMP-ViT W4/A8 on the backbone of Cascade Mask R-CNN Swin-S (Microsoft, 3x),
# COCO box AP 51.9 / mask AP 45.0 FP.
# Only the backbone is quantized; neck and heads stay float. Reports the
# task's own box and mask mAP beside FP (with --fp).
#
# Float checkpoint: Microsoft's, in the mmdet 2.x-era layout of
# Swin-Transformer-Object-Detection; convert it once, then pass the result:
#   https://github.com/SwinTransformer/storage/releases/download/v1.0.2/cascade_mask_rcnn_swin_small_patch4_window7.pth
#   python tools/convert_swin_det_ckpt.py cascade_mask_rcnn_swin_small_patch4_window7.pth \
#       swin_s_cascade_mrcnn_mmdet3.pth --config configs/swin_s_cascade_mrcnn_w4a8.py
#   python tools/quantize.py configs/swin_s_cascade_mrcnn_w4a8.py swin_s_cascade_mrcnn_mmdet3.pth --fp
_base_ = [
    './_base_/float/cascade-mask-rcnn_swin-s-p4-w7_fpn_giou-4conv1f_ms-crop-3x_coco.py',
    './_base_/clamp_coco_w4a8.py',
]

test_cfg = {{_base_.clamp_test_cfg}}

# No load_from default: the upstream file needs converting (above).
load_from = None
