# A scaled-down Swin-T (mmpretrain SwinTransformer) for Fashion-MNIST.
#
# Same structure as Swin-T (mmpretrain::swin_transformer/
# swin-tiny_16xb64_in1k.py): patch-4 embedding with LayerNorm, stages of
# window attention with relative position bias where every second block
# shifts its windows (masked attention across the wrap-around), patch merging
# (2x2 neighbours -> LayerNorm -> linear, halving the grid and doubling the
# width) between stages, global average pooling and a linear head. Head width
# 32 per head as in Swin-T.
#
# Window sizes for an 8x8 token grid (32x32 input, patch 4):
# - stage 1, 8x8 tokens, window 4: 2x2 windows, regular and shifted blocks, as
#   in Swin-T's first three stages;
# - stage 2, 4x4 tokens, window 4: one window, and mmpretrain drops the shift
#   when the window covers the map, as in Swin-T's last stage (7x7, window 7);
# - stage 3, 2x2 tokens: window 2 (a window larger than the map would need
#   padding), again one unshifted window.
# Three stages instead of four: a fourth would see a 1x1 map.
#
# Train: python tools/train_classifier.py configs/fashion_mnist/swin_fmnist.py
_base_ = [
    './_base_/runtime.py',
    './_base_/fashion_mnist_bs64.py',
    './_base_/adamw_cosine.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SwinTransformer',
        arch=dict(embed_dims=32, depths=[2, 2, 2], num_heads=[1, 2, 4]),
        img_size=32,
        patch_size=4,
        window_size=4,
        stage_cfgs=[dict(), dict(), dict(window_size=2)],
        drop_rate=0.0,
        drop_path_rate=0.0,
        out_indices=(2, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ],
)

train_cfg = dict(max_epochs=5, val_interval=5)
