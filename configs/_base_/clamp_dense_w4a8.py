# CLAMP-ViT W4/A8 for detection and segmentation backbones.
#
# Only the backbone is quantized (recipe scope 'backbone', the protocol of
# the papers); necks and heads stay float. Images are synthesized at the
# model's input size: the mmseg data preprocessor's crop size (ADE20K
# 512 x 512); COCO detectors use clamp_coco_*.py, which set the test size.
# Smaller batches than classification, to fit detector-size images.
_base_ = ['./clamp_w4a8.py']

clamp_test_cfg = dict(
    recipe=dict(scope='backbone', quantize_head=False),
    generator=dict(batch_size=8),
    # Observer calibration (calibrator=None) in chunks of this many images.
    calibration_batch_size=4)
