"""Parameter files built to be hard on a reader: for tests/test_mozaik_limits.py and benchmarks/mozaik_reader.py.

Each maker writes its files into a directory and returns the root file, whose url() paths are relative to that
directory; none is committed, the large ones are generated where they are read. :func:`read_in_child` reads a
root file in a child process under a memory cap and a timeout and returns what became of it, so that a reader
that hangs or swells fails a test instead of hanging or killing the suite:

    python tests/mozaik_files.py ROOT [READER [BASE_DIR [REPEAT]]]   # reads ROOT, prints a JSON line
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple

REPO = Path(__file__).resolve().parent.parent
KB = 2**10
MB = 2**20
#: Just under the reader's MAX_YAML_BYTES (256 KiB): the largest YAML file it reads.
YAML_SIZE = 250 * KB


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def _repeat(directory: Path, size: int, head: str, item: str, tail: str, name: str = "params") -> Path:
    """A file of about ``size`` bytes: ``head``, ``item`` repeated, ``tail``."""
    count = max(1, (size - len(head) - len(tail)) // len(item))
    return _write(directory, name, head + item * count + tail)


def _list_of(directory: Path, size: int, item: str) -> Path:
    """``{'a': [item item ...]}`` of about ``size`` bytes."""
    return _repeat(directory, size, "{'a': [", item, "]}\n")


# --------------------------------------------------------------------------- legitimate, large


def plain_rows(size: int = 5 * MB) -> dict[str, list[float]]:
    """The rows of :func:`plain_literal`: ``kN`` -> 100 floats, enough rows for ``size`` bytes."""
    numbers = random.Random(1)
    rows: dict[str, list[float]] = {}
    written = 0
    while written < size:
        row = rows[f"k{len(rows)}"] = [numbers.random() for _ in range(100)]
        written += len(repr(row)) + 15
    return rows


def plain_literal(directory: Path, size: int = 5 * MB) -> Path:
    """``'kN': [100 floats],`` lines up to ``size`` bytes: data, as a model may hold a table of values."""
    lines = "".join(f"    {key!r}: {row!r},\n" for key, row in plain_rows(size).items())
    return _write(directory, "params", "{\n" + lines + "}\n")


def big_file(directory: Path, size: int = 50 * MB) -> Path:
    """A plain file past MAX_BYTES: lines of numbers, cheap to write."""
    return _repeat(directory, size, "{'a': [\n", "    0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5,\n", "]}\n")


def model_like(directory: Path, size: int = 1 * MB) -> Path:
    """Sheets of a model repeated to ``size`` bytes: dicts, strings, comments, refs, arithmetic, constructs."""
    sheet = (
        "    'sheet{n}': {{  # a sheet\n"
        "        'name': 'V1_Exc_L4_{n}', 'density': 1500.0, 'K': 1000, 'ratio': 0.3,\n"
        "        'samples': ref('sheet{n}.K') * 4 / 5 * (1 - ref('sheet{n}.ratio')),\n"
        "        'cell': {{'model': 'IF_cond_exp', 'params': {{'v_rest': -80, 'tau_m': 8.0, 'cm': 0.32}}}},\n"
        "        'v_init': PyNNDistribution('uniform', low=-70, high=-51),\n"
        "        'delays': [0.1, 0.2, 0.5, 1.0], 'orientation': ParameterWithUnitsAndPeriod(0.0, units='rad', period=pi),\n"
        "    }},\n"
    )
    count = max(1, size // len(sheet.format(n=0)))
    return _write(directory, "params", "{\n" + "".join(sheet.format(n=n) for n in range(count)) + "}\n")


# --------------------------------------------------------------------------- expansion: small files, huge trees


def ref_bomb(directory: Path) -> Path:
    """Nine levels of ten refs to the level below (1 KB): resolved, 10**9 values."""
    levels = ["'l0': 1.0"] + [f"'l{n}': [" + ", ".join([f"ref('l{n - 1}')"] * 10) + "]" for n in range(1, 10)]
    return _write(directory, "params", "{\n" + ",\n".join(levels) + "\n}\n")


def yaml_bomb(directory: Path) -> Path:
    """The "billion laughs" in a YAML file included by url() (342 bytes): aliases of aliases, 10**9 strings."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [{','.join([f'*{previous}'] * 9)}]")
    _write(directory, "laughs.yaml", "\n".join(lines) + "\n")
    return _write(directory, "params", "{'lol': url('laughs.yaml')}\n")


