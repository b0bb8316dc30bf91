"""Loading a model's tokenizer from where its definition names it; a bad source is refused
naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
import tokenizer_files

from sloserve.gateway import static_config, tokenizer_source

Ref = tokenizer_source.TokenizerRef
OWNER = "ModelService prod/llama"


def test_a_path_is_read_inside_the_model_cache_the_gateway_sees(tmp_path: Path) -> None:
    tokenizer_files.write_tokenizer(tmp_path / "llama-8b")
    loaded = tokenizer_source.load(
        Ref(owner=OWNER, namespace="prod", path="llama-8b"),
        model_cache_dir=str(tmp_path),
        read_config_map=None,
    )
    assert loaded.has_chat_template
    assert loaded.count_texts(["hello world"]) == [3]


def test_a_path_without_the_cache_mounted_names_the_field_and_the_setting() -> None:
    with pytest.raises(tokenizer_source.TokenizerSourceError) as refused:
        tokenizer_source.load(
            Ref(owner=OWNER, namespace="prod", path="llama-8b"),
            model_cache_dir=None,
            read_config_map=None,
        )
    message = str(refused.value)
    assert "ModelService prod/llama: tokenizer.path 'llama-8b'" in message
    assert "scheduling.model_cache_dir" in message


def test_a_directory_without_tokenizer_json_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(tokenizer_source.TokenizerSourceError, match=r"tokenizer.path 'empty'.*"):
        tokenizer_source.load(
            Ref(owner=OWNER, namespace="prod", path="empty"),
            model_cache_dir=str(tmp_path),
            read_config_map=None,
        )


def test_a_config_map_is_read_by_namespace_and_name() -> None:
    asked: list[tuple[str, str]] = []

    def read(namespace: str, name: str) -> Mapping[str, str]:
        asked.append((namespace, name))
        return {"tokenizer.json": tokenizer_files.tokenizer_json()}

    loaded = tokenizer_source.load(
        Ref(owner=OWNER, namespace="prod", config_map="llama-tokenizer"),
        model_cache_dir=None,
        read_config_map=read,
    )
    assert asked == [("prod", "llama-tokenizer")]
    assert not loaded.has_chat_template
    assert loaded.source == "configmap prod/llama-tokenizer"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"other": "x"}, "has no key 'tokenizer.json'"),
        ({"tokenizer.json": "{broken"}, "tokenizer.json is not a tokenizer"),
    ],
)
def test_a_config_map_without_a_readable_tokenizer_is_refused_naming_the_field(
    data: dict[str, str], expected: str
) -> None:
    with pytest.raises(tokenizer_source.TokenizerSourceError) as refused:
        tokenizer_source.load(
            Ref(owner=OWNER, namespace="prod", config_map="llama-tokenizer"),
            model_cache_dir=None,
            read_config_map=lambda namespace, name: data,
        )
    assert "tokenizer.configMap.name 'llama-tokenizer'" in str(refused.value)
    assert expected in str(refused.value)


def test_a_config_map_that_cannot_be_read_says_what_to_do() -> None:
    def forbidden(namespace: str, name: str) -> Mapping[str, str]:
        raise PermissionError("configmaps is forbidden")

    with pytest.raises(tokenizer_source.TokenizerSourceError, match="let the gateway get"):
        tokenizer_source.load(
            Ref(owner=OWNER, namespace="prod", config_map="t"),
            model_cache_dir=None,
            read_config_map=forbidden,
        )


def test_the_models_file_refuses_a_tokenizer_directory_that_does_not_hold_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "models:\n"
        "  - model: m\n"
        "    profile: synthetic\n"
        "    sloClasses: [{name: a, ttft: 1s, tpot: 50ms}]\n"
        "    defaultClass: a\n"
        f"    tokenizer: {tmp_path / 'missing'}\n"
    )
    with pytest.raises(ValueError, match=r"models\[0\]\.model 'm': tokenizer '.*missing'"):
        static_config.load_static_config(path)
