"""The safe reader's limits: whatever a parameter file holds, it is read or refused soon, in bounded memory.

Each hard file of tests/mozaik_files.py is read (or imported, import_mozaik) in a child process under a 1 GB address-space cap and a 10 s
timeout, so that a regression fails instead of hanging or swelling the suite. The bound checked is a correctness
property (a hang), not a speed target: the child's own reading time must stay under 2 s with a margin for a
loaded 2-core machine, and its peak memory, its start included, under 200 MB. Fuzzed small mozaik and YAML
files are each read or refused with MozaikFormatError, never another exception; and the literal reader, which
reads large files, is compared with Python's parser, which reads small ones, on the same texts.
"""

from __future__ import annotations

import ast
import signal
import string
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mozaik_files
from launcher.mozaik import parameter_files as mozaik_format
from launcher.mozaik.parameter_files import MozaikFormatError, MozaikFormatWarning, read_parameters, resolve_refs

#: CPU time allowed to reading a hard file of up to 1 MB: 2 s, times a margin for a slower machine (CPU time,
#: not wall time; a machine busy with other processes still stretches it somewhat: the slowest case, a 1 MB
#: model-like file, took 1.2 to 1.45 s of CPU with four other sessions on two cores).
SECONDS = 2.0 * 1.5
#: Wall time after which the child reading a file is taken to hang (a busy machine gives it a fraction of a core).
HANG_S = 120.0
#: Peak resident memory allowed to the child that reads it (some 35 MB of which are Python and the imports).
PEAK_MB = 200


def write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def refusal(root: Path, base_dir: Path) -> str:
    with pytest.raises(MozaikFormatError) as info:
        read_parameters(root, base_dir=base_dir)
    return str(info.value)


# --------------------------------------------------------------------------- hard files, in a child


@pytest.mark.parametrize("name", [name for name, hostile in mozaik_files.HOSTILE.items() if hostile.child])
def test_a_hard_file_is_read_or_refused_within_the_bounds(tmp_path, name):
    hostile = mozaik_files.HOSTILE[name]
    result = mozaik_files.read_in_child(hostile.make(tmp_path), timeout=HANG_S, reader=hostile.reader)
    assert result["outcome"] in ("read", "refused"), result
    if hostile.refusal:
        assert result["outcome"] == "refused" and result["message"].startswith("MozaikFormatError: "), result
        assert hostile.refusal in result["message"]
        assert f"{tmp_path}" in result["message"]  # the file it names
    else:
        assert result["outcome"] == "read", result
    assert result["cpu_seconds"] < SECONDS, result
    assert result["peak_mb"] < PEAK_MB, result


