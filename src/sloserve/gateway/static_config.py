"""The static models file, for running the gateway without Kubernetes.

YAML or JSON::

    models:
      - model: meta-llama/Llama-3.1-8B-Instruct     # the id clients send
        profile: h100-llama3-8b                     # latency profile (default h100-llama3-8b)
        maxNumSeqs: 256                             # the engines' --max-num-seqs (default 256)
        maxModelLen: 8192                           # the engines' --max-model-len (default: as
                                                    # the engines' /v1/models say)
        sloClasses:
          - {name: interactive, ttft: 500ms, tpot: 50ms}
          - {name: batch, ttft: 15s, tpot: 50ms}
        defaultClass: batch
        engines: ["http://127.0.0.1:8001", "http://127.0.0.1:8002"]
        tokenizer: /models/llama-3.1-8b-instruct    # optional: a directory holding the model's
                                                    # tokenizer.json (and tokenizer_config.json);
                                                    # without it prompt tokens are estimated

Classes are written as in a ModelService and checked by the same rules. The file is checked whole
before the gateway starts: a misspelt field or an unknown profile is refused with one line that
names the file, the model and the field.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from sloserve.api import fields, spec
from sloserve.engine import profiles
from sloserve.gateway import datastore, definitions, tokenizer_source
from sloserve.scheduling import profile_files


class StaticModel(fields.ApiModel):
    model: str = Field(min_length=1, pattern=r"^\S+$")
    profile: fields.DnsLabel = spec.DEFAULT_PROFILE
    slo_classes: Annotated[tuple[spec.SLOClass, ...], Field(min_length=1)]
    default_class: str
    max_num_seqs: int = Field(default=256, ge=1)
    max_model_len: int | None = Field(default=None, ge=2)
    engines: tuple[str, ...] = ()
    tokenizer: str | None = Field(default=None, min_length=1)

    @field_validator("engines")
    @classmethod
    def _engines_are_http_urls(cls, engines: tuple[str, ...]) -> tuple[str, ...]:
        for url in engines:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"engine {url!r} must be a URL such as http://127.0.0.1:8000")
        return tuple(url.rstrip("/") for url in engines)

    @model_validator(mode="after")
    def _default_class_exists(self) -> StaticModel:
        names = [slo_class.name for slo_class in self.slo_classes]
        if len(set(names)) != len(names):
            raise ValueError(f"model {self.model!r}: sloClasses has duplicate names: {names}")
        if self.default_class not in names:
            raise ValueError(
                f"model {self.model!r}: defaultClass {self.default_class!r} must name one of "
                f"sloClasses: {', '.join(names)}"
            )
        return self


class StaticConfig(fields.ApiModel):
    models: tuple[StaticModel, ...] = ()

    @model_validator(mode="after")
    def _model_ids_unique(self) -> StaticConfig:
        ids = [entry.model for entry in self.models]
        duplicates = sorted({model for model in ids if ids.count(model) > 1})
        if duplicates:
            raise ValueError(f"models listed twice: {', '.join(duplicates)}; list each once")
        return self


def load_static_config(path: Path) -> StaticConfig:
    """Read and validate the file, its models' profiles included; raises ValueError with one
    line naming the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        reason = " ".join(str(error).split())
        raise ValueError(f"models file {path}: cannot read it: {reason}") from error
    try:
        config = StaticConfig.model_validate(raw or {})
    except ValidationError as error:
        raise ValueError(f"models file {path}: {_first_problem(error)}") from error
    for index, entry in enumerate(config.models):
        try:
            profiles.resolve(entry.profile)
        except ValueError as error:
            known = ", ".join([*profile_files.available_profiles(), "synthetic"])
            raise ValueError(
                f"models file {path}: models[{index}].profile: model {entry.model!r} names "
                f"profile {entry.profile!r}, which is not known; use one of {known}"
            ) from error
        if entry.tokenizer is not None:
            ref = tokenizer_source.TokenizerRef(
                owner=f"model {entry.model!r}", directory=entry.tokenizer
            )
            try:
                tokenizer_source.load(ref, model_cache_dir=None, read_config_map=None)
            except tokenizer_source.TokenizerSourceError as error:
                raise ValueError(f"models file {path}: models[{index}].{error}") from error
    return config


def _first_problem(error: ValidationError) -> str:
    """The first error of `error` on one line: where (as in the file) and what; how many more."""
    problems = error.errors()
    first = problems[0]
    where = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
    ).lstrip(".")
    given = first.get("input")
    got = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
    more = f"; and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
    return f"{where or 'the file'}: {first['msg']}{got}{more}"


def feed(store: datastore.Datastore, config: StaticConfig) -> None:
    """Put every model of the file and its engines into the datastore."""
    for entry in config.models:
        key = datastore.SourceKey(namespace="", name=entry.model, static=True)
        definition = definitions.model_definition(
            model=entry.model,
            slo_classes=entry.slo_classes,
            default_class=entry.default_class,
            profile=entry.profile,
        )
        store.put_definition(
            key,
            dataclasses.replace(
                definition,
                max_num_seqs=entry.max_num_seqs,
                max_model_len=entry.max_model_len,
                tokenizer=None
                if entry.tokenizer is None
                else tokenizer_source.TokenizerRef(
                    owner=f"model {entry.model!r}", directory=entry.tokenizer
                ),
            ),
        )
        store.put_endpoints(key, "static", entry.engines)
