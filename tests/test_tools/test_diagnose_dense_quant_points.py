"""tools/diagnose_dense_quant_points.py: bad input and the held-out scenes."""
import importlib.util
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'diagnose_dense', osp.join(REPO, 'tools',
                                   'diagnose_dense_quant_points.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('argv, shown', [
    (['upernet', '--data-dir', 'data/composite'], 'that is the test build'),
    (['upernet', '--data-dir', 'no/such/folder'], 'no such folder'),
    (['upernet', '--data-dir', '.', '--num-images', '0'],
     '--num-images 0: expected >= 1'),
    (['vit', '--data-dir', '.'], "invalid choice: 'vit'"),
    (['upernet', '--data-dir', '.', '--rows', 'A8 nothing'],
     "invalid choice: 'A8 nothing'"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys,
                                                  monkeypatch, argv, shown):
    monkeypatch.chdir(REPO)
    out = tmp_path / 'rows.jsonl'
    with pytest.raises(SystemExit) as exit_info:
        load_tool().main(argv + ['--out', str(out)])
    assert exit_info.value.code == 2
    assert shown in capsys.readouterr().err.strip().splitlines()[-1]
    assert not out.exists()


def test_rows_are_valid_and_distinct_recipes():
    """Every row builds a recipe and no two rows quantize alike (a row that
    silently equals another would report a false 'no effect')."""
    from clamp_mm.quant import QuantRecipe
    recipes = [QuantRecipe.from_dict(dict(dict(weight_bits=4, act_bits=4),
                                          **fields)).to_dict()
               for fields in load_tool().ROWS.values()]
    assert all(recipes.count(recipe) == 1 for recipe in recipes)


def test_dense_task_scores_another_build_and_calibrates_on_the_config(
        tmp_path):
    """DenseTask(data_dir=...) reads the validation scenes (and, for COCO,
    the annotations) of the other build; the calibration scenes stay the
    config's training set."""
    from clamp_mm.benchmark.tasks import MODEL_SPECS, DenseTask
    for key in ('mask_rcnn', 'upernet'):
        spec = MODEL_SPECS[key]
        default = DenseTask(spec)
        moved = DenseTask(spec, data_dir=str(tmp_path))
        test_root = moved.config.test_dataloader.dataset.data_root
        assert test_root.startswith(str(tmp_path)), key
        assert moved.config.train_dataloader.dataset.data_root == \
            default.config.train_dataloader.dataset.data_root
        if 'ann_file' in moved.config.test_evaluator:
            assert moved.config.test_evaluator.ann_file.startswith(
                str(tmp_path))
