"""tools/reconstruction_ablation.py: bad options exit 2 with one line,
nothing written."""
import importlib.util
import os.path as osp
import sys

import pytest

TOOL = osp.join(osp.dirname(osp.dirname(osp.dirname(__file__))), 'tools',
                'reconstruction_ablation.py')


def _tool():
    spec = importlib.util.spec_from_file_location('reconstruction_ablation',
                                                  TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('option, value, words', [
    ('--reconstruction', '{"drop_prob": 2}',
     'drop_prob must be in [0, 1], got 2'),
    ('--reconstruction', '{"iterations": -5}',
     'iterations must be an int >= 0, got -5'),
    ('--reconstruction', '{"iters": 5}', "unknown field(s) ['iters']"),
    ('--reconstruction', '[1]', 'is not a JSON dict'),
    ('--quantizer', '{"preset": "nope"}', 'preset must be one of'),
    ('--quantizer', '{"protocol": "half"}', 'protocol must be one of'),
    ('--quantizer', '{"bits": 4}', "unknown QuantRecipe field(s) ['bits']"),
    ('--quantizer', '{"act_bits": 8}', 'act_bits comes from --settings'),
    ('--quantizer', '"linear"', 'is not a JSON dict'),
])
def test_bad_options(tmp_path, capsys, option, value, words):
    out = tmp_path / 'out.jsonl'
    with pytest.raises(SystemExit) as exit_info:
        _tool().main([option, value, '--out', str(out)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert words in error and '\n' not in error
    assert option in error
    assert not out.exists()


def test_quantizer_fields_reach_the_recipe():
    """The observer model is quantized with the given protocol: under the
    default ('full') the block outputs and scores are quantized, under
    'linear' they are not, and the bits come from the setting."""
    import re

    import torch

    from clamp_mm.quant import iter_quantizers
    sys.path.insert(0, osp.join(osp.dirname(osp.dirname(__file__)),
                                'test_search'))
    from search_models import build_tiny
    tool = _tool()
    model, _ = build_tiny('timm_vit')
    images = torch.rand(2, 3, 32, 32)
    residual = re.compile(r'blocks\.\d+\.(output|attn\.score)_quantizer$')

    def quantizers(fields):
        quantized, _ = tool.observer_model(model, 'W3/A4', images, 0, fields)
        return dict(iter_quantizers(quantized))

    full = quantizers({})
    linear = quantizers({'preset': 'clamp_data_free_linear'})
    assert sorted(n for n in full if residual.search(n)) == [
        'blocks.0.attn.score_quantizer', 'blocks.0.output_quantizer',
        'blocks.1.attn.score_quantizer', 'blocks.1.output_quantizer']
    assert not [n for n in linear if residual.search(n)]
    assert linear['blocks.0.attn.qkv.weight_quantizer'].bits == 3
    assert linear['blocks.0.attn.output_quantizer'].bits == 4
