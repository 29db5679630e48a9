# A timm VisionTransformer for Fashion-MNIST, built by timm itself (not by
# mmpretrain's backbone): the model a user brings from timm. mmpretrain's
# TimmClassifier only wraps it for the Runner (data preprocessor, loss); the
# quantizers see the timm model inside it (clamp_mm's timm-vit adapter, the
# same one that quantizes timm DeiT/ViT checkpoints).
#
# Shape (the one issue 13 reports its W4/A4 figures on): embed 96, depth 6,
# 3 heads (head width 32, as DeiT-T and ViT-S), MLP ratio 3 (not 4), patch 4
# on 32x32 inputs (8x8 tokens + class token), 10 classes, class-token
# pooling, pre-norm blocks, final LayerNorm. About 0.5 M parameters.
#
# Trained on the 55,000 training images of 'train55k' only: the 5,000 of
# 'val' stay unseen, so choices made on them (quantizer defaults) are fair
# for this model; the 10k test images score it once at the end.
#
# Train: python tools/train_classifier.py configs/fashion_mnist/timm_vit_fmnist.py
#        (-> checkpoints/fmnist_timm_vit.pth)
_base_ = [
    './_base_/runtime.py',
    './_base_/fashion_mnist_val_split.py',
    './_base_/adamw_cosine.py',
]

model = dict(
    type='TimmClassifier',
    # Any timm ViT name: every size below overrides it.
    model_name='vit_tiny_patch16_224',
    pretrained=False,
    img_size=32,
    patch_size=4,
    embed_dim=96,
    depth=6,
    num_heads=3,
    mlp_ratio=3.0,
    num_classes=10,
    drop_rate=0.0,
    drop_path_rate=0.0,
    # The Fashion-MNIST normalisation on timm's 0..1 scale (72.79 / 255,
    # 86.29 / 255): clamp_mm's timm adapter reads the model's
    # pretrained_cfg to normalise calibration and test images.
    pretrained_cfg_overlay=dict(
        mean=(72.79 / 255, ) * 3, std=(86.29 / 255, ) * 3),
    loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
)

train_cfg = dict(max_epochs=2, val_interval=2)
