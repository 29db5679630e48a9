# CLAMP-ViT W4/A8 for COCO detectors: images synthesized at the test size,
# 800 x 1333 padded to mmdet's 32-pixel multiple.
_base_ = ['./clamp_dense_w4a8.py']

clamp_test_cfg = dict(resolution=(800, 1344))
