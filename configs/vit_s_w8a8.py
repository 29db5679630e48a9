# CLAMP-ViT W8/A8: ViT-S/16 (timm AugReg, in21k then in1k), 81.40 top-1 FP,
# ImageNet-1k.
#
#   python tools/quantize.py configs/vit_s_w8a8.py [CHECKPOINT] --fp
#
# The float recipe: configs/_base_/float/timm_augreg_vit_in1k.py.
_base_ = [
    './_base_/float/timm_augreg_vit_in1k.py',
    './_base_/clamp_w8a8.py',
]

model = dict(model_name='vit_small_patch16_224')

# The loop hands the timm model inside the TimmClassifier to the timm
# adapter (it picks the first child some adapter understands).
test_cfg = {{_base_.clamp_test_cfg}}

load_from = 'https://huggingface.co/timm/vit_small_patch16_224.augreg_in21k_ft_in1k/resolve/main/pytorch_model.bin'  # noqa: E501
