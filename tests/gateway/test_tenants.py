"""Tenants: API keys, allowed classes, anonymous access, and hot reload of the tenants file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from sloserve.gateway import errors, tenant_source, tenants

TEAM_A = {"name": "team-a", "keys": ["key-a"], "allowedClasses": ["standard"]}


def book(content: dict[str, object]) -> tenants.TenantBook:
    return tenants.TenantBook.from_file_model(tenants.TenantsFile.model_validate(content))


def test_a_known_key_identifies_its_tenant() -> None:
    tenant = book({"tenants": [TEAM_A]}).identify("Bearer key-a")
    assert tenant.name == "team-a"
    assert tenant.may_use("standard", model_default="standard")
    assert not tenant.may_use("interactive", model_default="standard")


@pytest.mark.parametrize("header", [None, "", "Bearer nope", "Basic key-a", "Bearer "])
def test_a_missing_or_unknown_key_is_401_when_keys_are_configured(header: str | None) -> None:
    with pytest.raises(errors.GatewayError) as refused:
        book({"tenants": [TEAM_A]}).identify(header)
    assert refused.value.status == 401
    assert refused.value.headers["WWW-Authenticate"] == "Bearer"


def test_without_keys_everyone_is_anonymous_in_the_default_class_only() -> None:
    anonymous = tenants.TenantBook.open_access().identify("Bearer anything")
    assert anonymous.name == tenants.ANONYMOUS
    assert anonymous.may_use("batch", model_default="batch")
    assert not anonymous.may_use("interactive", model_default="batch")


def test_an_anonymous_entry_admits_keyless_requests_beside_keys() -> None:
    tenant_book = book({"tenants": [TEAM_A], "anonymous": {"allowedClasses": ["batch"]}})
    assert tenant_book.identify(None).may_use("batch", model_default="standard")
    assert tenant_book.identify("Bearer key-a").name == "team-a"


def test_a_key_listed_under_two_tenants_is_refused_naming_both() -> None:
    with pytest.raises(ValueError, match=r"'a'.*'b'"):
        tenants.TenantsFile.model_validate(
            {"tenants": [{"name": "a", "keys": ["k"]}, {"name": "b", "keys": ["k"]}]}
        )


def test_a_default_class_outside_the_allowed_ones_is_refused() -> None:
    with pytest.raises(ValueError, match="defaultClass 'batch' is not among allowedClasses"):
        tenants.TenantSpec.model_validate(
            {"name": "a", "allowedClasses": ["standard"], "defaultClass": "batch"}
        )


def test_a_tenant_a_proxy_names_is_found_by_name_with_or_without_keys() -> None:
    keyless = {"name": "team-b", "allowedClasses": ["batch"]}
    found = book({"tenants": [TEAM_A, keyless]})
    assert found.identify_by_name("team-b", header="x-tenant").allowed_classes == {"batch"}
    assert found.identify_by_name("team-a", header="x-tenant") is found.identify("Bearer key-a")
    with pytest.raises(errors.GatewayError) as refused:
        found.identify_by_name("team-z", header="x-tenant")
    assert refused.value.status == 401
    assert "x-tenant" in refused.value.message
    assert "team-z" in refused.value.message


def test_a_tenant_listed_twice_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="team-a"):
        book({"tenants": [TEAM_A, {"name": "team-a", "keys": ["other"]}]})


def test_json_tenants_files_load_too(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    path.write_text('{"tenants": [{"name": "j", "keys": ["kj"]}]}')
    assert tenants.load_tenants_file(path).identify("Bearer kj").name == "j"


def _write(path: Path, content: dict[str, object], *, mtime_ns: int) -> None:
    path.write_text(yaml.safe_dump(content))
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_a_changed_file_takes_effect_on_the_next_check(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    _write(path, {"tenants": [TEAM_A]}, mtime_ns=1_000_000_000)
    source = tenant_source.TenantSource(path=path)
    assert not source.check()
    _write(path, {"tenants": [{"name": "team-b", "keys": ["key-b"]}]}, mtime_ns=2_000_000_000)
    assert source.check()
    assert source.book.identify("Bearer key-b").name == "team-b"
    with pytest.raises(errors.GatewayError):
        source.book.identify("Bearer key-a")


def test_a_secret_mount_swapping_its_symlink_is_seen(tmp_path: Path) -> None:
    first, second = tmp_path / "v1", tmp_path / "v2"
    first.mkdir()
    second.mkdir()
    _write(first / "tenants.yaml", {"tenants": [TEAM_A]}, mtime_ns=1_000_000_000)
    _write(
        second / "tenants.yaml",
        {"tenants": [{"name": "b", "keys": ["kb"]}]},
        mtime_ns=1_000_000_000,
    )
    data = tmp_path / "..data"
    data.symlink_to(first)
    mounted = tmp_path / "tenants.yaml"
    mounted.symlink_to(data / "tenants.yaml")
    source = tenant_source.TenantSource(path=mounted)
    swap = tmp_path / "..data_tmp"
    swap.symlink_to(second)
    swap.replace(data)
    assert source.check()
    assert source.book.identify("Bearer kb").name == "b"


def test_a_broken_file_keeps_the_previous_tenants_and_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    _write(path, {"tenants": [TEAM_A]}, mtime_ns=1_000_000_000)
    failures: list[int] = []
    source = tenant_source.TenantSource(path=path, on_reload_failure=lambda: failures.append(1))
    path.write_text("tenants: [{name: x, keys: [k], bogus: 1}]")
    os.utime(path, ns=(3_000_000_000, 3_000_000_000))
    assert not source.check()
    assert failures == [1]
    assert source.book.identify("Bearer key-a").name == "team-a"