@pytest.mark.parametrize("name", [name for name, hostile in mozaik_files.HOSTILE.items() if not hostile.child])
def test_a_small_hard_file_is_refused_at_once(tmp_path, name):
    """The hard files refused before much is read, in this process: within the CPU time of the others, and
    stopped by an alarm if reading hangs (a FIFO, /proc/kmsg) instead of hanging the suite."""
    hostile = mozaik_files.HOSTILE[name]
    root = hostile.make(tmp_path)

    def hung(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still reading {root} after {HANG_S} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(int(HANG_S))
    cpu = time.process_time()
    try:
        with pytest.raises(MozaikFormatError) as info:
            if hostile.reader == "import":
                mozaik_format.import_mozaik(root, tmp_path / "conf", base_dir=tmp_path)
            else:
                read_parameters(root, base_dir=tmp_path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert time.process_time() - cpu < SECONDS
    assert hostile.refusal in str(info.value) and f"{tmp_path}" in str(info.value)
    assert not (tmp_path / "conf").exists()  # an import refused writes nothing


def test_the_limits_say_why_their_values(tmp_path):
    source = Path(mozaik_format.limits.__file__).read_text(encoding="utf-8")
    for limit in ("MAX_BYTES", "MAX_YAML_BYTES", "MAX_NODES", "MAX_DEPTH", "MAX_REF_CHAIN", "MAX_TOKENS", "MAX_OPERATORS",
                  "MAX_INT_BITS", "MAX_REFS", "MAX_IMPORT_VALUES", "MAX_IMPORT_BYTES"):
        assert isinstance(getattr(mozaik_format, limit), int)
        before = source[: source.index(f"\n{limit} = ")]
        assert before.rstrip().splitlines()[-1].startswith("#:"), f"{limit} has no comment"


# --------------------------------------------------------------------------- large files


def test_a_5_mb_plain_file_reads_to_the_values_it_holds(tmp_path):
    root = mozaik_files.plain_literal(tmp_path, 5 * mozaik_files.MB)
    assert root.stat().st_size > 5 * 10**6
    assert read_parameters(root, base_dir=tmp_path) == mozaik_files.plain_rows(5 * mozaik_files.MB)


def test_a_50_mb_file_is_refused_unread_by_max_bytes(tmp_path):
    root = mozaik_files.big_file(tmp_path)
    message = refusal(root, tmp_path)
    assert f"{root}: more than {mozaik_format.MAX_BYTES:,} bytes" in message and "(MAX_BYTES)" in message


def test_max_bytes_counts_every_file_of_the_tree(tmp_path, monkeypatch):
    monkeypatch.setattr(mozaik_format.limits, "MAX_BYTES", 100)
    write(tmp_path, "inner", "{'x': '" + "x" * 60 + "'}")
    root = write(tmp_path, "params", "{'a': url('inner'), 'b': 'padding to 40 bytes.'}")
    message = refusal(root, tmp_path)
    assert f"inner: more than 100 bytes (files read before it: {root.stat().st_size} bytes)" in message
    assert "(MAX_BYTES)" in message


def test_a_yaml_file_past_max_yaml_bytes_is_refused(tmp_path):
    write(tmp_path, "big.yaml", "a: [" + "1, " * mozaik_format.MAX_YAML_BYTES + "]\n")
    message = refusal(write(tmp_path, "params", "{'a': url('big.yaml')}"), tmp_path)
    assert "big.yaml:" in message and "(MAX_YAML_BYTES)" in message


def test_the_literal_reader_reads_what_python_reads(tmp_path):
    """A large file is read by the literal reader: padded past AST_MAX_CHARS, the model's files read the same."""
    for model in ("mozaik", "lsv1m_style"):
        base = Path(__file__).parent / "data" / model
        for path in sorted((base / "param").iterdir()):
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".yaml":
                continue
            padded = text + "\n" + "#" * mozaik_format.AST_MAX_CHARS + "\n"
            assert literal_tree(padded, base) == ast_tree(text, base), path


# --------------------------------------------------------------------------- what errors show


def test_a_file_that_is_not_a_parameter_file_is_refused_without_its_content(tmp_path):
    secret = write(tmp_path, "secret.txt", "token: s3cr3t-value\nroot:x:0:0:root:/root:/bin/bash\n")
    for url in (str(secret), "/etc/passwd"):
        if not Path(url).is_file():
            continue
        message = refusal(write(tmp_path, "params", f"{{'a': url({url!r})}}"), tmp_path)
        assert f"{url}, line 1, column 1: not a single Python-literal expression starting with '{{'" in message
        assert "not shown" in message and "s3cr3t" not in message and "root:x:0:0" not in message
    assert "s3cr3t" not in refusal(secret, tmp_path)


@pytest.mark.parametrize("padding", [0, mozaik_format.AST_MAX_CHARS], ids=["python's parser", "literal reader"])
def test_an_error_quotes_the_offending_line_only(tmp_path, padding):
    text = "{\n 'a': 1,\n 'b': open('x'),\n 'c': 'the line after',\n}\n" + "#" * padding
    message = refusal(write(tmp_path, "params", text), tmp_path)
    assert "params, line 3, column 7" in message and "open(" in message
    assert "'a'" not in message and "the line after" not in message


@pytest.mark.parametrize(
    "text",
    [
        "{'" + "k" * 10_000 + "': 1, 'b': ref('" + "k" * 10_000 + ".x')}",  # a missing ref path
        "{'a': url('" + "u" * 10_000 + "')}",  # a name too long for the file system
        "{'a': url('" + "u/" * 5_000 + "x')}",  # a path too long, which does not exist
        "{'a': " + "n" * 10_000 + "}",  # a name
        "{'a': 1, 'b': ref('" + "c" * 10_000 + "'), '" + "c" * 10_000 + "': ref('b')}",  # a cycle
    ],
    ids=["ref path", "url", "url path", "name", "cycle"],
)
def test_a_long_string_of_the_file_is_shortened_in_messages(tmp_path, text):
    for padding in (0, mozaik_format.AST_MAX_CHARS):
        assert len(refusal(write(tmp_path, "params", text + "#" * padding), tmp_path)) < 400


@pytest.mark.parametrize("suffix", ["", ".yaml"])
def test_a_file_that_is_not_utf8_is_named_by_line_and_column(tmp_path, suffix):
    name = "latin" + suffix
    text = "a: 1\nb: 'caf\xe9'\n" if suffix else "{'a': 1,\n 'b': 'caf\xe9'}"
    write(tmp_path, name, text.encode("latin-1"))
    message = refusal(write(tmp_path, "params", f"{{'x': url({name!r})}}"), tmp_path)
    column = 8 if suffix else 11
    assert f"{name}, line 2, column {column}: not UTF-8 text (byte 0xe9" in message


def test_a_null_character_is_named_by_line_and_column(tmp_path):
    message = refusal(write(tmp_path, "params", "{'a': 1,\n 'b': 'x\0'}"), tmp_path)
    assert "params, line 2, column 9: a null character" in message
    message = refusal(write(tmp_path, "params", "{'a': url('x\\x00y')}"), tmp_path)  # escaped: a path with a null
    assert "params, line 1, column 7: url('x\\x00y'): cannot read: embedded null byte" in message


def test_a_memory_error_is_reported_as_out_of_memory(tmp_path, monkeypatch):
    root = write(tmp_path, "params", "{'a': 1, 'b': ref('a')}")

    def exhausted(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError

    monkeypatch.setattr(mozaik_format._Loader, "mozaik_tree", exhausted)
    assert refusal(root, tmp_path) == f"{root}: out of memory"
    monkeypatch.undo()
    monkeypatch.setattr(mozaik_format._Resolver, "resolve", exhausted)
    assert refusal(root, tmp_path) == "resolving references: out of memory"


def test_memory_running_out_in_a_child_is_reported_as_such(tmp_path):
    # 50 MB of address space: Python and the imports fit (about 41 MB), the 5 MB file does not (about 17 MB more).
    root = mozaik_files.plain_literal(tmp_path, 5 * mozaik_files.MB)
    result = mozaik_files.read_in_child(root, memory=50 * mozaik_files.MB)
    if result["outcome"] == "crashed" and "import" in result["message"]:
        pytest.skip(f"the child's imports do not fit in 50 MB here: {result['message'][-200:]}")
    assert result["outcome"] == "refused" and result["message"].endswith(f"{root}: out of memory"), result
    assert "nested" not in result["message"]


def test_repeated_keys_are_named_up_to_a_number(tmp_path):
    text = "{" + "'a': 1, " * (mozaik_format.REPEATED_KEY_WARNINGS + 5) + "}"
    with pytest.warns(MozaikFormatWarning) as caught:
        read_parameters(write(tmp_path, "params", text), base_dir=tmp_path)
    assert len(caught) == mozaik_format.REPEATED_KEY_WARNINGS + 1
    assert "not named" in str(caught[-1].message)


def test_a_file_included_at_two_depths_is_checked_at_both(tmp_path, monkeypatch):
    monkeypatch.setattr(mozaik_format.limits, "MAX_DEPTH", 6)
    write(tmp_path, "inner", "{'x': {'y': {'z': 1}}}")
    read_parameters(write(tmp_path, "params", "{'a': url('inner')}"), base_dir=tmp_path)
    message = refusal(write(tmp_path, "params", "{'a': url('inner'), 'b': [[[url('inner')]]]}"), tmp_path)
    assert "inner: url() includes nest the tree more than 6 deep (MAX_DEPTH)" in message


def test_resolve_refs_counts_what_it_makes(monkeypatch):
    # The root and its 2 keys, a's 10 values, b's refs, the value of ref('a') once, and a copy of it at each ref.
    monkeypatch.setattr(mozaik_format.limits, "MAX_NODES", 1 + 2 + 10 + 3 + 10 + 3 * 10)
    tree = {"a": list(range(10)), "b": [mozaik_format.Ref("a", "here")] * 3}
    assert resolve_refs(tree)["b"] == [list(range(10))] * 3
    tree["b"] = [mozaik_format.Ref("a", "here")] * 4
    with pytest.raises(MozaikFormatError, match="here: references make the tree more than 56 values"):
        resolve_refs(tree)


# --------------------------------------------------------------------------- the two readers, compared


def literal_tree(text: str, base: Path) -> Any:
    """The tree of ``text`` as the literal reader reads it (includes inlined), or the error it raises."""
    loader = mozaik_format._Loader(base)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = mozaik_format._LiteralReader(loader, "text", text).read(mozaik_format._expression_start(text, "text"), 0)
            return mozaik_format._inline(tree)
    except MozaikFormatError as exc:
        return exc


def ast_tree(text: str, base: Path) -> Any:
    """The tree of ``text`` as read with Python's parser (includes inlined), or the error raised."""
    loader = mozaik_format._Loader(base)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            body, shift = mozaik_format._parse(text, "text")
            return mozaik_format._inline(mozaik_format._FileReader(loader, "text", shift, text[shift:]).value(body))
    except MozaikFormatError as exc:
        return exc


KEYS = st.text(string.ascii_letters + "_", min_size=1, max_size=5)
BLANK = st.sampled_from(["", " ", "\n  ", "  # a comment\n ", "\t", " \\\n "])


@st.composite
def number(draw: st.DrawFn) -> str:
    value = draw(st.one_of(st.integers(-(10**20), 10**20), st.floats(allow_nan=False, width=64)))
    if isinstance(value, float):
        return draw(st.sampled_from([repr(value), f"{value:e}", f"{value:.3f}"])).replace("inf", "1e999")
    forms = [str(value)] + ([hex(value), f"{value:_}", f"0o{value:o}", f"{value}.", f"{value}e0"] if value >= 0 else [])
    return draw(st.sampled_from(forms))


@st.composite
def text_string(draw: st.DrawFn) -> str:
    value = draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6))
    literal = repr(value)
    prefix = draw(st.sampled_from(["", "u", "U"]))
    if "\\" not in literal and draw(st.booleans()):
        prefix = draw(st.sampled_from(["r", "R"]))
    if draw(st.booleans()):
        literal = literal[0] * 3 + literal[1:-1] + literal[0] * 3 if "\n" not in value else literal
    joined = draw(st.sampled_from(["", " 'x'", ' "\\ty"']))
    return prefix + literal + joined


@st.composite
def arithmetic(draw: st.DrawFn, paths: list[str]) -> str:
    operands = st.one_of(number(), st.just("pi"), st.sampled_from([f"ref({p!r})" for p in paths] or ["1"]))
    parts = [draw(operands)]
    for _ in range(draw(st.integers(1, 3))):
        parts += [draw(st.sampled_from([" + ", "-", " * ", "/", " ** ", "*-"])), draw(operands)]
    text = "".join(parts)
    return draw(st.sampled_from([text, f"({text})", f"-{text}", f"({text}) * 2"]))


@st.composite
def mozaik_value(draw: st.DrawFn, depth: int, paths: list[str]) -> str:
    atoms = [number(), text_string(), st.sampled_from(["True", "False", "None", "pi", "()"]), arithmetic(paths)]
    atoms.append(st.sampled_from([f"ref({p!r})" for p in paths] or ["1"]))
    atoms.append(st.tuples(st.sampled_from(["url", "ref"]), text_string()).map(lambda call: f"{call[0]}({call[1]})"))
    atoms.append(st.sampled_from([
        "PyNNDistribution('uniform', low=-1, high=2.5)", "NumpyRNG(seed=3)", "ParameterRange([1, 2.0])",
        "ParameterWithUnitsAndPeriod(0.5, units='rad', period=pi)", "ParameterTable('# a b\\nr 1 2')",
        "url('inc.yaml')", "url('inc')",
    ]))  # fmt: skip
    if depth < 3:
        items = st.lists(mozaik_value(depth + 1, paths), max_size=4)
        atoms += [
            items.map(lambda values: "[" + ", ".join(values) + "]"),
            items.map(lambda values: "(" + ", ".join(values) + ("," if len(values) == 1 else "") + ")"),
            mozaik_dict(depth + 1, paths),
            mozaik_dict(depth + 1, paths).map(lambda text: f"ParameterSet({text})"),
        ]
    return draw(st.one_of(atoms))


@st.composite
def mozaik_dict(draw: st.DrawFn, depth: int = 0, paths: list[str] | None = None) -> str:
    keys = draw(st.lists(KEYS, max_size=5))
    paths = paths if paths is not None else keys
    entries = [f"{draw(BLANK)}{key!r}{draw(BLANK)}:{draw(BLANK)}{draw(mozaik_value(depth, paths))}" for key in keys]
    return "{" + ",".join(entries) + draw(st.sampled_from(["", ",", ",\n"])) + draw(BLANK) + "}"


@st.composite
def yaml_with_aliases(draw: st.DrawFn) -> str:
    lines = [f"a: &a [{', '.join(draw(st.lists(st.sampled_from(['1', '2.5', 'x', 'null', 'true']), max_size=4)))}]"]
    for name in "bcd":
        previous = chr(ord(name) - 1)
        count = draw(st.integers(0, 12))
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * count)}]")
    lines.append(draw(st.sampled_from(["e: {x: *d}", "e: *a", "e: [*e]", "e: 2024-01-01", "e: !!binary aGk="])))
    return "\n".join(lines) + "\n"


