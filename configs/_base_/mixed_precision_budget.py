# The mixed-precision search space and budget shared by the clamp_*_mixed
# recipes: weights among 4..8 bits, activations among 6..8 bits, at most 5
# average weight bits and 7 average activation bits (about the operating
# points of the CLAMP-ViT release: DeiT-T W4.9/A6.2, Swin-T W5.5/A6.9).
clamp_mixed_precision = dict(
    weight_bit_choices=(4, 5, 6, 7, 8),
    activation_bit_choices=(6, 7, 8),
    avg_weight_bits=5.0,
    avg_activation_bits=7.0)
