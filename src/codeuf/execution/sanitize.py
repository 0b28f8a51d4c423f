"""The code a response submits: the fenced block that defines the function under test (or the raw text), with
its imports and the helpers it uses, and nothing else; or why a response holds no Python to run."""

from __future__ import annotations

import ast
import re

_TAGS = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n")
_PYTHON_TAGS = {"", "python", "py", "python3", "pycon"}

CODE_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


def _parseable_prefix(code: str) -> ast.Module | None:
    lines = code.splitlines()
    for end in range(len(lines), 0, -1):
        try:
            return ast.parse("\n".join(lines[:end]))
        except SyntaxError:
            continue
    return None


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def sanitize(text: str, entry_point: str) -> str:
    """The code a sample really submits: from the fenced block that defines the entry point (or the
    raw text), keep imports, the entry point and the functions, classes and constants it uses; drop
    everything else (tests, prints, chatter), so that stray code can neither break nor fake a pass."""
    blocks = CODE_FENCE.findall(text) or [text]
    defining = [b for b in blocks if re.search(rf"\bdef\s+{re.escape(entry_point)}\s*\(", b)]
    code = max(defining or blocks, key=len)
    tree = _parseable_prefix(code)
    if tree is None:
        return code
    definitions: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            definitions[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    definitions[target.id] = node
    if entry_point not in definitions:
        return ast.unparse(tree)
    keep: set[int] = set()
    todo = [entry_point]
    while todo:
        name = todo.pop()
        node = definitions.get(name)
        if node is None or id(node) in keep:
            continue
        keep.add(id(node))
        todo.extend(_names_used(node) & definitions.keys())
    kept = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)) or id(n) in keep]
    return "\n\n".join(ast.unparse(n) for n in kept) + "\n"


def response_code(text: str, entry_point: str | None) -> tuple[str | None, str]:
    """(code, "") for the Python a response submits, or (None, why it is not executed)."""
    tags = {t.lower() for t in _TAGS.findall(text)}
    if tags and not tags & _PYTHON_TAGS:
        return None, f"no Python code (code blocks in {', '.join(sorted(tags))})"
    if not text.strip():
        return None, "empty response"
    if entry_point:
        code = sanitize(text, entry_point)
    else:
        blocks = CODE_FENCE.findall(text)
        code = max(blocks, key=len) if blocks else text
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        if not tags:
            return None, "no code"
        return code, f"syntax error: {exc.msg}"
    if not tags and not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom,
                                           ast.AsyncFunctionDef)) for n in tree.body):  # fmt: skip
        return None, "no code"
    return code, ""
