"""Values written as Hydra override strings (``key=value``) that Hydra reads back exactly."""

from __future__ import annotations

import functools
import re
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


_INTERPOLATION_START = re.compile(r"(\\*)\$\{")


@functools.lru_cache(maxsize=1024)  # a string that a tree repeats (references, includes) is scanned once
def escape_interpolation(text: str) -> str:
    """``text`` as OmegaConf reads it literally: OmegaConf reads ``${`` as the start of an
    interpolation and ``\\`` before it as an escape, so a literal ``${`` preceded by n backslashes
    is written with 2n + 1 of them."""
    if "${" not in text:  # (the search scans every position: 10 ms for 100 KB)
        return text
    return _INTERPOLATION_START.sub(lambda m: "\\" * (2 * len(m.group(1)) + 1) + "${", text)


def literal_text(text: str) -> str:
    """What OmegaConf reads of a string whose every ``${`` is escaped (:func:`escape_interpolation`),
    e.g. a job's value as a search gave it; an interpolation (``${`` after an even number of
    backslashes) is left as written."""
    def unescape(match: re.Match[str]) -> str:
        count = len(match.group(1))
        return "\\" * (count // 2) + "${" if count % 2 else match.group(0)

    return _INTERPOLATION_START.sub(unescape, text) if "${" in text else text


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return escape_interpolation(value)
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    if isinstance(value, dict):
        return {key: _escaped(item) for key, item in value.items()}
    return value


def hydra_override(key: str, value: Any) -> str:
    """``key=value`` in Hydra's override syntax, such that the job gets exactly ``value`` (as
    :func:`plain_value` gives it): Hydra reads it back, and OmegaConf reads a ``${`` in it as
    itself, not as an interpolation (:func:`escape_interpolation`).

    Strings that Hydra would read as another type (``"1e-3"``, ``"true"``) or
    that hold its special characters are quoted.
    """
    value = _escaped(plain_value(value))
    candidates = [override_value_text(value)]
    if isinstance(value, str):
        candidates.append("'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'")
        # Hydra reads a backslash in quotes as an escape only before a quote or the closing one.
        quoted = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
        candidates.append("'" + re.sub(r"(\\+)$", lambda m: m.group(1) * 2, quoted) + "'")
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
