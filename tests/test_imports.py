"""The package has no import circles: each module's imports at load time (and those only for
type hints) form a graph without cycles, so every module can be read and loaded on its own."""

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1] / "imfcodec"


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict) -> set[str]:
    """Modules of the package that ``name`` imports at its top level (type-only included)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    nodes = list(ast.parse(path.read_text()).body)
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks count too
            nodes.extend(node.body)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level \
                else []
            target = ".".join(base + ([node.module] if node.module else []))
            subs = {f"{target}.{a.name}" for a in node.names} & set(modules)
            # `from . import sub` loads the submodule; `from .mod import x` loads mod
            found.update(subs if subs and len(subs) == len(node.names) else {target} | subs)
    return {m for m in found if m in modules and m != name}


def test_no_module_imports_itself_through_others():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    circles = []

    def walk(start: str, node: str, path: list[str]) -> None:
        for nxt in graph[node]:
            if nxt == start:
                circles.append(" -> ".join(path + [start]))
            elif nxt not in path and nxt > start:  # each circle once, from its least module
                walk(start, nxt, path + [nxt])

    for name in graph:
        walk(name, name, [name])
    assert not circles, circles


def test_the_codec_never_imports_the_training_code():
    """Only imfcodec/train/ imports imfcodec.train, anywhere in a module (inside functions
    too): the command line loads the training commands by name (cli/app.py, COMMANDS)."""
    found = []
    for name, path in _modules().items():
        if name == "imfcodec.train" or name.startswith("imfcodec.train."):
            continue
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] \
                    if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                targets = [module] + [f"{module}.{a.name}" for a in node.names]
            else:
                continue
            if any(t == "imfcodec.train" or t.startswith("imfcodec.train.") for t in targets):
                found.append(f"{name}:{node.lineno}")
    assert not found, found
