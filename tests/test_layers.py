"""The code's shape, checked: the import layers and cycles (import-linter, contracts in
pyproject.toml) and the length of every function in src/."""
import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
MAX_FUNCTION_LINES = 80


def test_import_contracts_hold():
    """Layers (core at the bottom ... web, bench and cli at the top) and no cycles between
    sibling modules; a violation or a cycle fails with import-linter's report."""
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([str(lint), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


def test_no_function_in_src_is_longer_than_80_lines():
    """Every function and method (decorators excluded, docstring included) fits in 80 lines."""
    long = []
    for path in sorted((SRC / "headforge").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions over 80 lines:\n" + "\n".join(long)


def test_every_script_imports():
    """The scripts are not run by the suite: at least what they import must exist (a module
    moved in src/ breaks them silently otherwise). Blender's own scripts need its bpy."""
    scripts = [p for p in sorted((ROOT / "scripts").glob("*.py")) if "import bpy" not in p.read_text()]
    code = ("import importlib.util, sys\n"
            "for path in sys.argv[1:]:\n"
            "    spec = importlib.util.spec_from_file_location('script', path)\n"
            "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n")
    done = subprocess.run([sys.executable, "-c", code, *map(str, scripts)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(scripts) >= 14
