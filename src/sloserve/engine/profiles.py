"""Finding the latency profile an engine is timed by: by name, by path, or the synthetic one.

Parsing and the shipped-profile lookup are the scheduling core's (`sloserve.scheduling`); this
adds reading a file named by path and the built-in synthetic profile.
"""

from __future__ import annotations

from pathlib import Path

import pydantic

from sloserve.engine import synthetic_profile
from sloserve.scheduling import latency_profile, profile_files

DEFAULT_PROFILE = "h100-llama3-8b"


def resolve(reference: str) -> latency_profile.LatencyProfile:
    """The profile `reference` names: "synthetic", a path to a JSON file (anything with a path
    separator or a .json suffix), or the name of a profile shipped under sloserve/profiles/.

    Raises ValueError with a message that names the reference and what to pass instead.
    """
    if reference == synthetic_profile.NAME:
        return synthetic_profile.build()
    looks_like_path = reference.endswith(".json") or "/" in reference or "\\" in reference
    if looks_like_path:
        return _from_file(Path(reference))
    try:
        return profile_files.load_profile(reference)
    except LookupError as error:
        raise ValueError(
            f"{error}; pass --profile with a shipped name, a path to a profile JSON file, "
            f"or '{synthetic_profile.NAME}'"
        ) from error


def _from_file(path: Path) -> latency_profile.LatencyProfile:
    try:
        text = path.read_bytes()
    except OSError as error:
        raise ValueError(
            f"cannot read latency profile file {str(path)!r}: {error.strerror}"
        ) from error
    try:
        return latency_profile.parse_profile(text)
    except pydantic.ValidationError as error:
        raise ValueError(
            f"latency profile file {str(path)!r} is not a valid profile: {error}"
        ) from error
