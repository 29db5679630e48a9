# CLAMP-ViT W4/A8: DeiT-B, the official weights converted by mmpretrain, 81.79
# top-1 FP, ImageNet-1k.
#
#   python tools/quantize.py configs/deit_b_w4a8.py [CHECKPOINT] --fp
#
# Float checkpoint (the default load_from; download it once and pass the
# local path as CHECKPOINT where the machine has no internet):
#   https://download.openmmlab.com/mmclassification/v0/deit/deit-base_3rdparty_pt-16xb64_in1k_20211124-6f40c188.pth
_base_ = [
    'mmpretrain::deit/deit-base_16xb64_in1k.py',
    './_base_/clamp_w4a8.py',
]

test_cfg = {{_base_.clamp_test_cfg}}

load_from = 'https://download.openmmlab.com/mmclassification/v0/deit/deit-base_3rdparty_pt-16xb64_in1k_20211124-6f40c188.pth'  # noqa: E501
