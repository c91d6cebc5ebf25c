"""Imports flow one way: each layer imports only itself and the layers below it.

``spaces`` <- ``methods`` <- ``search`` / ``callbacks`` / ``datamodules`` <- ``report`` / ``cli``, with
``selection`` (pure data-selection algorithms) and ``benchmarks`` (ground truth, rank consistency) as leaves that
import nothing above them. Each layer is imported, with every one of its submodules, in a fresh interpreter, and the
modules it pulled in are checked; a second test reads the source and refuses a function-level import of a higher
layer (the usual way a cycle is hidden).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import lightning_nas

# Lowest layer first. A module belongs to the first prefix that matches it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "lightning_nas.checks",
            "lightning_nas.registry",
            "lightning_nas.data",
            "lightning_nas.hessian",
            "lightning_nas.selection",
        ),
    ),
    ("spaces", ("lightning_nas.spaces",)),
    ("benchmarks", ("lightning_nas.benchmarks",)),
    ("methods", ("lightning_nas.methods", "lightning_nas.baseline", "lightning_nas.embeddings", "lightning_nas.plots")),
    ("search", ("lightning_nas.search", "lightning_nas.callbacks", "lightning_nas.datamodules")),
    ("apps", ("lightning_nas.report", "lightning_nas.reproduce", "lightning_nas.cli")),
]
# Deprecated import paths kept for users: they re-export a higher layer's names by design.
SHIMS: frozenset[str] = frozenset({"lightning_nas.benchmarks.model_zoo"})


def layer_of(module: str) -> int | None:
    """The index in :data:`LAYERS` of a ``lightning_nas`` module, or ``None`` for the package itself."""
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return None


_IMPORT_LAYERS = """
import importlib, json, pkgutil, sys
layers, shims = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
loaded = []
for prefixes in layers:
    for name in prefixes:
        module = importlib.import_module(name)
        if hasattr(module, "__path__"):
            for info in pkgutil.walk_packages(module.__path__, name + "."):
                if info.name not in shims:
                    importlib.import_module(info.name)
    loaded.append(sorted(m for m in sys.modules if m.startswith("lightning_nas.")))
print(json.dumps(loaded))
"""


@pytest.fixture(scope="module")
def loaded_after_each_layer() -> list[list[str]]:
    """The ``lightning_nas`` modules loaded after importing each layer in turn, lowest first, in a fresh interpreter.

    A layer whose import pulls in a module of a higher layer shows it in its list: the higher layers have not been
    imported yet at that point.
    """
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_LAYERS, json.dumps([p for _, p in LAYERS]), json.dumps(sorted(SHIMS))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("index", range(len(LAYERS)), ids=[name for name, _ in LAYERS])
def test_a_layer_pulls_in_no_module_of_a_layer_above_it(index, loaded_after_each_layer):
    name = LAYERS[index][0]
    before = set(loaded_after_each_layer[index - 1]) if index else set()
    loaded = [m for m in loaded_after_each_layer[index] if m not in before]
    above = [m for m in loaded if (layer_of(m) or 0) > index and m not in SHIMS]
    assert not above, f"importing the {name!r} layer pulled in modules of higher layers: {above}"


def _source_files() -> list[tuple[str, Path]]:
    """Every module of the package with its file, including ``callbacks``/``datamodules`` installed from elsewhere."""
    roots = {"lightning_nas": Path(lightning_nas.__file__).resolve().parent}
    for sub in ("callbacks", "datamodules"):
        spec = importlib.util.find_spec(f"lightning_nas.{sub}")
        roots[f"lightning_nas.{sub}"] = Path(next(iter(spec.submodule_search_locations))).resolve()
    files = []
    for package, root in roots.items():
        for path in sorted(root.rglob("*.py")):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            module = ".".join(parts)
            if package == "lightning_nas" and module.split(".")[1:2] in (["callbacks"], ["datamodules"]):
                continue
            files.append((module, path))
    return files


def _function_level_imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module and inner.level == 0:
                    found.append((inner.lineno, inner.module))
                elif isinstance(inner, ast.Import):
                    found.extend((inner.lineno, alias.name) for alias in inner.names)
    return found


def test_no_function_level_import_reaches_a_higher_layer():
    """A function-level import of a higher layer hides a cycle; the layers are kept by construction instead."""
    offences = []
    for module, path in _source_files():
        own = layer_of(module)
        if own is None or module in SHIMS:
            continue
        for line, target in _function_level_imports(ast.parse(path.read_text(), str(path))):
            other = layer_of(target)
            if target.startswith("lightning_nas.") and other is not None and other > own:
                offences.append(f"{module}:{line} imports {target}")
    assert not offences, "function-level imports of a higher layer:\n" + "\n".join(offences)


def test_the_layer_map_covers_every_module():
    """A new top-level module must be placed in a layer (so the tests above see it)."""
    unplaced = [m for m, _ in _source_files() if m != "lightning_nas" and layer_of(m) is None]
    assert not unplaced, f"add these modules to LAYERS in {__file__}: {unplaced}"


def test_every_package_is_installed_by_a_wheel():
    """``pyproject.toml`` lists the packages explicitly: a new sub-package left out would be missing from a wheel."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(["lightning_nas", *p.parent.relative_to(root / "lightning_nas").parts]).rstrip(".")
        for p in (root / "lightning_nas").rglob("__init__.py")
    }
    found |= {"lightning_nas.callbacks", "lightning_nas.datamodules"}
    assert not found - listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(found - listed)}"
