"""Kubernetes' `$(VAR)` references in a container's command, args and env values."""

from __future__ import annotations

from collections.abc import Mapping


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Replaces `$(NAME)` by the value of NAME, as the kubelet does: `$$` stands for a literal
    `$` (so `$$(NAME)` yields `$(NAME)`), and a reference to an undefined name, or one that is
    never closed, is left as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 == len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            close = text.find(")", i + 2)
            name = text[i + 2 : close] if close != -1 else None
            if name is not None and name in variables:
                out.append(variables[name])
            else:
                out.append(text[i : close + 1] if close != -1 else text[i:])
            i = close + 1 if close != -1 else len(text)
        else:
            out.append(char)
            i += 1
    return "".join(out)
