"""mozaik's parameter format: the safe reader, refs, the writer, and the import into a Hydra config directory.

The model under tests/data/mozaik is a small multi-file mozaik tree: param/defaults (the root) includes
param/sheets, which includes param/exc_layer, which includes param/connection twice; param/recorders.yaml is a
YAML include; refs cross files and chain. Every other file a test needs is written into tmp_path.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from launcher.mozaik.parameter_files import (
    Expr,
    MozaikFormatError,
    MozaikFormatWarning,
    NumpyRNG,
    ParameterRange,
    ParameterWithUnitsAndPeriod,
    PyNNDistribution,
    Ref,
    evaluate_template,
    format_parameters,
    from_hydra,
    import_mozaik,
    read_parameters,
    resolve_refs,
    to_hydra,
    tuple_paths,
    write_parameters,
)

MODEL = Path(__file__).resolve().parent / "data" / "mozaik"
ROOT = MODEL / "param" / "defaults"
EXC_CELL_PARAMS = {
    "v_rest": -60.0, "v_reset": -60.0, "tau_refrac": 5.0, "tau_m": 20.0, "cm": 0.2,
    "e_rev_E": 0.0, "e_rev_I": -80.0, "v_thresh": -50.0, "tau_syn_E": 5.0, "tau_syn_I": 10.0,
}  # fmt: skip


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def read_text(tmp_path: Path, text: str, **kwargs) -> dict:
    """read_parameters of a file holding ``text``, url() paths relative to tmp_path."""
    return read_parameters(write(tmp_path, "params", text), base_dir=tmp_path, **kwargs)


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(MozaikFormatError) as info:
        read_text(tmp_path, text)
    return str(info.value)


def sorted_tree(value):
    """``value`` with the keys of every dict in sorted order, to compare reprs whatever the order of keys."""
    if isinstance(value, dict):
        return {key: sorted_tree(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return type(value)(sorted_tree(item) for item in value)
    return value


@pytest.fixture(scope="module")
def model() -> dict:
    return read_parameters(ROOT, base_dir=MODEL)


# --------------------------------------------------------------------------- reading


def test_reads_every_file_of_the_tree(model):
    assert model["name"] == "VogelsAbbott"
    assert (model["pynn_seed"], model["time_step"], model["max_delay"], model["results_dir"]) == (936395, 0.1, 100, "")
    exc = model["sheets"]["exc_layer"]  # url() inside a url()-included file
    assert exc["params"]["cell"]["params"] == EXC_CELL_PARAMS
    assert exc["ExcExcConnection"]["local"]["weights"] == {"sigma": 500.0, "power": 0.5}  # 1000/2, 2 ** -1
    assert exc["ExcExcConnection"]["local"] == exc["ExcInhConnection"]["local"]  # the same file at two places
    assert model["recorders"] == {"v_cells": 10, "spikes": "all", "variables": ["v", "gsyn_exc"]}  # the YAML include
    assert model["note"] == "a # inside a string is not a comment; ${not_an_interpolation} \\${either}"


def test_arithmetic_pi_and_tuples(model):
    assert model["pi_multiples"] == [2 * math.pi, math.pi / 2, -math.pi / 4, math.pi]
    assert model["window"] == (-8, 0.5)  # tuples stay tuples, as mozaik's eval gives them
    connection = model["sheets"]["inh_layer"]["InhExcConnection"]
    assert connection["angles"] == [0, math.pi / 2, -math.pi / 4]
    assert [connection[key] for key in ("pair", "single", "off", "flag")] == [(1, 2), (7,), None, True]


def test_special_constructs_are_data(model):
    inh = model["sheets"]["inh_layer"]
    assert inh["params"]["cell"]["initial_values"]["v"] == PyNNDistribution("uniform", {"low": -60, "high": -50})
    # the name may be positional
    assert model["sheets"]["exc_layer"]["params"]["cell"]["initial_values"]["v"] == PyNNDistribution(
        name="uniform", params={"low": -60, "high": -50}
    )
    assert inh["InhExcConnection"]["orientation"] == ParameterWithUnitsAndPeriod(0.0, units="rad", period=math.pi)
    assert inh["InhExcConnection"]["weights"] == PyNNDistribution(
        "normal", {"mu": 0.05, "sigma": 0.01, "rng": NumpyRNG(seed=5, parallel_safe=False)}
    )
    assert model["rng"] == NumpyRNG(seed=1023)
    assert model["trial_durations"] == ParameterRange([100, 250.0, 500.0])


# --------------------------------------------------------------------------- refs


def test_refs_resolve_against_the_root_across_files_and_chains(model):
    sheets = model["sheets"]
    assert sheets["inh_layer"]["params"]["cell"]["params"] == EXC_CELL_PARAMS  # a whole subtree of another file
    assert sheets["inh_layer"]["InhExcConnection"]["base_delay"] == 2.0
    assert sheets["exc_layer"]["ExcInhConnection"]["base_delay"] == 2.0  # ref -> ref -> value
    assert sheets["inh_layer"]["params"]["recorded_v"] == 10  # into the YAML include
    for name in ("ExcExcConnection", "ExcInhConnection"):  # from the root wherever the file is included
        assert sheets["exc_layer"][name]["local"]["delay"] == 0.1


def test_resolved_values_are_copies(model):
    tree = read_parameters(ROOT, base_dir=MODEL)
    tree["sheets"]["inh_layer"]["params"]["cell"]["params"]["tau_m"] = 1.0
    assert tree["sheets"]["exc_layer"]["params"]["cell"]["params"]["tau_m"] == 20.0


def test_unresolved_refs_stay_markers():
    tree = read_parameters(ROOT, base_dir=MODEL, resolve=False)
    assert tree["sheets"]["inh_layer"]["params"]["cell"]["params"] == Ref("sheets.exc_layer.params.cell.params")
    assert resolve_refs(tree) == read_parameters(ROOT, base_dir=MODEL)


def test_ref_through_a_ref_and_to_a_subtree_holding_refs(tmp_path):
    tree = read_text(tmp_path, "{'x': ref('y'), 'y': {'z': 1, 'w': ref('v')}, 'v': 2, 'a': ref('x.z'), 'b': ref('x')}")
    assert (tree["a"], tree["b"]) == (1, {"z": 1, "w": 2})


def test_missing_ref_names_the_path_and_where_it_stands(tmp_path):
    message = refused(tmp_path, "{\n  'a': {'b': 1},\n  'c': ref('a.nope.d'),\n}")
    assert "params, line 3, column 8" in message and "ref('a.nope.d')" in message and "no key 'nope' under a" in message


@pytest.mark.parametrize(
    "text, cycle",
    [
        ("{'a': ref('b'), 'b': ref('c'), 'c': ref('a')}", "b -> c -> a -> b"),
        ("{'a': {'x': 1, 'y': ref('a')}}", "a -> a"),  # a ref inside the value it names
        ("{'a': ref('a.b')}", "a.b -> a.b"),
    ],
)
def test_ref_cycle_is_an_error_naming_it(tmp_path, text, cycle):
    message = refused(tmp_path, text)
    assert "reference cycle" in message and cycle in message and "params, line 1" in message


# --------------------------------------------------------------------------- arithmetic on refs

ARITHMETIC = """{
    'K': 2300, 'ratio': 0.22, 'tau': 1.5, 'zero': 0, 'name': 'x', 'sub': {'v': 1},
    'samples': ref('K')*4/5*(1-ref('ratio')),
    'negative': -ref('K'), 'square': ref('K')**2, 'quotient': ref('K')/ref('ratio'), 'scaled': 1.5 * ref('tau'),
    'of_arithmetic': ref('samples') * ref('ratio'),     # a ref to arithmetic
    'on_a_chain': ref('alias') * 2, 'alias': ref('K'),  # arithmetic on a ref to a ref
    'twice': ref('K') * (2 * pi) + ref('K') * ref('K'), 'power_of': 2 ** -ref('tau'),
    'in_list': [ref('K') + 1, (ref('tau') / 2,)],
    'copy': ref('samples'),
}"""


def test_arithmetic_on_refs_stays_data_until_refs_are_resolved(tmp_path):
    tree = read_text(tmp_path, ARITHMETIC, resolve=False)
    assert tree["samples"] == Expr("_0 * 4 / 5 * (1 - _1)", (Ref("K"), Ref("ratio")))
    assert tree["samples"].where == f"{tmp_path / 'params'}, line 3, column 16"
    assert tree["twice"] == Expr("_0 * (2 * pi) + _0 * _0", (Ref("K"),))  # one operand per path
    assert tree["negative"] == Expr("-_0", (Ref("K"),)) and tree["copy"] == Ref("samples")
    assert tree["in_list"] == [Expr("_0 + 1", (Ref("K"),)), (Expr("_0 / 2", (Ref("tau"),)),)]


def test_arithmetic_on_refs_is_computed_when_they_are_resolved(tmp_path):
    tree = read_text(tmp_path, ARITHMETIC)
    K, ratio, tau = 2300, 0.22, 1.5
    samples = K * 4 / 5 * (1 - ratio)
    assert (tree["samples"], tree["copy"], tree["of_arithmetic"]) == (samples, samples, samples * ratio)
    assert (tree["negative"], tree["square"], tree["quotient"], tree["scaled"]) == (-K, K**2, K / ratio, 1.5 * tau)
    assert (tree["on_a_chain"], tree["twice"], tree["power_of"]) == (2 * K, K * (2 * math.pi) + K * K, 2**-tau)
    assert tree["in_list"] == [K + 1, (tau / 2,)]
    assert type(tree["square"]) is int and type(tree["samples"]) is float


@pytest.mark.parametrize(
    "text, words",
    [
        ("{'a': ref('a') + 1}", ["params, line 1, column 7: ref('a'): reference cycle: a -> a"]),
        ("{'a': ref('b') * 2, 'b': ref('a') / 2}", ["reference cycle: b -> a -> b"]),
        ("{'a': 'x', 'b': ref('a') * 2}", ["line 1, column 17: ref('a') * 2: ref('a') is not a number", "str 'x'"]),
        ("{'a': {'v': 1},\n 'b': 1 + ref('a')}", ["line 2, column 7: 1 + ref('a'): ref('a') is not a number", "dict"]),
        ("{'a': True, 'b': ref('a') * 2}", ["ref('a') is not a number (int or float) but bool True"]),
        ("{'a': 0, 'b': 1 / ref('a')}", ["1 / ref('a'): arithmetic error (division by zero)"]),
        ("{'a': 9, 'b': ref('a') ** 9 ** 9}", ["ref('a') ** 9 ** 9: result too large"]),
        ("{'a': -8, 'b': ref('a') ** 0.5}", ["result is not a real number"]),
        ("{'a': 1, 'b': ref('nope') * 2}", ["line 1, column 15: ref('nope'): no key 'nope' under the root"]),
    ],
)
def test_arithmetic_that_cannot_be_computed_is_an_error_saying_why(tmp_path, text, words):
    read_text(tmp_path, text, resolve=False)  # reading is fine: the refs' values are not known yet
    message = refused(tmp_path, text)
    assert all(word in message for word in words), message


@pytest.mark.parametrize(
    "expression, words",
    [
        ("ref('a') * (1 / 0)", "line 1, column 27: arithmetic error (division by zero): 1 / 0"),  # found when reading
        ("ref('a') * 9 ** 9 ** 9", "result too large"),
        ("ref('a') + 'x'", "str constant not allowed in arithmetic (only numbers, pi, ref()"),
        ("ref('a') // 2", "operator not allowed in arithmetic"),
        ("ref('a') * open('x')", "call of open() not allowed in arithmetic"),
        ("ref('a') * ref(1)", "ref() takes one string argument"),
        ("PyNNDistribution('uniform', low=ref('a') * 2)", "call of ref() not allowed in the arguments of a call"),
    ],
)
def test_arithmetic_on_refs_is_refused_when_reading_where_it_cannot_be_data(tmp_path, expression, words):
    assert words in refused(tmp_path, "{'a': 1, 'b': " + expression + "}")


def test_expr_checks_its_template_and_keeps_one_spelling():
    assert Expr("_0*4/(5)", (Ref("a"),)) == Expr("_0 * 4 / 5", (Ref("a"),))
    assert Expr("_0*4", (Ref("a"),)).template == "_0 * 4"
    for template in ["_1", "__import__('os')", "_0.real", "_0 if 1 else 2", "(_0)()", "_0 // 2", "'a'", "_01", "x"]:
        with pytest.raises(ValueError, match="not allowed|does not parse"):
            Expr(template, (Ref("a"),))
    with pytest.raises(ValueError, match="one Ref or more"):
        Expr("1", ())


def test_evaluate_template_computes_on_the_syntax_tree_only():
    assert evaluate_template("_0 * 4 / 5 * (1 - _1)", [2300, 0.22]) == 2300 * 4 / 5 * (1 - 0.22)
    assert evaluate_template("-_0 ** 2 + pi", [3]) == -9 + math.pi
    with pytest.raises(ValueError, match="K is not a number \\(int or float\\) but str '1'"):
        evaluate_template("_0 + 1", ["1"], ["K"])
    with pytest.raises(ValueError, match="not allowed"):
        evaluate_template("().__class__", [])
    with pytest.raises(ValueError, match="division by zero"):
        evaluate_template("_0 / _1", [1, 0.0])



FORBIDDEN = [
    # (expression, words the message must hold)
    ("__import__('os').system('touch /tmp/pwned')", "call of __import__('os').system()"),
    ("__import__('os')", "call of __import__()"),
    ("open('/etc/passwd').read()", "call of open('/etc/passwd').read()"),
    ("open('/etc/passwd')", "call of open()"),
    ("eval('1 + 1')", "call of eval()"),
    ("exec('x = 1')", "call of exec()"),
    ("compile('1', 'f', 'exec')", "call of compile()"),
    ("getattr(pi, 'real')", "call of getattr()"),
    ("os.system", "attribute access"),
    ("pi.real", "attribute access"),
    ("os", "name 'os'"),
    ("__builtins__", "name '__builtins__'"),
    ("[x for x in range(3)]", "comprehension"),
    ("{k: 1 for k in 'ab'}", "comprehension"),
    ("(x for x in 'ab')", "generator expression"),
    ("lambda: 1", "lambda"),
    ("(lambda: 1)()", "call of lambda: 1()"),
    ("f'{pi}'", "f-string"),
    ("[1, 2][0]", "subscript"),
    ("{1, 2}", "set"),
    ("1 if True else 2", "conditional expression"),
    ("True and False", "boolean operator"),
    ("1 < 2", "comparison"),
    ("(x := 1)", "assignment expression"),
    ("[*'ab']", "unpacking"),
    ("{**{'a': 1}}", "dict unpacking"),
    ("b'bytes'", "bytes constant"),
    ("1j", "complex constant"),
    ("...", "ellipsis constant"),
    ("'a' + 'b'", "str constant not allowed in arithmetic"),
    ("-True", "bool constant not allowed in arithmetic"),
    ("7 // 2", "operator not allowed in arithmetic"),
    ("not 1", "operator not allowed in arithmetic"),
    ("url(ref('a'))", "call of ref() not allowed in the arguments"),
    ("PyNNDistribution('uniform', low=open('x'))", "call of open() not allowed in the arguments"),
    ("PyNNDistribution(**{'name': 'uniform'})", "keyword unpacking"),
    ("PyNNDistribution()", "bad arguments to PyNNDistribution()"),
    ("NumpyRNG(seed='x')", "seed must be int or NoneType"),
    ("ParameterRange(3)", "values must be list"),
    ("ParameterWithUnitsAndPeriod(1, units=2)", "units must be str or NoneType"),
    ("url(1)", "url() takes one string argument"),
    ("url('a', 'b')", "url() takes one string argument"),
    ("url(path='a')", "url() takes one string argument"),
    ("ref(('a', 'b'))", "ref() takes one string argument"),
    ("url('http://example.org/params')", "only local files"),
    ("ref('')", "bad arguments to ref()"),
    ("ref('a..b')", "bad arguments to ref()"),
    ("9 ** 9 ** 9", "result too large"),
    ("1 / 0", "arithmetic error"),
    ("(-8) ** 0.5", "not a real number"),
    ("10.0 ** 400", "arithmetic error"),
    ("{1: 'a'}", "int constant not allowed as a key"),
    ("{'a.b': 1}", "non-empty string without '.'"),
    ("ParameterSet('param/other')", "ParameterSet() takes a dict, not str"),
    ("ParameterSet({'a': 1}, label='x')", "ParameterSet() takes one argument here"),
    ("ParameterSet(url('x'))", "no such file"),
    ("ParameterTable([1, 2])", "ParameterTable() takes a dict or a table string, not list"),
    ("ParameterTable('')", "ParameterTable string holds no rows"),
    ("ParameterTable('# a b')", "ParameterTable string holds no rows"),
    ("ParameterTable('# a b\\nr1 1 x')", "row 'r1', column 'b': 'x' is not a number"),
    ("ParameterTable('# a\\nr1 1\\n\\nr2 2')", "line 3 of the table is empty"),
    ("ParameterTable('# a.b\\nr1 1')", "ParameterTable label 'a.b'"),
    ("PyNNDistribution('uniform', low=ParameterTable('x'))", "ParameterTable string holds no rows"),
]


@pytest.mark.parametrize("expression, words", FORBIDDEN, ids=[f[0] for f in FORBIDDEN])
def test_forbidden_constructs_are_refused_with_file_line_and_construct(tmp_path, expression, words):
    message = refused(tmp_path, f"# a comment\n{{\n    'ok': 1,\n    'bad': {expression},\n}}\n")
    assert f"{tmp_path / 'params'}, line 4" in message
    assert words in message


def test_parameter_set_and_parameter_table_are_dicts(tmp_path):
    tree = read_text(
        tmp_path,
        "{'set': ParameterSet({'a': 1, 'inner': ParameterSet({'b': ref('set.a')})}),\n"
        " 'again': ParameterSet(ParameterSet({'c': (1,)})),\n"
        " 'table': ParameterTable(\"\"\"\n"
        "     #      exc    inh\n"
        "     L4     1      2.5e1   # surplus words are ignored, as parameters.string_table ignores them\n"
        "     L23    -3     inf\n"
        "     L4     7      8\n"
        " \"\"\"),\n"
        " 'from_dict': ParameterTable({'row': {'col': 1}}),\n"
        " 'rng': PyNNDistribution('uniform', low=0, params=ParameterSet({'x': 1}))}",
    )
    assert tree["set"] == {"a": 1, "inner": {"b": 1}}
    assert tree["again"] == {"c": (1,)}
    # the last row of a repeated label wins, in the place of the first; every value goes through float()
    assert tree["table"] == {"L4": {"exc": 7.0, "inh": 8.0}, "L23": {"exc": -3.0, "inh": math.inf}}
    assert list(tree["table"]) == ["L4", "L23"] and type(tree["table"]["L4"]["exc"]) is float
    assert tree["from_dict"] == {"row": {"col": 1}}
    assert tree["rng"] == PyNNDistribution("uniform", {"low": 0, "params": {"x": 1}})


def test_leading_spaces_and_tabs_are_skipped_as_eval_skips_them(tmp_path):
    assert read_text(tmp_path, " \t  {'a': 1,\n 'b': 2}\n") == {"a": 1, "b": 2}
    message = refused(tmp_path, "\t   {'a': os}")
    assert "params, line 1, column 11: name 'os'" in message  # the column counts the skipped characters
    assert "line 1, column 6" in refused(tmp_path, "    {'a' 1}")  # a syntax error too (at 'a')
    # eval() skips them only at the very start: an indented first line after a comment is refused, as by eval()
    assert "not a single Python-literal expression" in refused(tmp_path, "# comment\n  {'a': 1}")


def test_a_repeated_key_keeps_the_last_value_with_a_warning(tmp_path):
    with pytest.warns(MozaikFormatWarning) as caught:
        tree = read_text(tmp_path, "{'a': 1, 'b': 2,\n 'a': {'x': ref('b')}}")
    assert tree == {"a": {"x": 2}, "b": 2} and list(tree) == ["a", "b"]  # as eval() has it: the first key's place
    assert [str(w.message) for w in caught] == [
        f"{tmp_path / 'params'}, line 2, column 2: key 'a' repeated in the same dict: the last value is kept"
    ]
    # the value that loses is still read: eval() would run it
    assert "call of open()" in refused(tmp_path, "{'a': open('x'), 'a': 1}")


def test_column_and_shortened_construct_are_named(tmp_path):
    long_call = "__import__('os').system('" + "x" * 200 + "')"
    message = refused(tmp_path, f"{{'ok': 1,\n 'deep': {{'list': [1, {long_call}]}}}}")
    assert "line 2, column 23" in message
    assert message.endswith("...") and len(message.splitlines()[-1]) < 400


@pytest.mark.parametrize(
    "code",
    [
        "__import__('os').system('touch {marker}')",
        "[__import__('os').system('touch {marker}') for _ in [1]]",
        "(lambda: __import__('os').system('touch {marker}'))()",
        "open('{marker}', 'w')",
        "url(__import__('os').system('touch {marker}'))",
        "PyNNDistribution('uniform', low=__import__('os').system('touch {marker}'))",
    ],
)
def test_hostile_code_never_runs(tmp_path, code):
    marker = tmp_path / "pwned"
    pwned_before = os.path.exists("/tmp/pwned")
    refused(tmp_path, "{'a': " + code.format(marker=marker) + ", 'b': __import__('os').system('touch /tmp/pwned')}")
    assert not marker.exists()
    assert os.path.exists("/tmp/pwned") == pwned_before


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("import os\n{'a': 1}", 1, "not a single Python-literal expression"),
        ("{'a': 1}\n{'b': 2}", 2, "not a single Python-literal expression"),
        ("a = {'b': 1}", 1, "not a single Python-literal expression"),
        ("{'a': 1,\n 'b': }", 2, "not a single Python-literal expression"),
    ],
)
def test_a_file_must_be_one_expression(tmp_path, text, line, words):
    message = refused(tmp_path, text)
    assert f"params, line {line}" in message and words in message


@pytest.mark.parametrize("text", ["[1, 2]", "'a string'", "ref('a')", "None"])
def test_a_file_must_hold_a_dict(tmp_path, text):
    assert "a parameter file holds a dict" in refused(tmp_path, text)


def test_errors_in_an_included_file_name_that_file_and_line(tmp_path):
    write(tmp_path, "sub/inner", "{\n  'x': 1,\n  'y': os.getcwd(),\n}")
    message = refused(tmp_path, "{'inner': url('sub/inner')}")
    assert f"{tmp_path / 'sub' / 'inner'}, line 3, column 8: call of os.getcwd()" in message


@pytest.mark.parametrize("text", ["{'a': " + "+".join(["1"] * 100_000) + "}", "{'a': " + "[" * 300 + "]" * 300 + "}"])
def test_deep_nesting_is_an_error_not_a_crash(tmp_path, text):
    assert "params" in refused(tmp_path, text)


def test_a_yaml_include_is_read_safely(tmp_path):
    marker = tmp_path / "pwned"
    write(tmp_path, "evil.yaml", f"a: !!python/object/apply:os.system ['touch {marker}']\n")
    assert "not valid YAML" in refused(tmp_path, "{'x': url('evil.yaml')}")
    write(tmp_path, "dated.yml", "a: {when: 2024-01-01}\n")
    assert "dated.yml: a.when: date is not a parameter value" in refused(tmp_path, "{'x': url('dated.yml')}")
    write(tmp_path, "keys.yaml", "a: {1: x}\n")
    assert "keys.yaml: a: key 1: a key is a non-empty string" in refused(tmp_path, "{'x': url('keys.yaml')}")
    write(tmp_path, "list.yaml", "[1, 2]\n")
    assert "a parameter file holds a dict, not list" in refused(tmp_path, "{'x': url('list.yaml')}")
    assert not marker.exists()


# --------------------------------------------------------------------------- includes


def test_include_cycle_names_the_chain(tmp_path):
    write(tmp_path, "a", "{'b': url('b')}")
    write(tmp_path, "b", "{'x': 1, 'a': url('a')}")
    message = refused(tmp_path, "{'a': url('a')}")
    assert "include cycle" in message and f"{tmp_path / 'a'} -> {tmp_path / 'b'} -> {tmp_path / 'a'}" in message
    assert f"{tmp_path / 'b'}, line 1, column 15: url('a')" in message


def test_a_file_including_itself_is_a_cycle(tmp_path):
    assert "include cycle" in refused(tmp_path, "{'me': url('params')}")


def test_missing_include_names_the_file_and_the_url(tmp_path):
    message = refused(tmp_path, "{\n  'a': url('param/nope'),\n}")
    assert "params, line 2, column 8: url('param/nope'): no such file" in message
    assert str(tmp_path / "param" / "nope") in message


def test_missing_root_file(tmp_path):
    with pytest.raises(MozaikFormatError, match="no such parameter file"):
        read_parameters(tmp_path / "nope")


def test_urls_are_relative_to_the_working_directory_unless_base_dir_is_given(tmp_path, monkeypatch, model):
    monkeypatch.chdir(MODEL)
    assert read_parameters("param/defaults") == model  # as mozaik runs: from the model directory
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MozaikFormatError, match=f"url\\('param/sheets'\\): no such file {tmp_path / 'param'}"):
        read_parameters(ROOT)
    assert read_parameters(ROOT, base_dir=MODEL) == model
    monkeypatch.chdir(MODEL / "param")
    assert read_parameters("defaults", base_dir="..") == model  # a relative base_dir, from the working directory


def test_absolute_urls_and_names_with_spaces_and_quotes(tmp_path, monkeypatch):
    odd = tmp_path / "it's a \"dir\"" / "sub params"
    write(odd.parent, odd.name, "{'v': 1}")
    root = write(tmp_path, "root", "{'abs': url(%r), 'rel': url('file://root2')}" % str(odd))
    write(tmp_path, "root2", "{'w': 2}")
    monkeypatch.chdir(tmp_path)
    assert read_parameters(root) == {"abs": {"v": 1}, "rel": {"w": 2}}


# --------------------------------------------------------------------------- writing


def test_writer_round_trips_the_model(tmp_path, model):
    for resolve in (True, False):
        tree = read_parameters(ROOT, base_dir=MODEL, resolve=resolve)
        path = tmp_path / f"it's a \"quoted\" dir {resolve}" / "param defaults"
        write_parameters(tree, path)
        again = read_parameters(path, base_dir=tmp_path, resolve=resolve)
        assert again == tree and repr(again) == repr(tree)  # repr: also the types (tuple/list, int/float)
    assert "PyNNDistribution(name='uniform', low=-60, high=-50)" in path.read_text()
    assert "ref('sheets.exc_layer.params.cell.params')" in path.read_text()


def test_writer_writes_arithmetic_on_refs_as_mozaik_reads_it(tmp_path):
    tree = read_text(tmp_path, ARITHMETIC, resolve=False)
    text = format_parameters(tree)
    assert "'samples': ref('K') * 4 / 5 * (1 - ref('ratio'))," in text
    assert "'twice': ref('K') * (2 * pi) + ref('K') * ref('K')," in text
    write_parameters(tree, tmp_path / "written")
    again = read_parameters(tmp_path / "written", resolve=False)
    assert again == tree and repr(again) == repr(tree)
    assert resolve_refs(again) == read_text(tmp_path, ARITHMETIC)


def test_writer_layout():
    tree = {"a": {"b": 1, "c": [1, (2,)], "d": {}}, "l": [{"x": Ref("a.b")}], "p": PyNNDistribution("uniform", {})}
    assert format_parameters(tree) == (
        "{\n"
        "    'a': {\n"
        "        'b': 1,\n"
        "        'c': [\n"
        "            1,\n"
        "            (2,),\n"
        "        ],\n"
        "        'd': {},\n"
        "    },\n"
        "    'l': [\n"
        "        {\n"
        "            'x': ref('a.b'),\n"
        "        },\n"
        "    ],\n"
        "    'p': PyNNDistribution(name='uniform'),\n"
        "}\n"
    )


def test_writer_round_trips_awkward_values(tmp_path):
    tree = {
        "floats": [0.1 + 0.2, 1e-300, 1e16, 5e-324, 1.7976931348623157e308, -0.0, math.inf, -math.inf, 2.5],
        "ints": [0, -1, 10**40],
        "strings": ["it's", 'say "hi"', "back\\slash", "new\nline\ttab", "ünïcødé 日本", "", "${x}", "# no comment"],
        "tuples": [(), (1,), ((1, 2), [3, {"a": (4,)}])],
        "nested": [{"a": 1}, [], {}, [[{"b": None}]]],
        "empty": {},
        "ranges": ParameterRange([1, 2.5, (3, 4)]),
        "units": ParameterWithUnitsAndPeriod(1),
        "rng": NumpyRNG(),
        "dist": PyNNDistribution("normal", {"mu": -0.5, "rng": NumpyRNG(3, False)}),
    }
    path = tmp_path / "dir with 'quotes' and \"double\" quotes" / "round trip"
    write_parameters(tree, path)
    again = read_parameters(path)
    assert again == tree and repr(again) == repr(tree)
    assert math.copysign(1, again["floats"][5]) == -1


@pytest.mark.parametrize(
    "tree, words",
    [
        ({"a": math.nan}, "nan"),
        ({1: "a"}, "cannot be a key"),
        ({"a.b": 1}, "cannot be a key"),
        ({"a": {1, 2}}, "set"),
        ({"a": object()}, "object"),
        ({"a": PyNNDistribution("uniform", {"not an identifier": 1})}, "keyword argument"),
    ],
)
def test_writer_refuses_what_has_no_form(tmp_path, tree, words):
    with pytest.raises(MozaikFormatError, match=words):
        write_parameters(tree, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- Hydra


def composed(config_dir: Path, *overrides: str) -> dict:
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir)):
        cfg = compose("config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


@pytest.fixture(scope="module")
def hydra_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hydra") / "conf"
    assert import_mozaik(ROOT, out, base_dir=MODEL) == out / "config.yaml"
    return out


def test_import_writes_one_config_per_file(hydra_dir):
    files = sorted(str(p.relative_to(hydra_dir)) for p in hydra_dir.rglob("*.yaml"))
    assert files == [
        "config.yaml", "param/connection.yaml", "param/exc_layer.yaml", "param/recorders.yaml", "param/sheets.yaml",
    ]  # fmt: skip
    config = OmegaConf.load(hydra_dir / "config.yaml")
    assert list(config.defaults) == ["_self_", "/param/sheets@sheets", "/param/recorders@recorders"]
    exc_layer = OmegaConf.load(hydra_dir / "param" / "exc_layer.yaml")
    assert list(exc_layer.defaults) == [
        "_self_", "/param/connection@ExcExcConnection.local", "/param/connection@ExcInhConnection.local",
    ]  # fmt: skip
    sheets = OmegaConf.load(hydra_dir / "param" / "sheets.yaml")
    # ref() of a whole dict: a copy of refs to its leaves (mozaik copies the node a ref() names)
    copied = OmegaConf.to_container(sheets.inh_layer.params.cell)["params"]
    exc_params = OmegaConf.to_container(exc_layer.params.cell)["params"]
    assert copied == {key: "${sheets.exc_layer.params.cell.params." + key + "}" for key in exc_params}
    assert OmegaConf.to_container(sheets.inh_layer.params.cell.initial_values.v) == {
        "_type": "PyNNDistribution", "name": "uniform", "params": {"low": -60, "high": -50},
    }  # fmt: skip


def test_composed_tree_equals_the_mozaik_tree(hydra_dir, model):
    assert composed(hydra_dir) == to_hydra(model)


def test_composed_tree_writes_back_to_mozaik(hydra_dir, model, tmp_path):
    write_parameters(from_hydra(composed(hydra_dir)), tmp_path / "defaults")
    assert to_hydra(read_parameters(tmp_path / "defaults")) == to_hydra(model)


def test_composed_tree_writes_back_with_its_tuples(hydra_dir, model, tmp_path):
    paths = tuple_paths(model)
    assert paths == ["sheets.inh_layer.InhExcConnection.pair", "sheets.inh_layer.InhExcConnection.single", "window"]
    write_parameters(from_hydra(composed(hydra_dir), tuples=paths), tmp_path / "defaults")
    again = read_parameters(tmp_path / "defaults")
    # == tells a tuple from a list; the repr of the tree in key order also ints from floats (Hydra puts the keys of
    # an included config after the including file's own)
    assert again == model and repr(sorted_tree(again)) == repr(sorted_tree(model))


def test_tuple_paths_and_from_hydra_give_tuples_back():
    tree = {
        "a": (1, (2,), [3, (4,)], {"b": ()}),
        "d": PyNNDistribution("normal", {"t": (1, 2), "rng": NumpyRNG(1)}),
        "r": ParameterRange([(1, 2), 3]),
        "l": [{"t": ("x",)}, []],
        "1": {"0": (5,)},  # keys that look like indices
    }
    paths = tuple_paths(tree)
    assert paths == ["a", "a.1", "a.2.1", "a.3.b", "d.params.t", "r.values.0", "l.0.t", "1.0"]
    back = from_hydra(to_hydra(tree), tuples=paths)
    assert back == tree and repr(back) == repr(tree)
    assert repr(from_hydra(to_hydra(tree))) != repr(tree)  # without the paths, lists
    assert from_hydra({"a": 1, "b": [1]}, tuples=["a", "c"]) == {"a": 1, "b": [1]}  # what is no list stays


def test_overrides_on_the_composed_tree(hydra_dir):
    tree = composed(hydra_dir, "sheets.inh_layer.params.density=100", "sheets.exc_layer.params.cell.params.tau_m=7")
    assert tree["sheets"]["inh_layer"]["params"]["density"] == 100
    # a ref to a subtree follows its source
    assert tree["sheets"]["inh_layer"]["params"]["cell"]["params"]["tau_m"] == 7


def test_a_change_under_a_ref_to_a_subtree_changes_that_copy_alone(hydra_dir):
    # A ref() to a subtree names a copy of it (parameters' tree_copy when references are expanded):
    # a change under it changes the copy alone (mozaik itself refuses it, see tests/test_references.py);
    # the subtree's own keys still reach the copy.
    tree = composed(hydra_dir, "sheets.inh_layer.params.cell.params.tau_m=5")
    inh, exc = (tree["sheets"][layer]["params"]["cell"]["params"] for layer in ("inh_layer", "exc_layer"))
    assert inh["tau_m"] == 5 and exc["tau_m"] == 20.0
    assert {k: v for k, v in inh.items() if k != "tau_m"} == {k: v for k, v in exc.items() if k != "tau_m"}
    tree = composed(hydra_dir, "sheets.exc_layer.params.cell.params.tau_m=7")
    assert tree["sheets"]["inh_layer"]["params"]["cell"]["params"]["tau_m"] == 7


def test_interpolations_follow_their_source_through_chains(hydra_dir):
    tree = composed(hydra_dir, "sheets.exc_layer.ExcExcConnection.base_delay=3.5", "min_delay=0.2")
    assert tree["sheets"]["inh_layer"]["InhExcConnection"]["base_delay"] == 3.5
    assert tree["sheets"]["exc_layer"]["ExcInhConnection"]["base_delay"] == 3.5  # ref -> ref
    for name in ("ExcExcConnection", "ExcInhConnection"):  # the file included twice, both places
        assert tree["sheets"]["exc_layer"][name]["local"]["delay"] == 0.2


def test_arithmetic_on_refs_follows_overrides_in_hydra(tmp_path):
    write(tmp_path / "model", "root", ARITHMETIC)
    import_mozaik(tmp_path / "model" / "root", tmp_path / "conf", base_dir=tmp_path / "model")
    config = OmegaConf.load(tmp_path / "conf" / "config.yaml")
    assert OmegaConf.to_container(config)["samples"] == "${mozaik_expr:'_0 * 4 / 5 * (1 - _1)',${K},${ratio}}"
    assert composed(tmp_path / "conf") == read_text(tmp_path, ARITHMETIC, resolve=True) | {"in_list": [2301, [0.75]]}
    tree = composed(tmp_path / "conf", "K=3000", "tau=2")
    assert tree["samples"] == 3000 * 4 / 5 * (1 - 0.22) and tree["of_arithmetic"] == tree["samples"] * 0.22
    assert (tree["on_a_chain"], tree["negative"], tree["power_of"]) == (6000, -3000, 0.25)
    assert tree["in_list"] == [3001, [1.0]]
    assert composed(tmp_path / "conf", "alias=5")["on_a_chain"] == 10  # an override of a ref replaces the ref
    not_a_number = "mozaik_expr '_0 \\* 2': argument _0 is not a number \\(int or float\\) but str 'abc'"
    with pytest.raises(Exception, match=not_a_number):
        composed(tmp_path / "conf", "alias=abc")


def test_importing_the_package_registers_the_resolver_without_a_simulator():
    code = (
        "import sys; from omegaconf import OmegaConf; import launcher; "
        "assert OmegaConf.has_resolver('mozaik_expr'); "
        "cfg = OmegaConf.create({'a': 2, 'b': \"${mozaik_expr:'_0 * pi',${a}}\"}); "
        "assert cfg.b == 2 * 3.141592653589793; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyNN', 'nest', 'neo', 'numpy', 'scipy')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})  # fmt: skip
    assert result.stdout.strip() == "[]"


def test_a_file_included_twice_is_two_independent_subtrees(hydra_dir):
    tree = composed(hydra_dir, "sheets.exc_layer.ExcExcConnection.local.kind=exponential")
    exc_layer = tree["sheets"]["exc_layer"]
    assert exc_layer["ExcExcConnection"]["local"]["kind"] == "exponential"
    assert exc_layer["ExcInhConnection"]["local"]["kind"] == "gaussian"


def test_strings_that_look_like_interpolations_or_other_types_stay_strings(tmp_path):
    tree = {
        "s": ["${a}", "\\${a}", "\\\\${a}", "x ${a} \\y", "1e5", "true", "null", "0x10", "~", "", "a: b", "- x"],
        "a": 1,
    }
    write_parameters(tree, tmp_path / "model" / "root")
    import_mozaik(tmp_path / "model" / "root", tmp_path / "conf", base_dir=tmp_path / "model")
    assert composed(tmp_path / "conf") == tree


def test_import_places_includes_in_lists_and_name_clashes(tmp_path):
    model = tmp_path / "model"
    write(model, "a", "{'v': 1}")
    write(model, "a.yaml", "v: 2\n")
    write(model, "config", "{'v': 3}")
    write(tmp_path / "elsewhere", "b", "{'v': 4, 'deeper': {'c': url('a')}}")
    root = write(
        model,
        "root",
        "{'x': url('a'), 'y': url('a.yaml'), 'z': url('config'), 'w': {'deep': url(%r)}, 'l': [url('a'), 2]}"
        % str(tmp_path / "elsewhere" / "b"),
    )
    import_mozaik(root, tmp_path / "conf", base_dir=model)
    assert sorted(str(p.relative_to(tmp_path / "conf")) for p in (tmp_path / "conf").rglob("*.yaml")) == [
        "_external/b.yaml", "a.yaml", "a_2.yaml", "config.yaml", "config_2.yaml",
    ]  # fmt: skip
    assert composed(tmp_path / "conf") == {
        "x": {"v": 1}, "y": {"v": 2}, "z": {"v": 3}, "w": {"deep": {"v": 4, "deeper": {"c": {"v": 1}}}},
        "l": [{"v": 1}, 2],
    }  # fmt: skip


def test_import_refuses_a_broken_tree_before_writing(tmp_path):
    root = write(tmp_path, "root", "{'a': ref('b')}")
    with pytest.raises(MozaikFormatError, match="no key 'b'"):
        import_mozaik(root, tmp_path / "conf", base_dir=tmp_path)
    assert not (tmp_path / "conf").exists()
    write(tmp_path, "inner", "{'defaults': [1]}")
    root = write(tmp_path, "root2", "{'inner': url('inner')}")
    with pytest.raises(MozaikFormatError, match="inner: the key 'defaults' is Hydra's defaults list"):
        import_mozaik(root, tmp_path / "conf2", base_dir=tmp_path)
    assert not (tmp_path / "conf2").exists()
    root = write(tmp_path, "root3", "{'a b': {'inner': url('inner')}}")
    with pytest.raises(MozaikFormatError, match="url\\(\\) at a b.inner: this key cannot be a Hydra package"):
        import_mozaik(root, tmp_path / "conf3", base_dir=tmp_path)


def test_to_hydra_and_back():
    tree = {
        "d": PyNNDistribution("uniform", {"low": -60, "high": -50}),
        "p": ParameterWithUnitsAndPeriod(0.0, units="rad", period=math.pi),
        "r": ParameterRange([1, (2, 3)]),
        "g": NumpyRNG(seed=1),
        "ref": Ref("a.b"),
        "t": (1, 2),
        "s": "${x}",
    }
    plain = to_hydra(tree)
    assert plain["d"] == {"_type": "PyNNDistribution", "name": "uniform", "params": {"low": -60, "high": -50}}
    assert plain["p"] == {"_type": "ParameterWithUnitsAndPeriod", "value": 0.0, "units": "rad", "period": math.pi}
    assert plain["r"] == {"_type": "ParameterRange", "values": [1, [2, 3]]}
    assert plain["g"] == {"_type": "NumpyRNG", "seed": 1, "parallel_safe": True}
    assert (plain["ref"], plain["t"], plain["s"]) == ("${a.b}", [1, 2], "${x}")
    assert to_hydra(tree, escape=True)["s"] == "\\${x}"
    back = from_hydra({k: v for k, v in plain.items() if k != "ref"})
    assert back["d"] == tree["d"] and back["p"] == tree["p"] and back["g"] == tree["g"]
    assert back["r"] == ParameterRange([1, [2, 3]])
    with pytest.raises(MozaikFormatError, match="NumpyRNG"):
        from_hydra({"_type": "NumpyRNG", "seed": "x"})
