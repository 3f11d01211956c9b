"""mozaik's parameter files, read without evaluating them, written back, and imported into Hydra.

mozaik (through NeuroTools' ``parameters`` package) keeps a model's root parameter
tree in files that each hold one Python-literal dict expression, and reads them
with ``eval()``: a parameter file can run any code. This package holds

- :func:`read_parameters`, a safe reader of the same files. A file's text is read to data by one reader
  (its tokens by regular expressions); nothing is evaluated.
  Accepted: dicts (string keys), lists, tuples (kept as tuples, as mozaik's
  ``eval`` gives them), ``str``/``int``/``float``/``bool``/``None`` constants,
  arithmetic (``+ - * / **``, unary ``-``/``+``, parentheses) on numbers, ``pi``
  and ``ref()`` (computed on the AST: here if it holds no ref(), else when the
  refs are resolved), and the calls of the table below. As with ``eval()``, spaces
  and tabs before the expression on the first line are skipped, and a key
  repeated in one dict keeps its last value (with a :class:`MozaikFormatWarning`
  naming the file, line and key; at most :data:`REPEATED_KEY_WARNINGS` a file). Anything else is refused
  with :class:`MozaikFormatError` naming the file, the line, the column and the
  construct (see the limits below);
- :func:`resolve_refs`, which replaces every ``ref()`` by the value it names in
  the root tree, following chains, and computes the arithmetic on refs;
- :func:`format_parameters` and :func:`write_parameters`, the writer: its output
  reads back to an equal tree, with this reader and with mozaik's;
- :func:`import_mozaik`, the conversion to a Hydra config directory (one YAML
  config per mozaik file, ``url()`` as defaults-list entries, ``ref()`` as
  OmegaConf interpolations, arithmetic on refs as the ``mozaik_expr`` resolver),
  with :func:`to_hydra` and :func:`from_hydra`, the mapping of the special
  constructs to plain mappings and back, and :func:`tuple_paths`, where the
  tuples were that Hydra holds as lists.

The calls of a parameter file, as data (a construct's arguments are literals or
other constructs; ``url`` and ``ref`` take one string). Each line: in the file ->
as read -> in Hydra (:func:`to_hydra`, what :func:`import_mozaik` writes):

- ``url("param/sheets")`` -> the included file's tree (read as YAML for ``.yaml``
  and ``.yml``) -> a config file of its own, pulled in by a defaults list;
- ``ref("sheets.exc.params")`` -> ``Ref("sheets.exc.params")``, replaced by the
  value it names when resolved -> the interpolation ``"${sheets.exc.params}"``;
- ``ref('a.K')*4/5*(1-ref('a.r'))`` -> ``Expr('_0 * 4 / 5 * (1 - _1)', (Ref('a.K'),
  Ref('a.r')))``, computed when resolved from the refs' values, which must be
  numbers -> ``"${mozaik_expr:'_0 * 4 / 5 * (1 - _1)',${a.K},${a.r}}"``, which
  OmegaConf computes when the value is read, i.e. after Hydra's overrides;
- ``ParameterSet({...})`` and ``ParameterTable({...})`` -> the dict -> a mapping;
- ``ParameterTable('''...''')`` -> the dict of dicts of its table, as
  ``parameters.string_table`` reads it (first line: column headers; then a row
  label and its values each line; values through ``float()``) -> mappings;
- ``PyNNDistribution("uniform", low=-60, high=-50)`` ->
  ``PyNNDistribution(name="uniform", params={"low": -60, "high": -50})`` ->
  ``{_type: PyNNDistribution, name: uniform, params: {low: -60, high: -50}}``;
- ``ParameterRange([1, 2])`` -> ``ParameterRange(values=[1, 2])`` ->
  ``{_type: ParameterRange, values: [1, 2]}``;
- ``ParameterWithUnitsAndPeriod(0.0, units='rad', period=pi)`` ->
  ``ParameterWithUnitsAndPeriod(value=0.0, units='rad', period=3.14159...)`` ->
  ``{_type: ParameterWithUnitsAndPeriod, value: 0.0, units: rad, period: 3.14159...}``;
- ``NumpyRNG(seed=7)`` -> ``NumpyRNG(seed=7, parallel_safe=True)`` ->
  ``{_type: NumpyRNG, seed: 7, parallel_safe: true}``.

This reader accepts a little more than mozaik's: ``-ref()``, ``+ref()`` and a
ref() as exponent (``parameters``' ParameterReference has no ``__neg__``,
``__pos__`` or ``__rpow__``), ref() inside lists (which ``parameters`` leaves
unreplaced) and a ref() path through another ref() in any order.

``url()`` paths are resolved as mozaik does: relative to the model directory the
run starts from, i.e. the working directory, unless the caller names that
directory (``base_dir``); absolute paths are taken as they are.

Reading is bounded, as files may come from anywhere: whatever a file holds, it is read or refused within
about a second and some 100 MB, with a :class:`MozaikFormatError` naming the file, the line and the limit
passed, each a module constant that says why its value (see ``benchmarks/mozaik_reader.py``):
:data:`MAX_BYTES` (all files of a tree), :data:`MAX_YAML_BYTES`, :data:`MAX_NODES` (values of the tree as
read, with includes and YAML aliases expanded, and of what resolving refs makes: a 1 KB file of ten refs to
ten refs ... would be 10**9 values), :data:`MAX_DEPTH`, :data:`MAX_REF_CHAIN`, :data:`MAX_REFS`,
:data:`MAX_INT_BITS` (integers as written and as computed, on refs too), and for large files
:data:`MAX_TOKENS` and :data:`MAX_OPERATORS`; :func:`import_mozaik` by what it writes,
:data:`MAX_IMPORT_VALUES` and :data:`MAX_IMPORT_BYTES`. Only regular files on a disk's file system are
read (not a FIFO, a device, a file of /proc or /sys), on a descriptor that does not block. One reader (``reader.py``) reads every file from its text,
holding only the values, and reads lists of numbers and plain values in runs: a 5 MB table of numbers reads
in about half a second. A file of up to :data:`AST_MAX_CHARS` is also parsed by Python's parser (:mod:`ast`,
in C; the syntax tree would take up to 500 bytes per character of a larger one), which reports syntax errors
as Python does and from whose tree ``explain.py`` names the construct the reader refuses; in a larger file
the reader names what it found. YAML aliases are counted on
libyaml's events before anything is built. A file that does not start like a parameter file (with its dict)
is refused without any of its text shown (``url('/etc/passwd')``); other errors quote the offending line
only; bytes that are not UTF-8 are named by line and column; running out of memory is reported as such.
"""

