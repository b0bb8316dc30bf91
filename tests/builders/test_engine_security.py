"""The engine container's security context: hardened by default, relaxed one field at a time."""

from __future__ import annotations

from builder_specs import container, make_spec, vllm_spec

HARDENED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def test_every_engine_is_hardened_by_default() -> None:
    assert container(vllm_spec())["securityContext"] == HARDENED
    assert container(make_spec())["securityContext"] == HARDENED


def test_adding_a_capability_keeps_every_other_drop() -> None:
    spec = vllm_spec(securityContext={"capabilities": {"add": ["IPC_LOCK"]}})
    assert container(spec)["securityContext"]["capabilities"] == {
        "add": ["IPC_LOCK"],
        "drop": ["ALL"],
    }


def test_an_empty_drop_list_drops_nothing() -> None:
    spec = vllm_spec(securityContext={"capabilities": {"drop": []}})
    assert "capabilities" not in container(spec)["securityContext"]


def test_a_privileged_engine_is_not_told_to_refuse_escalation() -> None:
    context = container(vllm_spec(securityContext={"privileged": True}))["securityContext"]
    assert context["privileged"] is True
    assert "allowPrivilegeEscalation" not in context


def test_set_fields_replace_the_defaults_and_others_are_added() -> None:
    spec = vllm_spec(
        securityContext={
            "allowPrivilegeEscalation": True,
            "seccompProfile": {"type": "Unconfined"},
            "runAsUser": 1000,
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
        }
    )
    assert container(spec)["securityContext"] == {
        "allowPrivilegeEscalation": True,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "seccompProfile": {"type": "Unconfined"},
    }


def test_a_pod_level_seccomp_profile_is_left_to_apply() -> None:
    spec = vllm_spec(
        pod={
            "securityContext": {
                "seccompProfile": {"type": "Localhost", "localhostProfile": "v.json"}
            }
        }
    )
    assert "seccompProfile" not in container(spec)["securityContext"]
