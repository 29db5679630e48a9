# A deeper, narrower mmpretrain VisionTransformer for Fashion-MNIST, with
# another MLP ratio than the ViT of vit_fmnist_stage1.py: embed 48, depth 8,
# 3 heads (head width 16), MLP ratio 2 (feed-forward 96), patch 4 on 32x32
# inputs, class token, final LayerNorm, linear head. About 0.15 M
# parameters: twice the blocks of the ViT at three quarters of its width,
# so quantization errors have more blocks to add up over.
#
# Trained on the 55,000 training images of 'train55k' only (the 5,000 of
# 'val' held out for choices); the 10k test images score it once at the end.
#
# Train: python tools/train_classifier.py configs/fashion_mnist/vit_deep_fmnist.py
#        (-> checkpoints/fmnist_vit_deep.pth)
_base_ = [
    './_base_/runtime.py',
    './_base_/fashion_mnist_val_split.py',
    './_base_/adamw_cosine.py',
]

embed_dims = 48

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=embed_dims,
            num_layers=8,
            num_heads=3,
            feedforward_channels=2 * embed_dims),
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

train_cfg = dict(max_epochs=4, val_interval=4)
