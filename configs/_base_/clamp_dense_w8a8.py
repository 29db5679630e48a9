# CLAMP-ViT W8/A8 for detection and segmentation backbones.
_base_ = ['./clamp_dense_w4a8.py']

clamp_test_cfg = dict(recipe=dict(weight_bits=8, act_bits=8))
