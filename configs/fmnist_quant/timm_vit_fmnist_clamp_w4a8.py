# CLAMP-ViT W4/A8 on the Fashion-MNIST timm VisionTransformer (embed 96,
# depth 6, 3 heads, MLP ratio 3): the project's real-data ground (no
# ImageNet here). Same recipe as the ImageNet configs, method.md defaults;
# evaluated by mmpretrain's Accuracy on the 10k test set.
#
#   python tools/quantize.py configs/fmnist_quant/timm_vit_fmnist_clamp_w4a8.py --fp
_base_ = [
    '../fashion_mnist/timm_vit_fmnist.py',
    '../_base_/clamp_w4a8.py',
]

# The loop hands the timm model inside the TimmClassifier to the timm
# adapter (it picks the first child some adapter understands).
test_cfg = {{_base_.clamp_test_cfg}}

# Trained by tools/train_classifier.py configs/fashion_mnist/timm_vit_fmnist.py
load_from = 'checkpoints/fmnist_timm_vit.pth'
