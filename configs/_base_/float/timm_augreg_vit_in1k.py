# Float recipe shared by the ViT-S/B configs: a timm AugReg ViT (in21k then
# in1k) wrapped in mmpretrain's TimmClassifier, on ImageNet-1k.
#
# mmpretrain ships no ViT-S and its ViT-B runs at 384 px, hence timm's
# models (timm-layout checkpoints load into TimmClassifier as they are). The
# ImageNet pipeline and evaluator come from mmpretrain's DeiT-S config; only
# the model and timm's evaluation transform (crop 0.9, inception
# normalisation) change. A config that inherits this sets
# model.model_name and load_from.
_base_ = ['mmpretrain::deit/deit-small_4xb256_in1k.py']

model = dict(
    _delete_=True,
    type='TimmClassifier',
    model_name='vit_small_patch16_224',
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
