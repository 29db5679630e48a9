# CLAMP-ViT W8/A8 for COCO detectors.
_base_ = ['./clamp_coco_w4a8.py']

clamp_test_cfg = dict(recipe=dict(weight_bits=8, act_bits=8))
