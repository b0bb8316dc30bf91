"""kopf's configuration for the sloserve operator: the project's own finalizer and annotation
names, server-side filtering of what it watches, and event and logging behaviour."""

from __future__ import annotations

import logging

import kopf

from sloserve.builders import engine_pod, labels
from sloserve.operator.settings import OperatorSettings

__all__ = ["ANNOTATION_PREFIX", "FINALIZER", "REPORTING_COMPONENT", "kopf_settings"]

#: Blocks a ModelService's deletion until the operator has stopped its status timer.
FINALIZER = "sloserve.io/finalizer"
#: Prefix of the annotations in which kopf keeps handler progress and the last handled spec.
ANNOTATION_PREFIX = "operator.sloserve.io"
#: The `source.component` of the operator's Events.
REPORTING_COMPONENT = "sloserve-operator"
_CONSISTENCY_TIMEOUT_S = 30.0


def kopf_settings(settings: OperatorSettings, *, identity: str) -> kopf.OperatorSettings:
    """kopf settings for one operator process named `identity`."""
    configured = kopf.OperatorSettings()
    configured.persistence.finalizer = FINALIZER
    # The CRD's status schema is the operator's API, so kopf's bookkeeping stays out of it.
    configured.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=ANNOTATION_PREFIX
    )
    configured.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    configured.posting.reporting_component = REPORTING_COMPONENT
    configured.posting.reporting_instance = identity
    configured.posting.event_name_prefix = "sloserve-"
    # kopf.event() posts the operator's own Events at any level; this is the level from which
    # kopf's log lines about an object become Events too. At INFO every reconcile added two
    # (`Handler 'reconcile' succeeded`, `Creation is processed`): 1,000 writes for 500 new
    # ModelServices, as many as every other Event together. Failures (warnings) still post.
    configured.posting.level = logging.WARNING
    # One active replica is ensured by the Lease (see sloserve.operator.leader), not by peering.
    configured.peering.standalone = True
    # Resources are resolved once at start; watching CRDs and namespaces would need cluster-wide
    # permissions the operator has no other use for.
    configured.scanning.disabled = True
    managed = labels.managed_selector()
    for selector in (
        ("apps", "v1", "deployments"),
        ("v1", "services"),
        ("policy", "v1", "poddisruptionbudgets"),
        ("v1", "pods"),
    ):
        configured.watching.label_selectors[selector] = managed
    configured.watching.label_selectors["v1", "nodes"] = engine_pod.GPU_PRODUCT_LABEL
    configured.networking.request_timeout = settings.kubernetes.request_timeout_s
    # After patching an object, kopf waits this long for the watch to deliver the patched
    # version before it handles the object again. A loaded API server delivers it later than
    # kopf's 5 s: kopf then handles the stale version as if its own patch had not happened and
    # runs the reconcile a second time (with three applies and two patches).
    configured.persistence.consistency_timeout = max(
        _CONSISTENCY_TIMEOUT_S, settings.kubernetes.request_timeout_s
    )
    return configured
