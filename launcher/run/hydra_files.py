"""The YAML files Hydra writes into each job's ``.hydra/``, rendered from per-sweep templates.

Hydra dumps the job's config, its Hydra config and its overrides with
``OmegaConf.to_yaml`` for every job: about 15 ms a job here, a hundred times
more than a no-op job's own work. Between the jobs of one sweep these texts
differ only in a few scalars (the overridden leaves, the override lines,
``hydra.job.num``...). :class:`YamlTemplate` dumps a config once with a marker
in place of each varying scalar and renders a job's text by putting the YAML
form of its values in their places.

A value is put in place only when its YAML form is the same wherever it stands:
a single line, and for a string no space (PyYAML may fold a long line at a
space, depending on the column) and no double quotes (an escaped string may be
split anywhere). Any other value makes :meth:`YamlTemplate.render`
return None and the caller dumps in full. The first render of each template is
checked against a full dump by the caller (see :mod:`launcher.launchers.sequential`).
"""

from __future__ import annotations

import functools
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml
from omegaconf import OmegaConf

from launcher.compat import omegaconf_yaml_dumper

#: Leaves a template can vary: what a sweep's overrides set (OmegaConf's value types).
_SCALARS = (bool, int, float, str, type(None))
KeyPath = Tuple[Any, ...]  # keys (and list indices) from the root to a leaf


def dump(container: Any) -> str:
    """YAML text of plain data, exactly as ``OmegaConf.to_yaml`` writes a config holding it."""
    return yaml.dump(  # type: ignore[no-any-return]
        container, default_flow_style=False, allow_unicode=True, sort_keys=False, Dumper=omegaconf_yaml_dumper()
    )


@functools.lru_cache(maxsize=65536)
def _scalar_cached(kind: type, text: str, value: Any) -> Optional[str]:
    line = dump({"k": value})
    # One line by every break YAML knows (also NEL, LS, PS), and for a string no space:
    # both may come out otherwise depending on the column (folding, indented breaks).
    if not line.startswith("k: ") or len(line.splitlines()) != 1 or not line.endswith("\n"):
        return None
    if isinstance(value, str) and (len(value.splitlines()) > 1 or any(c.isspace() for c in value) or line[3] == '"'):
        return None  # a double-quoted string (escapes) may be split anywhere, depending on the column
    return line[3:-1]


#: Strings PyYAML writes as they are (plain style) in a block, and OmegaConf's dumper does not
#: quote: a letter, '_' or '/' first (no YAML indicator, number, '.inf'...), no space, ':' or '#'.
_PLAIN_STRING = re.compile(r"[A-Za-z_/][A-Za-z0-9_./=,+@%-]*")
#: Words YAML 1.1 reads as booleans or null (PyYAML's resolver, any case here).
_YAML_WORDS = frozenset(["yes", "no", "true", "false", "on", "off", "null", "y", "n"])


def _plain(value: str) -> bool:
    if not _PLAIN_STRING.fullmatch(value) or value.lower() in _YAML_WORDS:
        return False
    try:
        float(value)  # "inf", "nan", "infinity": OmegaConf's dumper quotes what float() reads
    except ValueError:
        return True
    return False


def scalar(value: Any) -> Optional[str]:
    """The YAML form of a scalar as a value of a block mapping or sequence, or None where
    it may depend on its place (several lines, or a string that may be folded)."""
    # The common cases of a sweep (job numbers, override lines, paths) without PyYAML.
    if type(value) is int:
        return str(value)  # PyYAML's represent_int
    if type(value) is str and _plain(value):
        return value
    if not isinstance(value, _SCALARS):
        return None
    # Cached by type and repr: 1, 1.0 and True are equal keys of a dict, and so are 0.0 and -0.0.
    return _scalar_cached(type(value), repr(value), value)


class YamlTemplate:
    """The YAML text of ``container`` with the scalars at ``paths`` left open."""

    def __init__(self, container: Any, paths: Sequence[KeyPath]) -> None:
        markers = [f"MOZAIK_TEMPLATE_SLOT_{i}_" for i in range(len(paths))]
        for path, marker in zip(paths, markers):
            node = container
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = marker
        text = dump(container)
        self.parts: Optional[List[str]] = []
        for marker in markers:
            before, found, text = text.partition(marker)
            if not found or marker in text:
                self.parts = None  # the marker did not come out once and as it is: no template
                return
            self.parts.append(before)
        self.parts.append(text)

    def render(self, values: Sequence[Any]) -> Optional[str]:
        """The text with ``values`` in the open places, or None if one cannot be put in place."""
        if self.parts is None:
            return None
        pieces = [self.parts[0]]
        for value, after in zip(values, self.parts[1:]):
            text = scalar(value)
            if text is None:
                return None
            pieces += (text, after)
        return "".join(pieces)


def overrides_yaml(lines: Sequence[str]) -> Optional[str]:
    """``overrides.yaml``: the job's override lines, as ``OmegaConf.to_yaml`` writes the list."""
    if not lines:
        return "[]\n"
    items = [scalar(line) for line in lines]
    if any(item is None for item in items):
        return None
    return "".join(f"- {item}\n" for item in items)


class TemplateCache:
    """Templates by shape, each checked against a full dump before it is trusted."""

    def __init__(self) -> None:
        self._templates: Dict[Any, Optional[YamlTemplate]] = {}
        self._trusted: set[Any] = set()

    def render(self, shape: Any, cfg: Any, paths: Sequence[KeyPath], values: Sequence[Any]) -> str:
        """The YAML text of config ``cfg`` (as ``OmegaConf.to_yaml`` writes it), whose leaves at
        ``paths`` hold ``values``; configs of one ``shape`` differ only there."""
        if shape not in self._templates:
            self._templates[shape] = YamlTemplate(OmegaConf.to_container(cfg, resolve=False, enum_to_str=True), paths)
        template = self._templates[shape]
        text = template.render(values) if template is not None else None
        if text is not None and shape in self._trusted:
            return text
        full = OmegaConf.to_yaml(cfg)
        if text is not None:  # the first job it can render: trusted only if it gives the same text
            if text == full:
                self._trusted.add(shape)
            else:
                self._templates[shape] = None
        return full
