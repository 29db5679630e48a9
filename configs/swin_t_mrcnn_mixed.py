# CLAMP-ViT mixed precision on the backbone of Mask R-CNN Swin-T (mmdet, 1x),
# COCO box AP 42.7 / mask AP 39.3 FP.
# Only the backbone is quantized; neck and heads stay float. Reports the
# task's own box and mask mAP beside FP (with --fp).
#
#   python tools/quantize.py configs/swin_t_mrcnn_mixed.py [CHECKPOINT] --fp
#
# Float checkpoint (the default load_from; download it once and pass the
# local path as CHECKPOINT where the machine has no internet):
#   https://download.openmmlab.com/mmdetection/v2.0/swin/mask_rcnn_swin-t-p4-w7_fpn_1x_coco/mask_rcnn_swin-t-p4-w7_fpn_1x_coco_20210902_120937-9d6b7cfa.pth
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
    './_base_/clamp_coco_mixed.py',
]

test_cfg = {{_base_.clamp_test_cfg}}

load_from = 'https://download.openmmlab.com/mmdetection/v2.0/swin/mask_rcnn_swin-t-p4-w7_fpn_1x_coco/mask_rcnn_swin-t-p4-w7_fpn_1x_coco_20210902_120937-9d6b7cfa.pth'  # noqa: E501
