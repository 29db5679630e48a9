# CLAMP-ViT mixed precision: DeiT-T, mmpretrain weights, 74.50 top-1 FP (the
# paper quantizes the official DeiT-T, 72.21), ImageNet-1k.
#
#   python tools/quantize.py configs/deit_t_mixed.py [CHECKPOINT] --fp
#
# Float checkpoint (the default load_from; download it once and pass the
# local path as CHECKPOINT where the machine has no internet):
#   https://download.openmmlab.com/mmclassification/v0/deit/deit-tiny_pt-4xb256_in1k_20220218-13b382a0.pth
_base_ = [
    'mmpretrain::deit/deit-tiny_4xb256_in1k.py',
    './_base_/clamp_mixed.py',
]

test_cfg = {{_base_.clamp_test_cfg}}

load_from = 'https://download.openmmlab.com/mmclassification/v0/deit/deit-tiny_pt-4xb256_in1k_20220218-13b382a0.pth'  # noqa: E501