from __future__ import annotations

# The limits, read here for their values; changed in their module (``limits.MAX_BYTES = ...``).
from launcher.mozaik.parameter_files import limits
from launcher.mozaik.parameter_files.limits import (
    MAX_BYTES, MAX_NODES, MAX_DEPTH, MAX_REF_CHAIN, MAX_YAML_BYTES, AST_MAX_CHARS, MAX_TOKENS, MAX_OPERATORS, REPEATED_KEY_WARNINGS,
    MAX_INT_BITS, MAX_IMPORT_BYTES, MAX_IMPORT_VALUES, MAX_REFS,
)
from launcher.mozaik.parameter_files.arithmetic import evaluate_template
from launcher.mozaik.parameter_files.constructs import (
    CONSTRUCTS,
    Construct,
    Expr,
    NumpyRNG,
    ParameterRange,
    ParameterWithUnitsAndPeriod,
    PyNNDistribution,
    Ref,
)
from launcher.mozaik.parameter_files.errors import MozaikFormatError, MozaikFormatWarning
from launcher.mozaik.parameter_files.grammar import _expression_start, _parse
from launcher.mozaik.parameter_files.hydra_import import (
    EXPR_RESOLVER,
    from_hydra,
    import_mozaik,
    to_hydra,
    tuple_paths,
)
from launcher.mozaik.parameter_files.loader import _Loader, legacy_changes, read_parameters
from launcher.mozaik.parameter_files.explain import _FileReader
from launcher.mozaik.parameter_files.reader import _LiteralReader
from launcher.mozaik.parameter_files.references import _Resolver, resolve_refs
from launcher.mozaik.parameter_files.trees import _inline
from launcher.mozaik.parameter_files.writer import format_parameters, write_parameters

__all__ = [
    "AST_MAX_CHARS", "CONSTRUCTS", "Construct", "EXPR_RESOLVER", "Expr", "MAX_BYTES", "MAX_DEPTH", "MAX_IMPORT_BYTES",
    "MAX_IMPORT_VALUES", "MAX_INT_BITS", "MAX_NODES", "MAX_REFS",
    "MAX_OPERATORS", "MAX_REF_CHAIN", "MAX_TOKENS", "MAX_YAML_BYTES", "MozaikFormatError", "MozaikFormatWarning",
    "NumpyRNG", "ParameterRange", "ParameterWithUnitsAndPeriod", "PyNNDistribution", "REPEATED_KEY_WARNINGS", "Ref",
    "evaluate_template", "format_parameters", "from_hydra", "import_mozaik", "legacy_changes", "read_parameters", "resolve_refs",
    "to_hydra", "tuple_paths", "write_parameters",
]  # fmt: skip
