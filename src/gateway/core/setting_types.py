"""What every settings group is made of: constrained numbers, and the renaming of
a group's fields to the environment variables they come from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import msgspec

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Rate = Annotated[float, msgspec.Meta(ge=0, le=1)]


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def prefixed(prefix: str) -> Callable[[str], str]:
    return lambda name: prefix + name.upper()
