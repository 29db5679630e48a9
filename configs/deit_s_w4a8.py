# CLAMP-ViT W4/A8: DeiT-S, mmpretrain weights, 80.69 top-1 FP (the paper
# quantizes the official DeiT-S, 79.85), ImageNet-1k.
#
#   python tools/quantize.py configs/deit_s_w4a8.py [CHECKPOINT] --fp
#
# Float checkpoint (the default load_from; download it once and pass the
# local path as CHECKPOINT where the machine has no internet):
#   https://download.openmmlab.com/mmclassification/v0/deit/deit-small_pt-4xb256_in1k_20220218-9425b9bb.pth
_base_ = [
    'mmpretrain::deit/deit-small_4xb256_in1k.py',
    './_base_/clamp_w4a8.py',
]

test_cfg = {{_base_.clamp_test_cfg}}

load_from = 'https://download.openmmlab.com/mmclassification/v0/deit/deit-small_pt-4xb256_in1k_20220218-9425b9bb.pth'  # noqa: E501
