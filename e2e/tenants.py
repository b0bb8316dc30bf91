"""The suite's tenants: the gateway's tenants file, given to the chart, and their API keys."""

from __future__ import annotations

from typing import Any

#: May use every class of the sample ModelService.
ALL_CLASSES_KEY = "sk-e2e-all-classes"
#: May use only `batch`, its default.
BATCH_ONLY_KEY = "sk-e2e-batch-only"

TENANTS_FILE: dict[str, Any] = {
    "tenants": [
        {
            "name": "e2e-all-classes",
            "keys": [ALL_CLASSES_KEY],
            "allowedClasses": ["interactive", "standard", "batch"],
        },
        {
            "name": "e2e-batch-only",
            "keys": [BATCH_ONLY_KEY],
            "allowedClasses": ["batch"],
            "defaultClass": "batch",
        },
    ]
}
