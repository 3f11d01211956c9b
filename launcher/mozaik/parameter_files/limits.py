"""The bounds of reading a mozaik parameter file, each with why its value.

The reader's modules read them from here when they run (``limits.MAX_BYTES``), so a change of
one (``launcher.mozaik.parameter_files.limits.MAX_BYTES = ...``) holds everywhere.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- limits
# A parameter file is input like any other: a search may be handed files it did not write. Whatever a file
# holds, reading it ends soon, in bounded memory, or is refused with a message naming the limit it passed.
# Each limit is far above what a published model needs (files of a few KB, some thousand values, ten levels).

#: Bytes read for one tree: the root file and every file it includes, each counted once. 16 MiB of numbers read
#: in a few seconds and about 100 MB (benchmarks/mozaik_reader.py); past that a file is refused unread.
MAX_BYTES = 16 * 2**20
#: Values (each dict, list, tuple, number, string...) of a tree as read, with its url() includes and its YAML
#: aliases expanded, and again of the values that resolving its ref()s makes. Includes, aliases and references
#: repeat subtrees: ten refs to ten refs to ... ten levels deep is a tree of 10**10 values in a 1 KB file. A
#: million values take about 100 MB; a 5 MB file of lists of numbers holds some 250,000 to 800,000.
MAX_NODES = 1_000_000
#: Nesting of dicts, lists, tuples, calls and arithmetic operators, in a file and in the tree that its includes
#: and references make. Every walk of a tree (this module's, OmegaConf's, the YAML writer's) recurses per
#: level, several frames each, within Python's recursion limit of 1,000 frames.
MAX_DEPTH = 100
#: References followed one through another (ref('a') naming a value that holds ref('b') ...): the resolution
#: recurses through each, with the nesting of the values between them. Published models chain two or three.
MAX_REF_CHAIN = 50
#: Bytes of one YAML file. libyaml parses fast, but PyYAML decides the type of each scalar in Python: some 7 µs
#: and 400 bytes a scalar, 2 s and 150 MB for 1 MB of numbers. YAML includes are small settings files.
MAX_YAML_BYTES = 256 * 2**10
#: A mozaik file of at most this many characters is parsed by Python's parser (ast) too, in C, before the reader
#: reads it: syntax errors as Python reports them, and the constructs the reader refuses named from its tree. That
#: tree takes up to 500 bytes per character (50 MB here), so a larger file is read without it.
AST_MAX_CHARS = 100_000
#: Tokens that the reader reads one by one: brackets, calls, names, operators, keys of dicts whose
#: value is not plain. Each costs it 2 to 3 µs; the values of data (numbers, strings, True/False/None in lists
#: and dicts) and plain keys are read in runs, uncounted. A 1 MB model-like file (tests/mozaik_files.py) takes
#: some 150,000, a 5 MB table of numbers 10,000; 1 MB of nothing but brackets reaches the limit in under a
#: second of CPU (at 500,000 it took 1.1 to 1.6 s, past the 2 s of a read of 1 MB on a loaded machine).
MAX_TOKENS = 300_000
#: Arithmetic operators in a file: each costs the reader 20 to 50 µs (a syntax tree is built,
#: then computed or spelled as a template). Models write a few dozen; a large file is data.
MAX_OPERATORS = 10_000
#: Bits of an integer, as written (a literal) or computed (arithmetic, on refs too): a chain of products doubles
#: the bits at each step (2**2048, then ref*ref twenty times, is a 2**32-bit number: 48 s and 1.28 GB), and the
#: writers (YAML, mozaik's format) convert an int to at most 4,300 decimal digits (Python's limit). Seeds and
#: counts of models take 64 bits.
MAX_INT_BITS = 4096
#: ref() and arithmetic on refs in one tree. Each costs the reader, the resolution and an import some 20 µs and
#: OmegaConf an interpolation resolved at each access (110,000 in a 990 KB list took 17 s to import); published
#: models write a few hundred.
MAX_REFS = 20_000
#: Values of the configs that import_mozaik writes of one tree (with its url() includes, each file once, and
#: every value that references and includes in lists repeat). OmegaConf makes a node of each at each job's
#: composition (some 100 µs each: 40,000 values cost every job 4 s before it starts) and the import writes them
#: at some 10 µs each; a model's configs hold a few thousand.
MAX_IMPORT_VALUES = 40_000
#: Characters of the YAML configs that import_mozaik writes of one tree. Hydra configs cannot share a value:
#: each ref() to a list or a string, each url() in a list, each YAML alias is written out in full (1,000 aliases of
#: a 100 KB string are 100 MB). libyaml writes some 50 MB a second; a model's configs are a few hundred KB.
MAX_IMPORT_BYTES = 16 * 2**20
#: Repeated keys named by warnings in one file; a file that repeats more keys gets one more warning saying so.
REPEATED_KEY_WARNINGS = 10
