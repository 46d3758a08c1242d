"""SQL LIKE: `%` any run, `_` one character, a backslash takes the next literally; anchored."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial

# Stand-ins for the wildcards in a compiled pattern: two characters long, so they never
# equal the single character of text they are compared with.
_ANY_RUN = "%%"
_ANY_ONE = "__"

_Matcher = Callable[[str], bool]


def like(text: str, pattern: str) -> bool:
    """Whether the whole of `text` matches `pattern` (case-sensitive)."""
    return _matcher(pattern)(text)


@lru_cache(maxsize=256)
def _matcher(pattern: str) -> _Matcher:
    tokens = _tokens(pattern)
    return _shortcut(tokens) or partial(_match, tokens=tokens)


def _tokens(pattern: str) -> tuple[str, ...]:
    tokens: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            tokens.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            if not tokens or tokens[-1] != _ANY_RUN:  # %% is the same as %
                tokens.append(_ANY_RUN)
        elif char == "_":
            tokens.append(_ANY_ONE)
        else:
            tokens.append(char)
    if escaped:  # a trailing backslash stands for itself, as in MySQL
        tokens.append("\\")
    return tuple(tokens)


def _shortcut(tokens: tuple[str, ...]) -> _Matcher | None:
    """str methods for the common shapes: 'abc', 'abc%', '%abc', '%abc%', '%'."""
    if tokens == (_ANY_RUN,):
        return lambda text: True
    starts = tokens[:1] == (_ANY_RUN,)
    ends = len(tokens) > 1 and tokens[-1] == _ANY_RUN
    core = tokens[int(starts) : len(tokens) - int(ends)]
    if _ANY_RUN in core or _ANY_ONE in core:
        return None
    word = "".join(core)
    if starts and ends:
        return lambda text: word in text
    if starts:
        return lambda text: text.endswith(word)
    if ends:
        return lambda text: text.startswith(word)
    return lambda text: text == word


def _match(text: str, *, tokens: tuple[str, ...]) -> bool:
    # Greedy with one backtrack point (the last %): O(len(text) * len(pattern)) at worst,
    # where a regex could backtrack exponentially on a hostile pattern.
    position = token = 0
    run_token, run_from = -1, 0
    while position < len(text):
        if token < len(tokens) and tokens[token] in (_ANY_ONE, text[position]):
            position += 1
            token += 1
        elif token < len(tokens) and tokens[token] == _ANY_RUN:
            run_token, run_from = token, position
            token += 1
        elif run_token >= 0:
            run_from += 1
            position, token = run_from, run_token + 1
        else:
            return False
    while token < len(tokens) and tokens[token] == _ANY_RUN:
        token += 1
    return token == len(tokens)
