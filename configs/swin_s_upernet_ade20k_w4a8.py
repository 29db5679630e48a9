# CLAMP-ViT W4/A8 on the backbone of UperNet Swin-S (mmseg, 160k), ADE20K mIoU
# 47.72 FP.
# Only the backbone is quantized; neck and heads stay float. Reports the
# task's own mIoU beside FP (with --fp).
#
#   python tools/quantize.py configs/swin_s_upernet_ade20k_w4a8.py [CHECKPOINT] --fp
#
# Float checkpoint (the default load_from; download it once and pass the
# local path as CHECKPOINT where the machine has no internet):
#   https://download.openmmlab.com/mmsegmentation/v0.5/swin/upernet_swin_small_patch4_window7_512x512_160k_ade20k_pretrain_224x224_1K/upernet_swin_small_patch4_window7_512x512_160k_ade20k_pretrain_224x224_1K_20210526_192015-ee2fff1c.pth
_base_ = [
    'mmseg::swin/swin-small-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
    './_base_/clamp_dense_w4a8.py',
]

test_cfg = {{_base_.clamp_test_cfg}}

load_from = 'https://download.openmmlab.com/mmsegmentation/v0.5/swin/upernet_swin_small_patch4_window7_512x512_160k_ade20k_pretrain_224x224_1K/upernet_swin_small_patch4_window7_512x512_160k_ade20k_pretrain_224x224_1K_20210526_192015-ee2fff1c.pth'  # noqa: E501