MUTATIONS = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(list("()[]{},:'\"#\\ -+*/.0a=\n")), st.booleans()), max_size=3)


def mutated(text: str, mutations: list[tuple[int, str, bool]]) -> str:
    """``text`` with characters inserted or deleted at places: near-misses of the syntax."""
    for place, character, insert in mutations:
        place %= len(text) + 1
        text = text[:place] + character + text[place:] if insert else text[:place] + text[place + 1 :]
    return text


FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings(FUZZ)
@given(root=mozaik_dict(), included=mozaik_dict(), yaml_text=yaml_with_aliases(), mutations=MUTATIONS)
def test_fuzzed_files_are_read_or_refused_never_anything_else(tmp_path, root, included, yaml_text, mutations):
    write(tmp_path, "inc.yaml", yaml_text)
    write(tmp_path, "inc", included.replace("url('inc')", "1"))
    for text in (root, mutated(root, mutations)):
        path = write(tmp_path, "params", text)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                read_parameters(path, base_dir=tmp_path)
        except MozaikFormatError:
            pass


@FUZZ
@given(text=mozaik_dict(), yaml_text=yaml_with_aliases(), mutations=MUTATIONS)
def test_the_literal_reader_agrees_with_python_s_parser(tmp_path, text, yaml_text, mutations):
    write(tmp_path, "inc.yaml", yaml_text)
    write(tmp_path, "inc", "{'x': [1, (2,)], 'y': ref('x')}")
    literal, parsed = literal_tree(text, tmp_path), ast_tree(text, tmp_path)
    if isinstance(parsed, MozaikFormatError):  # refused for its values (a key, a call, a division by zero...)
        assert isinstance(literal, MozaikFormatError), (text, literal, parsed)
    else:
        assert literal == parsed, text
    near_miss = mutated(text, mutations)
    literal = literal_tree(near_miss, tmp_path)
    if not isinstance(literal, MozaikFormatError):  # what the literal reader reads, Python reads the same
        assert ast_tree(near_miss, tmp_path) == literal, near_miss


