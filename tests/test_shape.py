"""The code stays easy to live in (issue 51): short functions, classes with few pieces of
state. Read from the source with ast, as the import test reads imports."""

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1] / "imfcodec"
MAX_FUNCTION_LINES = 60
MAX_STATE = 12  # attributes a class sets on self (its mutable state)
# the frame loop shared by files and live streams, kept smaller still
SMALLER = {"FrameLoop": 8}


def _trees():
    for path in sorted(ROOT.rglob("*.py")):
        yield path.relative_to(ROOT.parent), ast.parse(path.read_text())


def test_no_function_is_over_60_lines():
    long = [f"{path}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path, tree in _trees() for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, long


def _state(cls: ast.ClassDef) -> set[str]:
    return {node.attr for node in ast.walk(cls)
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name) and node.value.id == "self"}


def test_no_class_holds_more_than_12_pieces_of_state():
    large = [f"{path}:{node.lineno} {node.name} ({len(_state(node))})"
             for path, tree in _trees() for node in ast.walk(tree)
             if isinstance(node, ast.ClassDef)
             and len(_state(node)) > SMALLER.get(node.name, MAX_STATE)]
    assert not large, large


def test_the_state_count_sees_attributes_set_anywhere_in_a_class():
    cls = ast.parse("class A:\n def __init__(self):\n  self.a = self.b = 1\n"
                    " def f(self):\n  self.c, x = 2, 3\n  y.d = 4\n").body[0]
    assert _state(cls) == {"a", "b", "c"}
