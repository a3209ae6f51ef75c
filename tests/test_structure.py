"""Package structure: no import circles, and the layers import downwards only (read from the source, not run)."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "yolo12l"

# package -> the yolo12l packages it may import at module level
ALLOWED = {
    "ops": {"errors"},
    "models": {"ops", "errors"},
    "losses": {"ops", "errors"},
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """yolo12l modules the module imports, at the top or lazily inside functions (a lazy import hides a circle
    from the interpreter, not from the design)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("yolo12l")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("yolo12l"):
                found.add(target)
                found |= {f"{target}.{a.name}" for a in node.names}
    return found


def graph() -> dict[str, set[str]]:
    mods = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: {t for t in imports_of(p) if t in mods and t != m} for m, p in mods.items()}


def test_no_import_cycles():
    g = graph()
    # a package's __init__ importing its own submodules is not a circle; drop parent -> child edges
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in g.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t] if t in stack else [m, t])
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


def test_layers_import_downwards():
    bad = []
    for m, targets in graph().items():
        parts = m.split(".")
        if len(parts) < 2 or parts[1] not in ALLOWED:
            continue
        for t in targets:
            sub = t.split(".")[1] if t.count(".") else ""
            if sub and sub != parts[1] and sub not in ALLOWED[parts[1]]:
                bad.append(f"{m} imports {t}")
    assert not bad, bad
