"""Per-layer overrides written as text, as ``--cfg-options`` passes them.

mmengine's ``DictAction`` has no syntax for a dict value, so
``test_cfg.recipe.overrides="{'blocks.11.*': dict(weight_bits=8)}"`` reaches
the recipe as a string. It is read here with a tiny safe evaluator: dict
displays, ``dict(key=value)`` calls, strings and ints only; nothing is
executed.
"""
import ast
from typing import Any

#: How overrides are written on the command line.
OVERRIDES_EXAMPLE = "{'blocks.11.*': dict(weight_bits=8, act_bits=8)}"


def _value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(
            node.value, (str, int, float, bool)):
        return node.value
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise ValueError('** inside a dict')
        return {_value(key): _value(item)
                for key, item in zip(node.keys, node.values)}
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and not node.args
            and all(keyword.arg for keyword in node.keywords)):
        return {keyword.arg: _value(keyword.value)
                for keyword in node.keywords}
    raise ValueError(f'unsupported expression {ast.dump(node)[:40]}')


def parse_overrides_text(text: str) -> dict:
    """Read overrides given as text.

    Args:
        text (str): E.g. ``"{'blocks.11.*': dict(weight_bits=8)}"``.

    Returns:
        dict: Pattern -> settings.

    Raises:
        ValueError: One line naming the text and the expected form.
    """
    try:
        value = _value(ast.parse(text.strip(), mode='eval').body)
    except (SyntaxError, ValueError):
        value = None
    if not isinstance(value, dict):
        raise ValueError(f'overrides is {text!r}, expected a dict of '
                         'module-name pattern -> dict(weight_bits=..., '
                         f'act_bits=...), e.g. {OVERRIDES_EXAMPLE}')
    return value
