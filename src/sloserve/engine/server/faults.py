"""Failures the server can be told to simulate, for testing what sits in front of it.

- `none`: behave.
- `refuse`: answer every new generation request (and /health) with a 500.
- `die_mid_stream`: when a request produces its token after the first `after_tokens`, its
  connection is dropped instead (the client got exactly `after_tokens` tokens, no finish chunk,
  no [DONE]: what a crashing engine looks like to a proxy); a non-streaming request gets a 500
  at that point. Requests with at most `after_tokens` tokens complete normally.
- `exit`: at the same point the whole process exits with status 70, dropping every connection
  (a crashed engine pod).
"""

from __future__ import annotations

from typing import Literal

import pydantic

FaultMode = Literal["none", "refuse", "die_mid_stream", "exit"]
EXIT_STATUS = 70


class FaultSetting(pydantic.BaseModel):
    """Body of POST /sim/fault and of its answer."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    mode: FaultMode = "none"
    after_tokens: int = pydantic.Field(default=0, ge=0)

    def refuses_requests(self) -> bool:
        return self.mode == "refuse"

    def breaks_after(self, delivered: int) -> bool:
        """Whether a request that has delivered this many tokens fails instead of the next."""
        return self.mode == "die_mid_stream" and delivered >= self.after_tokens

    def exits_after(self, delivered: int) -> bool:
        """Whether the process exits instead of delivering a request's next token."""
        return self.mode == "exit" and delivered >= self.after_tokens


class SimulatedEngineDeathError(RuntimeError):
    """Raised inside a response to make the server drop the connection."""
