# A scaled-down distilled DeiT (mmpretrain DistilledVisionTransformer) for
# Fashion-MNIST.
#
# Why this model for the DeiT family: it is the DeiT-T-distilled structure
# (mmpretrain::deit/deit-tiny-distilled_4xb256_in1k.py), i.e. the ViT of
# vit_fmnist.py plus a second extra token, the distillation token, with its
# own linear head; the classifier (DeiTClsHead) averages the class-token and
# distillation-token scores. A quantizer must therefore drop 2 extra tokens,
# not 1, when it reads the patch grid, and quantize two heads. The plain DeiT-T
# (no distillation token) is architecturally the ViT of vit_fmnist.py.
#
# Training differs from DeiT's, for two reasons:
# - mmpretrain has no teacher loss, so both heads learn from the labels
#   (DeiTClsHead warns once that it "cannot train the distilled version"; the
#   averaged score is what the cross-entropy sees);
# - on the shared 2-core machine a second from-scratch ViT run did not fit in
#   the time budget, so the DeiT starts from the trained ViT
#   (checkpoints/fmnist_vit.pth; ``init_from_vit`` below:
#   tools/train_classifier.py copies every ViT weight and widens the position
#   embedding by one row for the distillation token; the distillation token
#   and its head keep their fresh initialisation, so the two tokens differ)
#   and is fine-tuned for one epoch.
# Quantization only needs the trained float model, so neither matters for
# what the project measures; the architecture is DeiT-T's.
#
# Train (after the ViT, vit_fmnist.py):
#     python tools/train_classifier.py configs/fashion_mnist/deit_fmnist.py
# The ViT's stage-2 recipe (data, runtime, warm-up + cosine) with another
# model, one epoch and a lower learning rate.
_base_ = ['./vit_fmnist.py']

embed_dims = 64

model = dict(
    _delete_=True,
    type='ImageClassifier',
    backbone=dict(
        type='DistilledVisionTransformer',
        arch=dict(
            embed_dims=embed_dims,
            num_layers=4,
            num_heads=2,
            feedforward_channels=4 * embed_dims),
        img_size=32,
        patch_size=4,
        drop_rate=0.0,
        drop_path_rate=0.0,
        out_type='cls_token',
        final_norm=True),
    neck=None,
    head=dict(
        type='DeiTClsHead',
        num_classes=10,
        in_channels=embed_dims,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ],
)

# Read by tools/train_classifier.py: warm start from the trained ViT, whose
# checkpoint does not fit this model as it is (see above).
load_from = None
init_from_vit = 'checkpoints/fmnist_vit.pth'

optim_wrapper = dict(optimizer=dict(lr=5e-4))
train_cfg = dict(max_epochs=1, val_interval=1)
