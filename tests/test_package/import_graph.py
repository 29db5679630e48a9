"""The static import graph of the clamp_mm package (every ``import``
statement, at module level or inside a function)."""
import ast
import os
import os.path as osp
from typing import Dict, List, Set

PACKAGE_ROOT = osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'clamp_mm')


def module_files(root: str = PACKAGE_ROOT) -> Dict[str, str]:
    """Dotted module name -> file, for every .py file under ``root``."""
    base = osp.dirname(root)
    modules = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith('.py'):
                continue
            path = osp.join(folder, name)
            dotted = osp.relpath(path, base)[:-3].replace(os.sep, '.')
            if dotted.endswith('.__init__'):
                dotted = dotted[:-len('.__init__')]
            modules[dotted] = path
    return modules


def _absolute(module: str, is_package: bool, level: int,
              target: str) -> str:
    if level == 0:
        return target
    parts = module.split('.')
    if not is_package:
        parts = parts[:-1]
    parts = parts[:len(parts) - (level - 1)]
    return '.'.join(parts + ([target] if target else []))


def imports_of(module: str, path: str, known: Set[str]) -> Set[str]:
    """The clamp_mm modules ``module`` imports (a name imported from a
    package counts as its sub-module when there is one)."""
    tree = ast.parse(open(path, encoding='utf-8').read(), path)
    is_package = path.endswith('__init__.py')
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, is_package, node.level,
                               node.module or '')
            names = [source]
            names += [f'{source}.{alias.name}' for alias in node.names]
        else:
            continue
        for name in names:
            if name in known:
                found.add(name)
    found.discard(module)
    return found


def import_graph(root: str = PACKAGE_ROOT) -> Dict[str, Set[str]]:
    """Module -> the clamp_mm modules it imports."""
    files = module_files(root)
    known = set(files)
    return {module: imports_of(module, path, known)
            for module, path in files.items()}


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components
