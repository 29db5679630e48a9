# Cascade Mask R-CNN with a Swin-S backbone, in mmdet 3.x form: Microsoft's
# Swin-Transformer-Object-Detection recipe (configs/swin/cascade_mask_rcnn_
# swin_small_patch4_window7_mstrain_480-800_giou_4conv1f_adamw_3x_coco.py);
# only the depth of stage 3 and the initialisation differ from Swin-T.
#
# Weights (COCO box AP 51.9, mask AP 45.0), to convert with
# tools/convert_swin_det_ckpt.py first:
#   https://github.com/SwinTransformer/storage/releases/download/v1.0.2/cascade_mask_rcnn_swin_small_patch4_window7.pth
_base_ = './cascade-mask-rcnn_swin-t-p4-w7_fpn_giou-4conv1f_ms-crop-3x_coco.py'

pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_small_patch4_window7_224.pth'  # noqa: E501

model = dict(
    backbone=dict(
        depths=[2, 2, 18, 2],
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
