# A scaled-down ViT / DeiT-T (mmpretrain VisionTransformer) for Fashion-MNIST.
#
# Same structure as DeiT-T (mmpretrain::deit/deit-tiny_4xb256_in1k.py): patch
# embedding by a strided conv, class token, learned absolute position
# embedding, pre-norm blocks of multi-head self-attention and a GELU MLP
# (ratio 4), final LayerNorm, linear head on the class token. Only the sizes
# shrink: 32x32 inputs with patch 4 give an 8x8 token grid (DeiT-T: 14x14),
# and the widths and depth are cut so that training fits in 20 CPU minutes.
#
# Train: python tools/train_classifier.py configs/fashion_mnist/vit_fmnist.py
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

train_cfg = dict(max_epochs=6, val_interval=6)
