"""The code's layout rules, checked on its source (issue 24): no module of qa takes another's
private name, qa's modules import each other without a cycle (imports inside functions count),
and the command line answers without loading the web framework."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "qa"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def imports_of(name: str, tree: ast.Module, known: dict[str, Path]) -> tuple[set[str], dict[str, str]]:
    """The qa modules a module imports (anywhere in it), and the local names bound to qa modules."""
    found, aliases = set(), {}
    package = name if known[name].name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    found.add(alias.name)
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else "qa"
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base not in known:
                continue
            found.add(base)
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    found.add(f"{base}.{alias.name}")
                    aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
    found.discard(name)
    return found, aliases


def private_names_taken() -> list[str]:
    known = modules()
    taken = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        _, aliases = imports_of(name, tree, known)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qa"):
                taken += [f"{name}: from {node.module} import {a.name}" for a in node.names if private(a.name)]
            elif isinstance(node, ast.Attribute) and private(node.attr):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                where = aliases.get(owner.id, owner.id) if isinstance(owner, ast.Name) else ast.unparse(owner)
                taken.append(f"{name}:{node.lineno}: {where}.{node.attr}")
    return taken


def import_cycles() -> list[list[str]]:
    known = modules()
    graph = {name: imports_of(name, ast.parse(path.read_text(encoding="utf-8")), known)[0]
             for name, path in known.items()}
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for following in sorted(graph[node]):
            if state.get(following) == "open":
                cycles.append(path[path.index(following):] + [following])
            elif following not in state:
                visit(following, path + [following])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return cycles


def test_no_module_takes_another_modules_private_name():
    assert private_names_taken() == []


def test_qas_modules_import_each_other_without_a_cycle():
    assert import_cycles() == []


def test_the_checks_see_what_they_look_for(tmp_path, monkeypatch):
    """A control: the same checks on a package that breaks both rules report both."""
    package = tmp_path / "qa"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("from qa.two import _hidden\n")
    (package / "two.py").write_text("def _hidden():\n    from qa import one\n    return one._secret\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert private_names_taken() == ["qa.one: from qa.two import _hidden", "qa.two:3: qa.one._secret"]
    assert import_cycles() == [["qa.one", "qa.two", "qa.one"]]


def test_the_command_line_answers_without_the_web_framework(built_index):
    """`qa ask`, `qa timeline` and `qa export` answer without importing FastAPI or Starlette."""
    script = (
        "import sys\n"
        "from qa.cli import main\n"
        f"index = {str(built_index)!r}\n"
        "for words in (['ask', 'What support did SMEs get?', '-k', '1', '--json'], ['timeline', '\"SMEs\"'],\n"
        "              ['export', '\"SMEs\"']):\n"
        "    assert main([*words, '--index', index]) == 0, words\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette', 'uvicorn'))\n"
        "print('LOADED', loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "LOADED []"
