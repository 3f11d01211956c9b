"""Values written as Hydra override strings (``key=value``) that Hydra reads back exactly."""

from __future__ import annotations

from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from launcher.compat import override_value_text
from launcher.sweep.tree import ParameterError


def plain_value(value: Any) -> Any:
    """A search value as Hydra can take it: numpy scalars and arrays (``numpy.linspace``, as in
    mozaik's examples) become Python numbers and lists, tuples lists, inside lists too."""
    if hasattr(value, "tolist") and type(value).__module__ == "numpy":  # numpy scalar or array
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain_value(item) for item in value]
    return value


def hydra_override(key: str, value: Any) -> str:
    """``key=value`` in Hydra's override syntax, such that Hydra reads back exactly ``value``
    (as :func:`plain_value` gives it).

    Strings that Hydra would read as another type (``"1e-3"``, ``"true"``) or
    that hold its special characters are quoted.
    """
    value = plain_value(value)
    candidates = [override_value_text(value)]
    if isinstance(value, str):
        candidates.append("'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'")
    parser = OverridesParser.create()
    for text in candidates:
        line = f"{key}={text}"
        try:
            parsed = parser.parse_override(line).value()
        except HydraException:
            continue
        if parsed == value and type(parsed) is type(value):
            return line
    raise ParameterError(f"{key} = {value!r} cannot be passed to Hydra as an override")
