"""The ``mozaik_expr`` resolver, which computes the arithmetic on references of an imported mozaik
tree (``${mozaik_expr:'_0 * 4 / 5',${sheets.K}}``, see :mod:`launcher.mozaik.parameter_files.hydra_import`).

Registered when the package is imported (``launcher/__init__.py``), so that any composition of an
imported config has it; the reader's arithmetic it runs is imported when a config first uses it, not
at every start of ``run_sim.py`` (the parameter-file package is some 0.15 s of imports).
"""

from __future__ import annotations

from typing import Any

from launcher import compat

EXPR_RESOLVER = "mozaik_expr"


def resolve_expr(template: Any, *values: Any) -> int | float:
    """The :data:`EXPR_RESOLVER` resolver: the value of ``template`` (see
    :class:`launcher.mozaik.parameter_files.constructs.Expr`) with ``_i`` the i-th value, which
    OmegaConf passes with its type. Computed on the syntax tree, never with eval()."""
    from launcher.mozaik.parameter_files.arithmetic import evaluate_template

    if type(template) is not str:
        raise ValueError(f"{EXPR_RESOLVER}: the template is a string, not {template!r}")
    try:
        return evaluate_template(template, values, [f"argument _{index}" for index in range(len(values))])
    except ValueError as exc:
        raise ValueError(f"{EXPR_RESOLVER} {template!r}: {exc}") from None


compat.register_resolver(EXPR_RESOLVER, resolve_expr)
