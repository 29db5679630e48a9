# CLAMP-ViT quantization recipe, W4/A8, with the defaults of docs/method.md.
#
# A quantization config inherits the task's float recipe and one of the
# clamp_*.py recipes of this folder, then makes the recipe its test loop:
#
#   _base_ = ['mmpretrain::deit/deit-tiny_4xb256_in1k.py',
#             './_base_/clamp_w4a8.py']
#   test_cfg = {{_base_.clamp_test_cfg}}
#
# (The float bases already define test_cfg, and mmengine refuses a key
# defined by two bases: hence a named variable, substituted in the config.)

# Stage 1 (method.md section 2): patch-contrastive synthesis, 32 images,
# Adam lr 0.2 (0.25 for Swin), 500 iterations, 100 warm-up, TV 0.05.
clamp_generator = dict(
    type='clamp_mm.ClampGenerator',
    batch_size=32,
    iterations=500,
    kernel_size=3,
    num_positives=4,
    temperature=0.2)

# Stage 2 (method.md sections 3-4): layer-wise evolutionary search with the
# local contrastive fitness and cyclic adaptation of the images.
clamp_calibrator = dict(
    type='clamp_mm.EvolutionaryCalibrator',
    population_size=15,
    tournament_size=10,
    passes=10,
    cycles=6,
    cyclic_adaptation=True)

clamp_test_cfg = dict(
    type='clamp_mm.QuantTestLoop',
    # Per-channel asymmetric weights, per-tensor activations, every
    # attention quant point, head in float (method.md section 1).
    recipe=dict(weight_bits=4, act_bits=8),
    generator=clamp_generator,
    num_images=32,
    # None: the model's input size. Dense configs set the test resolution.
    resolution=None,
    calibrator=clamp_calibrator,
    # tools/quantize.py --fp sets this: FP beside quantized in one run.
    evaluate_fp=False)
