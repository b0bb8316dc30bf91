"""The scheduling core stays pure: no I/O or clock modules, numpy only where models are fitted,
and no other sloserve part (the gateway and the simulator depend on it, not the reverse)."""

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import sloserve.scheduling

FORBIDDEN = {
    "asyncio",
    "datetime",
    "fastapi",
    "httpx",
    "kopf",
    "kubernetes",
    "os",
    "prometheus_client",
    "random",
    "requests",
    "socket",
    "starlette",
    "subprocess",
    "threading",
    "time",
    "urllib",
    "uvicorn",
}
NUMPY_ALLOWED_IN = {"latency_fit"}
PACKAGE_DIR = Path(sloserve.scheduling.__file__).parent
MODULES = sorted(path.stem for path in PACKAGE_DIR.glob("*.py"))


def _imported_top_level_names(module_name: str) -> set[str]:
    tree = ast.parse((PACKAGE_DIR / f"{module_name}.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_scan_sees_every_module_of_the_package():
    discovered = {info.name for info in pkgutil.iter_modules([str(PACKAGE_DIR)])}

    assert discovered == set(MODULES) - {"__init__"}
    assert "scheduler" in discovered


@pytest.mark.parametrize("module_name", MODULES)
def test_module_imports_nothing_that_does_io_or_reads_the_clock(module_name):
    imported = _imported_top_level_names(module_name)
    roots = {name.split(".")[0] for name in imported}

    assert not roots & FORBIDDEN
    if module_name not in NUMPY_ALLOWED_IN:
        assert "numpy" not in roots
    sloserve_parts = {
        name.split(".")[1] for name in imported if name.startswith("sloserve.") and "." in name
    }
    assert sloserve_parts <= {"scheduling"}


@pytest.mark.parametrize("module_name", MODULES)
def test_module_imports_cleanly_and_documents_itself(module_name):
    module = importlib.import_module(
        "sloserve.scheduling" if module_name == "__init__" else f"sloserve.scheduling.{module_name}"
    )

    assert module.__name__.startswith("sloserve.scheduling")
    # from the source: a compiled module (setup.py) keeps no docstring
    assert ast.get_docstring(ast.parse((PACKAGE_DIR / f"{module_name}.py").read_text()))
