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
# dotted names below the package ("routing.filters.room"; a package by its "__init__")
MODULES = sorted(
    ".".join(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
    for path in PACKAGE_DIR.rglob("*.py")
)


def _source(module_name: str) -> Path:
    return PACKAGE_DIR.joinpath(*module_name.split(".")).with_suffix(".py")


def _imported_top_level_names(module_name: str) -> set[str]:
    tree = ast.parse(_source(module_name).read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_scan_sees_every_module_of_the_package():
    discovered = {
        info.name.removeprefix("sloserve.scheduling.")
        for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="sloserve.scheduling.")
    }
    # a package is listed by its name, its source is its __init__
    packages = {name.removesuffix(".__init__") for name in MODULES if name.endswith("__init__")}

    assert discovered == (
        {name for name in MODULES if not name.endswith("__init__")} | packages
    ) - {"__init__"}
    assert {"scheduler", "routing.profile", "routing.scorers.load"} <= discovered


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
    dotted = ".".join(["sloserve.scheduling", *module_name.split(".")]).removesuffix(".__init__")
    module = importlib.import_module(dotted)

    assert module.__name__.startswith("sloserve.scheduling")
    # from the source: a compiled module (setup.py) keeps no docstring
    assert ast.get_docstring(ast.parse(_source(module_name).read_text()))
