"""Names, in the user's terms, for the SQL that CEQL refuses."""

from __future__ import annotations

from sqlglot import exp

_ARITHMETIC = (
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.IntDiv,
    exp.Neg,
    exp.DPipe,
    exp.BitwiseAnd,
    exp.BitwiseOr,
    exp.BitwiseXor,
    exp.BitwiseNot,
    exp.BitwiseLeftShift,
    exp.BitwiseRightShift,
)

# Checked in order, before the catch-all for functions (CAST is a function to sqlglot).
_NAMES: tuple[tuple[type[exp.Expr] | tuple[type[exp.Expr], ...], str], ...] = (
    ((exp.Subquery, exp.Query), "subquery"),
    (_ARITHMETIC, "arithmetic"),
    (exp.Between, "BETWEEN"),
    (exp.ILike, "ILIKE"),
    ((exp.RegexpLike, exp.RegexpILike), "REGEXP"),
    (exp.Escape, "LIKE … ESCAPE (use \\ before % or _ to match them literally)"),
    (exp.Xor, "XOR"),
    ((exp.NullSafeEQ, exp.NullSafeNEQ), "<=>"),
    (exp.Placeholder, "parameters"),
    (exp.Collate, "COLLATE"),
    (exp.Introducer, "character set introducers"),
    ((exp.HexString, exp.BitString, exp.ByteString), "hex and bit literals"),
    (exp.National, "N'…' strings"),
    (exp.Exists, "EXISTS"),
    (exp.Interval, "INTERVAL"),
    ((exp.Case, exp.If), "CASE"),
    (
        (exp.Cast, exp.TryCast),
        "typed literals and CAST (write a timestamp as a plain string: '2024-01-01T00:00:00Z')",
    ),
    (exp.Alias, "aliases"),
    (exp.Star, "*"),
    (exp.Tuple, "row values"),
    (exp.Array, "arrays"),
)


def describe(node: exp.Expr, text: str) -> str:
    """What a refused node is, e.g. `function lower()`, `arithmetic`, `BETWEEN`."""
    for kinds, name in _NAMES:
        if isinstance(node, kinds):
            return name
    if isinstance(node, exp.Func):
        return f"function {_function_name(node, text)}()"
    return node.key.upper()


def _function_name(node: exp.Func, text: str) -> str:
    # The name as the user wrote it; sqlglot's own may differ (`ucase` reads as Upper).
    meta = node.meta
    if "start" in meta:
        return text[meta["start"] : meta["end"] + 1]
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    return node.sql_name().lower()