def ref_fan(directory: Path, size: int = 150 * KB, width: int = 100) -> Path:
    """A list of ``width`` numbers, and a file of refs to it (fewer than MAX_REFS): each ref copies the list."""
    return _repeat(directory, size, "{'a': " + str(list(range(width))) + ", 'b': [", "ref('a'), ", "]}\n")


def url_fan(directory: Path, size: int = 1 * MB) -> Path:
    """A small file included again and again: each url() copies its tree."""
    _write(directory, "small", "{" + ", ".join(f"'k{n}': {n}" for n in range(20)) + "}\n")
    return _repeat(directory, size, "{'a': [", "url('small'), ", "]}\n")


def yaml_fan(directory: Path, size: int = YAML_SIZE) -> Path:
    """A YAML file of aliases to one anchor of 100 values: each alias is 100 values when walked."""
    anchor = "a: &a [" + ", ".join(["1"] * 100) + "]\nb: ["
    _repeat(directory, size, anchor, "*a, ", "]\n", name="fan.yaml")
    return _write(directory, "params", "{'fan': url('fan.yaml')}\n")


def ref_chain(directory: Path, size: int = 300 * KB) -> Path:
    """Refs each naming the next: one chain of some 12,000 references (fewer than MAX_REFS)."""
    count = size // len("'a99999': ref('a100000'), ")
    links = "".join(f"'a{n}': ref('a{n + 1}'), " for n in range(count))
    return _write(directory, "params", "{" + links + f"'a{count}': 1}}\n")


def nested_refs(directory: Path) -> Path:
    """Refs to values nested 40 deep that hold refs to values nested 40 deep ...: nesting multiplies."""
    items = [f"'a{n}': " + "[" * 40 + f"ref('a{n + 1}')" + "]" * 40 for n in range(10)]
    return _write(directory, "params", "{" + ", ".join(items) + ", 'a10': 1}\n")


def include_chain(directory: Path) -> Path:
    """Files each including the next 30 levels down: nesting adds up across files."""
    for n in range(10):
        _write(directory, f"f{n}", "{'x': " + "{'y': " * 30 + f"url('f{n + 1}')" + "}" * 30 + "}\n")
    _write(directory, "f10", "{'end': 1}\n")
    return _write(directory, "params", "{'top': url('f0')}\n")


# --------------------------------------------------------------------------- depth and tokens: 1 MB files


