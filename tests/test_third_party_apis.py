"""The package reaches third-party libraries through their public interfaces only, so that a
library's release cannot break it by changing what it never promised.

Read off the sources (no import): every module imported from another distribution, every name
imported from one, and every attribute chain on one (`uvicorn.protocols.http.…`) is checked.
- Nothing private: no part of the dotted name starts with an underscore (`httpx._transports`,
  `from aiohttp import _http_parser`); dunders such as `__version__` are public.
- For the libraries under the gateway's data path, whose documented interface is what their
  top-level namespace exports, no submodule beyond the documented ones: uvicorn's and httpx's
  modules, and aiohttp's other than `aiohttp.web`, are their implementation (uvicorn's protocol
  classes, aiohttp's `client_reqrep`) and change between releases.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCES = Path(__file__).resolve().parents[1] / "src" / "sloserve"
FIRST_PARTY = "sloserve"
# The gateway's HTTP stack. Each maps to the submodules its documentation presents as interface.
TOP_LEVEL_ONLY: dict[str, frozenset[str]] = {
    "uvicorn": frozenset(),
    "aiohttp": frozenset({"web"}),
    "httpx": frozenset(),
}


@dataclass(frozen=True)
class Use:
    """A dotted name of a third-party library that a source reaches, and where."""

    name: str
    where: str


def third_party(module: str) -> bool:
    top = module.partition(".")[0]
    return top != FIRST_PARTY and top not in sys.stdlib_module_names


def attribute_chain(node: ast.Attribute) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None when the chain does not start at a plain name."""
    parts: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    parts.append(current.id)
    return parts[::-1]


def uses_in(source: str, where: str) -> list[Use]:
    """The third-party dotted names `source` imports or reaches by attribute."""
    tree = ast.parse(source)
    uses: list[Use] = []
    # A local name bound by an import → the dotted name it stands for.
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if third_party(alias.name):
                    uses.append(Use(alias.name, f"{where}:{node.lineno}"))
                    local = alias.asname or alias.name.partition(".")[0]
                    bound[local] = alias.name if alias.asname else local
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and third_party(node.module)
        ):
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                uses.append(Use(dotted, f"{where}:{node.lineno}"))
                bound[alias.asname or alias.name] = dotted
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            inner.add(id(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            chain = attribute_chain(node)
            if chain is not None and chain[0] in bound:
                dotted = ".".join([bound[chain[0]], *chain[1:]])
                uses.append(Use(dotted, f"{where}:{node.lineno}"))
    return uses


def violations(uses: list[Use]) -> list[str]:
    found = []
    for use in uses:
        parts = use.name.split(".")
        private = [p for p in parts if p.startswith("_") and not p.startswith("__")]
        if private:
            found.append(f"{use.where}: {use.name} (private: {private[0]})")
        elif (
            parts[0] in TOP_LEVEL_ONLY
            and len(parts) > 1
            and parts[1] not in TOP_LEVEL_ONLY[parts[0]]
            and _is_submodule(parts[0], parts[1])
        ):
            found.append(
                f"{use.where}: {use.name} ({parts[0]}'s interface is its top-level namespace)"
            )
    return found


def _is_submodule(package: str, name: str) -> bool:
    """Whether `package.name` is a module of the installed package rather than a name it
    exports, judged from its files so that nothing is imported."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return False
    return any(
        (Path(location) / name).is_dir() or (Path(location) / f"{name}.py").is_file()
        for location in spec.submodule_search_locations
    )


def test_no_source_reaches_a_private_or_internal_module_of_a_third_party_library() -> None:
    found = []
    for path in sorted(SOURCES.rglob("*.py")):
        found += violations(uses_in(path.read_text(), str(path.relative_to(SOURCES.parent))))
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        "import httpx._transports.default",
        "from aiohttp import _http_parser",
        "from httpx._models import Response",
        "import httpx\nhttpx._transports.default.AsyncHTTPTransport",
        "import uvicorn.protocols.http.httptools_impl",
        "from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol",
        "import uvicorn\nuvicorn.protocols.http.httptools_impl.HttpToolsProtocol",
        "import aiohttp as client\nclient.client_reqrep.ClientResponse",
    ],
)
def test_the_check_finds_private_and_internal_names(source: str) -> None:
    assert violations(uses_in(source, "example.py")) != []


@pytest.mark.parametrize(
    "source",
    [
        "import uvicorn\nuvicorn.Config",
        "from aiohttp import ClientSession",
        "import httpx\nhttpx.AsyncClient().get",
        "from starlette.requests import Request",
        "from aiohttp import web\nweb.Application",
        "import numpy\nnumpy.__version__",
        "from sloserve.scheduling import _validation",
        "from . import _local",
        "import os\nos._exit",
    ],
)
def test_the_check_allows_public_names_and_the_packages_own(source: str) -> None:
    assert violations(uses_in(source, "example.py")) == []
