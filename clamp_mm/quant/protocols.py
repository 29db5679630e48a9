"""Quant-point protocols: which quant points a figure quantizes.

Every accuracy figure names its protocol, so that it can be compared with
the papers':

``'linear'``
    The inputs of every Linear and Conv2d (weights and activations, the
    post-GELU fc2 input and the attention projection input included) and
    the operands of the two attention matmuls (q, k; softmax, v) at the
    setting's bits. The residual stream (block outputs, LayerNorm inputs)
    and the pre-softmax scores stay float. What RepQ-ViT and PTQ4ViT
    quantize.
``'full'``
    Also the block outputs (the LayerNorm inputs) and the scores before
    softmax: every quant point, as FQ-ViT quantizes (its log-int-softmax
    and integer LayerNorm included).
"""
from typing import Dict, Tuple

#: Quant points of each protocol.
PROTOCOLS: Dict[str, Tuple[str, ...]] = {
    'linear': ('weight', 'input', 'q', 'k', 'v', 'softmax', 'attn_output',
               'post_gelu'),
    'full': ('weight', 'input', 'q', 'k', 'v', 'score', 'softmax',
             'attn_output', 'post_gelu', 'block_output'),
}
