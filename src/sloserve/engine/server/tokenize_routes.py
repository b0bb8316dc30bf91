"""vLLM's `/tokenize` and `/detokenize`, with the simulator's vocabulary (`tokens`).

`/tokenize` counts what a generation request with the same prompt or messages is charged for,
so a client that sizes its prompts with it (as with vLLM) gets the same numbers the simulator
schedules by. Errors are answered as the generation endpoints answer them.
"""

from __future__ import annotations

from typing import Annotated, Any

import fastapi
import pydantic
from fastapi import responses as fastapi_responses

from sloserve.engine.server import admission, protocol, runtime, serving, tokens

router = fastapi.APIRouter(tags=["tokenize"])

Runtime = Annotated[runtime.ServerRuntime, fastapi.Depends(runtime.get_runtime)]


class TokenizeCompletionRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")

    model: str | None = None
    prompt: str
    add_special_tokens: bool = True
    return_token_strs: bool | None = False


class TokenizeChatRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")

    model: str | None = None
    messages: list[protocol.ChatMessage]
    add_generation_prompt: bool = True
    add_special_tokens: bool = False
    return_token_strs: bool | None = False


class DetokenizeRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")

    model: str | None = None
    tokens: list[Annotated[int, pydantic.Field(ge=0, le=2**63 - 1)]]


@router.post("/tokenize", response_model=None)
async def tokenize(
    body: TokenizeChatRequest | TokenizeCompletionRequest, state: Runtime
) -> fastapi.Response:
    """The prompt's (or the messages') token ids and count, with the server's max_model_len."""
    unknown = _unknown_model(body.model, state)
    if unknown is not None:
        return unknown
    if isinstance(body, TokenizeChatRequest):
        texts = [_message_text(message) for message in body.messages]
        ids = [token for text in texts for token in tokens.token_ids(text)]
        ids = ids or [tokens.CHAT_TEMPLATE_TOKEN]
    else:
        ids = tokens.token_ids(body.prompt)
    answer: dict[str, Any] = {
        "count": len(ids),
        "max_model_len": state.settings.engine.max_model_len,
        "tokens": ids,
        "token_strs": [tokens.token_text(t) for t in ids] if body.return_token_strs else None,
    }
    return fastapi_responses.JSONResponse(answer)


@router.post("/detokenize", response_model=None)
async def detokenize(body: DetokenizeRequest, state: Runtime) -> fastapi.Response:
    """The text of token ids."""
    unknown = _unknown_model(body.model, state)
    if unknown is not None:
        return unknown
    return fastapi_responses.JSONResponse({"prompt": tokens.detokenize(body.tokens)})


def _message_text(message: protocol.ChatMessage) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return " ".join(part.text or "" for part in message.content if part.type == "text")


def _unknown_model(model: str | None, state: runtime.ServerRuntime) -> fastapi.Response | None:
    try:
        admission.served_model(model, state.settings.served_model_names)
    except admission.RequestRejectedError as rejected:
        return serving.rejection(rejected)
    return None
