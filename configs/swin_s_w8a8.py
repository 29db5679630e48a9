# CLAMP-ViT W8/A8: Swin-S, the official weights converted by mmpretrain, 83.21
# top-1 FP, ImageNet-1k.
#
#   python tools/quantize.py configs/swin_s_w8a8.py [CHECKPOINT] --fp
#
# Float checkpoint (the default load_from; download it once and pass the
# local path as CHECKPOINT where the machine has no internet):
#   https://download.openmmlab.com/mmclassification/v0/swin-transformer/convert/swin_small_patch4_window7_224-cc7a01c9.pth
_base_ = [
    'mmpretrain::swin_transformer/swin-small_16xb64_in1k.py',
    './_base_/clamp_w8a8.py',
]

test_cfg = {{_base_.clamp_test_cfg}}

load_from = 'https://download.openmmlab.com/mmclassification/v0/swin-transformer/convert/swin_small_patch4_window7_224-cc7a01c9.pth'  # noqa: E501
