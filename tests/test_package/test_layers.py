"""The package's layers: dependencies point inward, no import cycle."""
import import_graph

#: Each layer and the clamp_mm packages it must not import (anything above
#: it in README's layer map).
FORBIDDEN = {
    'clamp_mm.quant': ('clamp_mm.models', 'clamp_mm.synth',
                       'clamp_mm.search', 'clamp_mm.pipeline',
                       'clamp_mm.engine', 'clamp_mm.benchmark',
                       'clamp_mm.datasets'),
    'clamp_mm.models': ('clamp_mm.synth', 'clamp_mm.search',
                        'clamp_mm.pipeline', 'clamp_mm.engine',
                        'clamp_mm.benchmark'),
    'clamp_mm.synth': ('clamp_mm.search', 'clamp_mm.pipeline',
                       'clamp_mm.engine', 'clamp_mm.benchmark'),
    'clamp_mm.search': ('clamp_mm.pipeline', 'clamp_mm.engine',
                        'clamp_mm.benchmark'),
    # The run report reads what pipeline and loop leave; they call it.
    'clamp_mm.report': ('clamp_mm.pipeline', 'clamp_mm.engine',
                        'clamp_mm.benchmark'),
    'clamp_mm.pipeline': ('clamp_mm.engine', 'clamp_mm.benchmark'),
    'clamp_mm.engine': ('clamp_mm.benchmark', ),
}


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + '.')


def test_the_scan_sees_the_package():
    graph = import_graph.import_graph()
    # A scan that found nothing would pass every check below.
    assert 'clamp_mm.quant.api' in graph
    assert 'clamp_mm.models.base' in graph['clamp_mm.models']
    assert 'clamp_mm.quant.api' in graph['clamp_mm.models.base']


def test_no_layer_imports_a_layer_above_it():
    graph = import_graph.import_graph()
    offending = sorted(
        f'{module} imports {target}'
        for module, targets in graph.items()
        for layer, above in FORBIDDEN.items() if _inside(module, layer)
        for target in targets
        if any(_inside(target, package) for package in above))
    assert offending == []


def test_the_package_has_no_import_cycle():
    assert import_graph.cycles(import_graph.import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert import_graph.cycles(graph) == [['a', 'b', 'c']]
