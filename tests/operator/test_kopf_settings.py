"""kopf's settings for the operator: what it posts as Events and how long it trusts its own
patches to come back."""

from __future__ import annotations

import logging

from sloserve.operator.kopf_settings import kopf_settings
from sloserve.operator.settings import OperatorSettings


def test_kopfs_own_info_lines_are_not_posted_as_events_but_its_warnings_are() -> None:
    configured = kopf_settings(OperatorSettings(), identity="operator-0")
    assert configured.posting.enabled
    assert configured.posting.level == logging.WARNING


def test_the_operator_waits_for_its_own_patch_longer_than_a_request_may_take() -> None:
    settings = OperatorSettings.model_validate({"kubernetes": {"request_timeout_s": 45}})
    configured = kopf_settings(settings, identity="operator-0")
    assert configured.persistence.consistency_timeout == 45
    assert kopf_settings(OperatorSettings(), identity="x").persistence.consistency_timeout >= 30
