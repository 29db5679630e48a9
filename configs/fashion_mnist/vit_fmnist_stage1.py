# A scaled-down ViT / DeiT-T (mmpretrain VisionTransformer) for Fashion-MNIST.
#
# Same structure as DeiT-T (mmpretrain::deit/deit-tiny_4xb256_in1k.py): patch
# embedding by a strided conv, class token, learned absolute position
# embedding, pre-norm blocks of multi-head self-attention and a GELU MLP
# (ratio 4), final LayerNorm, linear head on the class token. Only the sizes
# shrink: 32x32 inputs with patch 4 give an 8x8 token grid (DeiT-T: 14x14),
# and the widths and depth are cut so that training fits in 20 CPU minutes.
#
# Two stages (the shared 2-core machine was too loaded to run one schedule in
# the time budget): this config is stage 1, the first 2 epochs of a 6-epoch
# cosine schedule at a high learning rate; vit_fmnist.py (stage 2) loads its
# last checkpoint and anneals the learning rate over 2 more epochs.
#
# Stage 1: python tools/train_classifier.py \
#     configs/fashion_mnist/vit_fmnist_stage1.py \
#     --out work_dirs/vit_fmnist_stage1/fmnist_vit_stage1.pth
_base_ = [
    './_base_/runtime.py',
    './_base_/fashion_mnist_bs64.py',
    './_base_/adamw_cosine.py',
]

embed_dims = 64

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=embed_dims,
            num_layers=4,
            num_heads=2,
            feedforward_channels=4 * embed_dims),
        img_size=32,
        patch_size=4,
        drop_rate=0.0,
        drop_path_rate=0.0,
        with_cls_token=True,
        out_type='cls_token',
        final_norm=True),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead',
        num_classes=10,
        in_channels=embed_dims,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ],
)

# The first 2 epochs of a cosine planned for 6: T_max fixes the curve, and the
# run stops at epoch 2 (its full checkpoint, epoch_2.pth, starts stage 2).
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-2,
        by_epoch=True,
        end=0.25,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        # 6 epochs minus the warm-up, in iterations (938 per epoch at batch
        # 64) over the epoch length: 5.75 epochs, rounded as mmengine rounds
        # ``begin`` and ``end``.
        T_max=(6 * 938 - int(0.25 * 938)) / 938,
        eta_min=1e-5,
        by_epoch=True,
        begin=0.25,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=2, val_interval=2)