ARITHMETIC_LEAVES = st.one_of(
    st.sampled_from(["_0", "_1", "pi"]).map(lambda name: ast.Name(id=name, ctx=ast.Load())),
    st.one_of(st.integers(-3, 2**70), st.floats(allow_nan=True, allow_infinity=True)).map(lambda value: ast.Constant(value=value)),
)
ARITHMETIC = st.recursive(
    ARITHMETIC_LEAVES,
    lambda inner: st.one_of(
        st.builds(ast.UnaryOp, op=st.sampled_from([ast.USub(), ast.UAdd()]), operand=inner),
        st.builds(ast.BinOp, left=inner, op=st.sampled_from([ast.Add(), ast.Sub(), ast.Mult(), ast.Div(), ast.Pow()]), right=inner),
    ),
    max_leaves=12,
)


@given(node=ARITHMETIC)
def test_the_templates_are_spelled_as_ast_unparse_spells_them(node):
    # the reader's own spelling of a template (ten times faster: a model's every arithmetic on refs)
    assert mozaik_format.arithmetic.unparse_arithmetic(node) == ast.unparse(node)
    call = ast.Call(func=ast.Name(id="f", ctx=ast.Load()), args=[node], keywords=[])  # anything else: ast.unparse's own
    assert mozaik_format.arithmetic.unparse_arithmetic(ast.BinOp(left=call, op=ast.Add(), right=node)) == ast.unparse(
        ast.BinOp(left=call, op=ast.Add(), right=node)
    )
