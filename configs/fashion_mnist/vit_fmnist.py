# The shipped ViT classifier (checkpoints/fmnist_vit.pth): stage 2 of the
# recipe. The model is the one of vit_fmnist_stage1.py (a scaled-down
# DeiT-T/ViT, see there); this stage loads the stage-1 weights, warms up for a
# tenth of an epoch (fresh AdamW state) to about the learning rate stage 1
# ended at, then cosine-anneals to 1e-5 over 2 epochs.
#
# Stage 1: python tools/train_classifier.py \
#     configs/fashion_mnist/vit_fmnist_stage1.py \
#     --out work_dirs/vit_fmnist_stage1/fmnist_vit_stage1.pth
# Stage 2: python tools/train_classifier.py configs/fashion_mnist/vit_fmnist.py
_base_ = ['./vit_fmnist_stage1.py']

# Stage 1's full checkpoint after its 2 epochs.
load_from = 'work_dirs/vit_fmnist_stage1/epoch_2.pth'

optim_wrapper = dict(optimizer=dict(lr=1.5e-3))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-2,
        by_epoch=True,
        end=0.1,
        convert_to_iter_based=True),
    # ``end`` defaults to train_cfg.max_epochs.
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=0.1,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=2, val_interval=2)
