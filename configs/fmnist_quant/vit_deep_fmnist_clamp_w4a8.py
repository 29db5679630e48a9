# CLAMP-ViT W4/A8 on the deeper, narrower Fashion-MNIST ViT (mmpretrain
# VisionTransformer, embed 48, depth 8, 3 heads, MLP ratio 2): the project's
# real-data ground (no ImageNet here). Same recipe as the ImageNet configs,
# method.md defaults; evaluated by mmpretrain's Accuracy on the 10k test set.
#
#   python tools/quantize.py configs/fmnist_quant/vit_deep_fmnist_clamp_w4a8.py --fp
_base_ = [
    '../fashion_mnist/vit_deep_fmnist.py',
    '../_base_/clamp_w4a8.py',
]

test_cfg = {{_base_.clamp_test_cfg}}

# Trained by tools/train_classifier.py configs/fashion_mnist/vit_deep_fmnist.py
load_from = 'checkpoints/fmnist_vit_deep.pth'
