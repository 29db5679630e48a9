# CLAMP-ViT quantization recipe, W8/A8 (see clamp_w4a8.py for the use).
_base_ = ['./clamp_w4a8.py']

clamp_test_cfg = dict(recipe=dict(weight_bits=8, act_bits=8))
