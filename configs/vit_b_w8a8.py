# CLAMP-ViT W8/A8: ViT-B/16 (timm AugReg, in21k then in1k), 84.53 top-1 FP, the
# paper's ViT-B, ImageNet-1k.
#
#   python tools/quantize.py configs/vit_b_w8a8.py [CHECKPOINT] --fp
#
# mmpretrain ships no ViT-S and its ViT-B runs at 384 px, so the model is
# timm's vit_base_patch16_224.augreg_in21k_ft_in1k wrapped in mmpretrain's TimmClassifier
# (timm-layout checkpoints load into it as they are). Float checkpoint:
#   https://huggingface.co/timm/vit_base_patch16_224.augreg_in21k_ft_in1k/resolve/main/pytorch_model.bin
# The ImageNet pipeline and evaluator come from mmpretrain's DeiT-S config;
# only the model and timm's evaluation transform (crop 0.9, inception
# normalisation) change.
_base_ = [
    'mmpretrain::deit/deit-small_4xb256_in1k.py',
    './_base_/clamp_w8a8.py',
]

model = dict(
    _delete_=True,
    type='TimmClassifier',
    model_name='vit_base_patch16_224',
    pretrained=False,
    num_classes=1000)

# AugReg ViTs are trained on images normalised to [-1, 1].
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])

test_pipeline = [
    dict(type='LoadImageFromFile'),
    # 224 / 0.9: timm's crop_pct for these models.
    dict(type='ResizeEdge', scale=248, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

# The loop hands the timm model inside the TimmClassifier to the timm
# adapter (it picks the first child some adapter understands).
test_cfg = {{_base_.clamp_test_cfg}}

load_from = 'https://huggingface.co/timm/vit_base_patch16_224.augreg_in21k_ft_in1k/resolve/main/pytorch_model.bin'  # noqa: E501
