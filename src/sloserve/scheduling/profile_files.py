"""Profiles shipped with the package, found by name under `sloserve/profiles/<name>.json`.

Reading a packaged data file is the only input this package does; it happens once, when a caller
builds its latency model, never while scheduling.
"""

import re
from importlib import resources

from sloserve.scheduling import latency_profile

_PROFILE_PACKAGE = "sloserve"
_PROFILE_DIRECTORY = "profiles"
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def available_profiles() -> list[str]:
    """Names of the profiles shipped with the package, sorted."""
    directory = resources.files(_PROFILE_PACKAGE).joinpath(_PROFILE_DIRECTORY)
    if not directory.is_dir():
        return []
    return sorted(
        entry.name.removesuffix(".json")
        for entry in directory.iterdir()
        if entry.is_file() and entry.name.endswith(".json")
    )


def load_profile(name: str) -> latency_profile.LatencyProfile:
    """The shipped profile `name` (e.g. "h100-llama3-8b").

    Raises LookupError listing the shipped names when there is none by that name, and ValueError
    when the file's own `name` field disagrees with its file name.
    """
    if not _NAME_PATTERN.fullmatch(name):
        raise LookupError(
            f"latency profile name {name!r} is not a profile name: use letters, digits, '.', '_' "
            "or '-' (the file name under sloserve/profiles/ without '.json')"
        )
    resource = resources.files(_PROFILE_PACKAGE).joinpath(_PROFILE_DIRECTORY, f"{name}.json")
    if not resource.is_file():
        shipped = ", ".join(available_profiles()) or "none"
        raise LookupError(f"no latency profile named {name!r}; shipped profiles: {shipped}")
    profile = latency_profile.parse_profile(resource.read_bytes())
    if profile.name != name:
        raise ValueError(
            f"latency profile file {name}.json has name {profile.name!r}; "
            "make the file name and its 'name' field agree"
        )
    return profile
