"""Where the gateway finds a model's tokenizer, to count prompt tokens as the engine will.

A directory inside the model cache (`path`, beside the weights: the files a Hugging Face model
ships, `tokenizer.json` and optionally `tokenizer_config.json` with its chat template), or a
ConfigMap holding those files under those keys. Without one, the gateway estimates prompt
tokens from characters and says so in `sloserve_prompt_token_counts_total{method="estimate"}`.
"""

from __future__ import annotations

from pydantic import ConfigDict, model_validator

from sloserve.api import cel
from sloserve.api.fields import ApiModel, DnsSubdomain, require_exactly_one
from sloserve.api.pod_storage import RelativePath

__all__ = ["ConfigMapTokenizer", "TokenizerSource"]


class ConfigMapTokenizer(ApiModel):
    """A ConfigMap of the ModelService's namespace whose key `tokenizer.json` holds the
    tokenizer and, optionally, `tokenizer_config.json` its chat template. A ConfigMap holds at
    most 1 MiB: larger tokenizers belong in the model cache (`tokenizer.path`)."""

    name: DnsSubdomain
    """Name of the ConfigMap."""


class TokenizerSource(ApiModel):
    """The model's tokenizer, for the gateway's prompt-token counts. Exactly one of `path`,
    `configMap`."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.exactly_one("path", "configMap", what="tokenizer"),
        )
    )

    path: RelativePath | None = None
    """Directory relative to `engine.modelCache.mountPath` holding `tokenizer.json` (and
    optionally `tokenizer_config.json`), e.g. the weights' directory; needs
    `engine.modelCache`, and the gateway must see the cache (its `modelCacheDir` setting)."""

    config_map: ConfigMapTokenizer | None = None
    """A ConfigMap holding `tokenizer.json` (and optionally `tokenizer_config.json`)."""

    @model_validator(mode="after")
    def _one_source(self) -> TokenizerSource:
        require_exactly_one(self, "path", "config_map", what="tokenizer")
        return self