def deep_lists(directory: Path, size: int = 1 * MB) -> Path:
    return _write(directory, "params", "{'a': " + "[" * (size // 2) + "]" * (size // 2) + "}\n")


def unary_chain(directory: Path, size: int = 1 * MB) -> Path:
    return _write(directory, "params", "{'a': " + "-" * size + "1}\n")


def sum_chain(directory: Path, size: int = 1 * MB) -> Path:
    return _write(directory, "params", "{'a': " + "1+" * (size // 2) + "1}\n")


def small_deep_unary(directory: Path) -> Path:
    """Deep enough for Python's parser to give up (it says MemoryError), small enough to be handed to it."""
    return _write(directory, "params", "{'a': " + "-" * 50_000 + "1}\n")


def zeros(directory: Path, size: int = 1 * MB) -> Path:
    """The densest list of numbers: Python's parser would build 500 MB of syntax tree for it."""
    return _list_of(directory, size, "0,")


def empty_tuples(directory: Path, size: int = 1 * MB) -> Path:
    """The densest list of containers: one token in two opens or closes one."""
    return _list_of(directory, size, "(),")


def nested_tuples(directory: Path, size: int = 1 * MB) -> Path:
    """Containers that the reader's fast paths for plain values do not take: every token read one by one."""
    return _list_of(directory, size, "((),{}),")


def escaped_strings(directory: Path, size: int = 1 * MB) -> Path:
    """Strings with escapes and prefixes, which Python's rules decode."""
    return _list_of(directory, size, "'\\n',u'x',r'\\d',")


def arithmetic(directory: Path, size: int = 1 * MB) -> Path:
    """Arithmetic on numbers, value after value."""
    return _list_of(directory, size, "1+1,")


def arithmetic_on_refs(directory: Path, size: int = 1 * MB) -> Path:
    return _repeat(directory, size, "{'a': 2, 'b': [", "ref('a')*2,", "]}\n")


def short_keys(directory: Path, size: int = 1 * MB) -> Path:
    return _write(directory, "params", "{" + "".join(f"'k{n}': 'v'," for n in range(size // 12)) + "}\n")


def repeated_keys(directory: Path, size: int = 1 * MB) -> Path:
    """One key repeated some 100,000 times: a warning each would flood the output."""
    return _repeat(directory, size, "{", "'a': 1, ", "}\n")


def comments(directory: Path, size: int = 1 * MB) -> Path:
    return _repeat(directory, size, "# a comment line\n" * 10 + "{'a': [\n", "    1, # one\n", "]}\n")


def long_string(directory: Path, size: int = 1 * MB) -> Path:
    return _write(directory, "params", "{'a': '" + "x" * size + "'}\n")


def unterminated_string(directory: Path, size: int = 1 * MB) -> Path:
    return _write(directory, "params", "{'a': '''" + "x'" * (size // 2) + "}\n")


def yaml_deep(directory: Path, size: int = YAML_SIZE) -> Path:
    _write(directory, "deep.yaml", "a: " + "[" * (size // 2) + "]" * (size // 2) + "\n")
    return _write(directory, "params", "{'deep': url('deep.yaml')}\n")


def yaml_plain(directory: Path, size: int = YAML_SIZE) -> Path:
    """Keys of lists of numbers: the most scalars a YAML file of this size holds in plain data."""
    line = ": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]\n"
    count = size // (len(line) + 6)
    _write(directory, "plain.yaml", "".join(f"k{n}{line}" for n in range(count)))
    return _write(directory, "params", "{'plain': url('plain.yaml')}\n")


# --------------------------------------------------------------------------- what values become (issue 21)


def product_chain(directory: Path) -> Path:
    """2**2048, then each key the product of the one before with itself: 608 bytes, a 2**32-bit number."""
    items = ["'x0': 2**2048"] + [f"'x{n}': ref('x{n - 1}')*ref('x{n - 1}')" for n in range(1, 21)]
    return _write(directory, "params", "{" + ", ".join(items) + "}\n")


def balanced_product(directory: Path) -> Path:
    """Products of products of 2**2000, 4,096 factors: an integer of 8 million bits, computed as read."""
    term = "(2**2000)"
    for _ in range(12):
        term = f"({term}*{term})"
    return _write(directory, "params", "{'a': " + term + "}\n")


def long_literal(directory: Path, size: int = 10**6) -> Path:
    """An integer of a million digits (more than Python converts)."""
    return _write(directory, "params", "{'a': " + "7" * size + "}\n")


def hex_literal(directory: Path, size: int = 250_000) -> Path:
    """A hexadecimal integer of a million bits (which Python converts, and no writer then writes)."""
    return _write(directory, "params", "{'a': 0x" + "f" * size + "}\n")


def kernel_file(directory: Path) -> Path:
    """url() of /proc/kmsg, which blocks a reader (as root), or of another file of /proc."""
    target = "/proc/kmsg" if Path("/proc/kmsg").exists() else "/proc/self/status"
    return _write(directory, "params", f"{{'a': url({target!r})}}\n")


def fifo_include(directory: Path) -> Path:
    """url() of a FIFO, which blocks a reader until something writes into it."""
    os.mkfifo(directory / "fifo")
    return _write(directory, "params", "{'a': url('fifo')}\n")


def device_include(directory: Path) -> Path:
    """url() of /dev/zero, which never ends."""
    return _write(directory, "params", "{'a': url('/dev/zero')}\n")


def yaml_string_aliases(directory: Path) -> Path:
    """A 107 KB YAML file: a 100 KB string and 1,000 aliases to it (100 MB of YAML once imported)."""
    _write(directory, "s.yaml", "a: &a '" + "x" * 100_000 + "'\nb: [" + ", ".join(["*a"] * 1000) + "]\n")
    return _write(directory, "params", "{'y': url('s.yaml')}\n")


def string_includes(directory: Path) -> Path:
    """5,000 url() in a list of a file holding a 1 MB string (5 GB once imported)."""
    _write(directory, "s", "{'x': '" + "x" * MB + "'}\n")
    return _write(directory, "params", "{'a': [" + "url('s'), " * 5000 + "]}\n")


def multiplied_include(directory: Path) -> Path:
    """``[url('s')]*5000``, a 1 MB string in ``s``: a list times a number, which is not data."""
    _write(directory, "s", "{'x': '" + "x" * MB + "'}\n")
    return _write(directory, "params", "{'a': [url('s')]*5000}\n")


def ref_list(directory: Path, count: int = 110_000) -> Path:
    """110,000 ref('b') in a list (990 KB)."""
    return _write(directory, "params", "{'b': 1, 'a': [" + "ref('b')," * count + "]}\n")


class Hostile(NamedTuple):
    make: Callable[[Path], Path]
    #: Words of the refusal; empty: the file is read.
    refusal: str
    #: ``ours`` (read_parameters) or ``import`` (import_mozaik into a directory of the child's).
    reader: str = "ours"
    #: Read in a child (its memory capped and measured); False: a small file refused at once, read in the
    #: test's process under an alarm (a child's start costs 2 s of the suite).
    child: bool = True


#: Each hard file, and what becomes of it: read, or refused naming the limit it passes.
HOSTILE: dict[str, Hostile] = {
    "ref_bomb": Hostile(ref_bomb, "(MAX_NODES)"),
    "yaml_bomb": Hostile(yaml_bomb, "(MAX_NODES)"),
    "ref_fan_150kb": Hostile(ref_fan, "(MAX_NODES)"),
    "url_fan_1mb": Hostile(url_fan, "(MAX_NODES)"),
    "yaml_fan_250kb": Hostile(yaml_fan, "(MAX_NODES)"),
    "ref_chain_300kb": Hostile(ref_chain, "(MAX_REF_CHAIN)"),
    "nested_refs": Hostile(nested_refs, "(MAX_DEPTH)"),
    "include_chain": Hostile(include_chain, "(MAX_DEPTH)"),
    "deep_lists_1mb": Hostile(deep_lists, "(MAX_DEPTH)"),
    "unary_chain_1mb": Hostile(unary_chain, "(MAX_DEPTH)"),
    "sum_chain_1mb": Hostile(sum_chain, "(MAX_DEPTH)"),
    "small_deep_unary": Hostile(small_deep_unary, "(MAX_DEPTH)"),
    "yaml_deep_250kb": Hostile(yaml_deep, "(MAX_DEPTH)"),
    "plain_1mb": Hostile(lambda directory: plain_literal(directory, 1 * MB), ""),
    "model_like_1mb": Hostile(model_like, ""),
    "zeros_1mb": Hostile(zeros, ""),
    "empty_tuples_1mb": Hostile(empty_tuples, ""),
    "short_keys_1mb": Hostile(short_keys, ""),
    "nested_tuples_1mb": Hostile(nested_tuples, "(MAX_TOKENS)"),
    "escaped_strings_1mb": Hostile(escaped_strings, ""),
    "arithmetic_1mb": Hostile(arithmetic, "(MAX_OPERATORS)"),
    "arithmetic_on_refs_1mb": Hostile(arithmetic_on_refs, "(MAX_OPERATORS)"),
    "repeated_keys_1mb": Hostile(repeated_keys, ""),
    "comments_1mb": Hostile(comments, ""),
    "long_string_1mb": Hostile(long_string, ""),
    "unterminated_string_1mb": Hostile(unterminated_string, "expected, not"),
    "yaml_plain_250kb": Hostile(yaml_plain, ""),
    "yaml_plain_1mb": Hostile(lambda directory: yaml_plain(directory, 1 * MB), "(MAX_YAML_BYTES)"),
    "product_chain": Hostile(product_chain, "(MAX_INT_BITS)", child=False),
    "balanced_product": Hostile(balanced_product, "(MAX_INT_BITS)", child=False),
    "long_literal_1mb": Hostile(long_literal, "(MAX_INT_BITS)", child=False),
    "hex_literal": Hostile(hex_literal, "(MAX_INT_BITS)", child=False),
    "kernel_file": Hostile(kernel_file, "not a parameter file", child=False),
    "fifo_include": Hostile(fifo_include, "a FIFO, not a parameter file", child=False),
    "device_include": Hostile(device_include, "a character device, not a parameter file", child=False),
    "multiplied_include": Hostile(multiplied_include, "not allowed in arithmetic", child=False),
    "ref_list_990kb": Hostile(ref_list, "(MAX_REFS)"),
    "import_product_chain": Hostile(product_chain, "(MAX_INT_BITS)", "import", child=False),
    "import_yaml_string_aliases": Hostile(yaml_string_aliases, "(MAX_IMPORT_BYTES)", "import"),
    "import_string_includes": Hostile(string_includes, "(MAX_IMPORT_BYTES)", "import"),
    "import_plain_1mb": Hostile(lambda directory: plain_literal(directory, 1 * MB), "(MAX_IMPORT_VALUES)", "import"),
    "import_model_like_1mb": Hostile(model_like, "(MAX_IMPORT_VALUES)", "import"),
    "import_long_string_1mb": Hostile(long_string, "", "import"),
    "import_model_like_150kb": Hostile(lambda directory: model_like(directory, 150 * KB), "", "import"),
}


# --------------------------------------------------------------------------- reading in a child


def read_in_child(
    root: Path,
    *,
    timeout: float = 10.0,
    memory: int = 1024 * MB,
    reader: str = "ours",
    base_dir: Path | None = None,
    repeat: int = 1,
) -> dict:
    """What became of reading ``root`` in a child process limited to ``memory`` bytes of address space and
    ``timeout`` seconds: ``outcome`` (read, refused, crashed, timeout), ``message``, ``seconds`` (the reading
    alone, as the child measured it: the fastest of ``repeat`` reads), ``cpu_seconds`` (the CPU time of that
    reading: what a busy machine does not change) and ``peak_mb`` (the child's peak resident
    memory, its start included). ``reader``: ``ours`` (read_parameters, url() relative to ``base_dir``, by
    default the root's directory) or ``parameters`` (NeuralEnsemble's, with eval(): trusted files only)."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    command = [sys.executable, str(Path(__file__).resolve()), str(root), reader, str(base_dir or root.parent), str(repeat)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, preexec_fn=limit_memory, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"outcome": "timeout", "message": f"still reading after {timeout} s", "seconds": timeout}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"outcome": "crashed", "message": f"exit {done.returncode}: {done.stderr[-2000:]}"}
    return json.loads(lines[-1])


def _read(root: Path, reader: str, base_dir: Path, repeat: int) -> None:
    """Read ``root`` and print a JSON line of what became of it (the child of :func:`read_in_child`)."""
    import warnings

    warnings.simplefilter("ignore")  # a file of 100,000 repeated keys warns: not what is measured
    if reader == "parameters":
        import parameters  # NeuralEnsemble's: eval() of the file (mozaik's reader)

        def read() -> object:
            return parameters.ParameterSet(eval(root.read_text(encoding="utf-8")))  # noqa: S307  (our own files)
    elif reader == "import":
        import tempfile

        from launcher.mozaik.parameter_files import import_mozaik

        def read() -> object:
            with tempfile.TemporaryDirectory() as out:
                return import_mozaik(root, Path(out) / "conf", base_dir=base_dir)
    else:
        from launcher.mozaik.parameter_files import read_parameters

        def read() -> object:
            return read_parameters(root, base_dir=base_dir)

    seconds = cpu_seconds = float("inf")
    for _ in range(repeat):
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            read()
            outcome, message = "read", ""
        except Exception as exc:  # what the reader answers is the result: its kind is in the message
            outcome, message = "refused", f"{type(exc).__name__}: {exc}"
        seconds = min(seconds, time.perf_counter() - start)
        cpu_seconds = min(cpu_seconds, time.process_time() - cpu_start)
    print(json.dumps({"outcome": outcome, "message": message[:2000], "seconds": seconds, "cpu_seconds": cpu_seconds,
                      "peak_mb": peak_resident_mb()}))


def peak_resident_mb() -> float:
    """This process's peak resident memory since its exec: the kernel's VmHWM. Not ru_maxrss: Linux
    keeps that across fork and exec, so a child of a large pytest process would report the parent's."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KB
    (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1]) / KB  # kB


if __name__ == "__main__":
    root, given = Path(sys.argv[1]), sys.argv[2:5]
    reader, base_dir, repeat = given + ["ours", str(root.parent), "1"][len(given) :]
    _read(root, reader, Path(base_dir), int(repeat))
