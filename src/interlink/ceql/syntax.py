"""sqlglot as CEQL's front end: reads the text, and says where a node sits in it."""

from __future__ import annotations

import bisect
import re

from sqlglot import Token, TokenType, exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError, TokenError

from interlink.ceql.errors import CEQLError, Position

# MySQL is the dialect whose identifiers are back-quoted, the way CEQL spells `first name`.
_DIALECT = Dialect.get_or_raise("mysql")

# Keywords that open the clause a refused node stands for, so that the error shows
# `join b on …` rather than `b on …`.
_LEADING = frozenset(
    {
        TokenType.JOIN,
        TokenType.LEFT,
        TokenType.RIGHT,
        TokenType.INNER,
        TokenType.OUTER,
        TokenType.CROSS,
        TokenType.FULL,
        TokenType.NATURAL,
        TokenType.STRAIGHT_JOIN,
        TokenType.GROUP_BY,
        TokenType.HAVING,
        TokenType.OFFSET,
        TokenType.WITH,
        TokenType.ORDER_BY,
        TokenType.LIMIT,
        TokenType.DASH,
    }
)

# A subquery's node starts at the name after its SELECT.
_QUERY_LEADING = frozenset({TokenType.SELECT, TokenType.DISTINCT})

# sqlglot keeps no offsets for null/true/false; these tokens may sit between a node's last
# known offset and such a value, so the fragment can reach as far as the value.
_VALUE_KEYWORDS = frozenset({TokenType.NULL, TokenType.TRUE, TokenType.FALSE})
_BEFORE_VALUE = frozenset(
    {
        TokenType.EQ,
        TokenType.NEQ,
        TokenType.GT,
        TokenType.GTE,
        TokenType.LT,
        TokenType.LTE,
        TokenType.IS,
        TokenType.NOT,
        TokenType.IN,
        TokenType.L_PAREN,
        TokenType.COMMA,
        TokenType.NUMBER,
        TokenType.STRING,
    }
)

_TOKEN_ERROR_AT = re.compile(r"Missing (?P<delimiter>\S+) from \d+:(?P<offset>\d+)")

_NAME_TOKENS = frozenset({TokenType.VAR, TokenType.IDENTIFIER})
_CEQL_KEYWORDS = frozenset(
    {"select", "from", "where", "order", "by", "asc", "desc", "limit"}
    | {"and", "or", "not", "like", "in", "is", "null", "true", "false"}
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_EXPLANATIONS = (
    (re.compile(r"Invalid expression / Unexpected token"), "unexpected token"),
    (re.compile(r"Expecting (?P<what>.+)"), "expected {what}"),
    (re.compile(r"Required keyword: '\w+' missing for .*\.(?P<node>\w+)'>"), "incomplete {node}"),
)
_CLAUSES = {"Where": "WHERE", "Order": "ORDER BY", "Limit": "LIMIT", "From": "FROM"}


class Source:
    """One CEQL text, tokenized, that knows how to blame a part of itself."""

    def __init__(self, text: str, *, field: str | None) -> None:
        self.text = text
        self.field = field
        self.tokens = self._tokenize()
        self._starts = [token.start for token in self.tokens]

    def statement(self, into: type[exp.Expr] | None = None) -> exp.Expr:
        """The single statement (or, with `into`, condition) the text holds."""
        # A context as long as the text makes ParseError's start_context the exact prefix.
        parser = _DIALECT.parser(error_message_context=len(self.text) + 1)
        try:
            if into is None:
                trees = parser.parse(self.tokens, self.text)
            else:
                trees = parser.parse_into(into, self.tokens, self.text)
        except ParseError as error:
            raise self._syntax_error(error) from error
        except RecursionError as error:
            raise CEQLError.located("CEQL query nests too deeply", field=self.field) from error
        except SqlglotError as error:
            raise CEQLError.located(
                "CEQL syntax error", explanation=str(error), field=self.field
            ) from error
        statements = [tree for tree in trees if tree is not None]
        if not statements:
            raise CEQLError.located("empty CEQL query", field=self.field)
        if len(statements) > 1:
            raise self._second_statement()
        return statements[0]

    def error(
        self,
        reason: str,
        node: exp.Expr | None = None,
        *,
        token_types: frozenset[TokenType] = frozenset(),
    ) -> CEQLError:
        """A CEQLError pointing at `node`, else at the first token of `token_types`, else at
        the nearest parent of `node` whose place is known."""
        span = self._span(node) if node is not None else None
        if span is None:
            span = next(
                ((t.start, t.end) for t in self.tokens if t.token_type in token_types), None
            )
        while span is None and node is not None and node.parent is not None:
            node = node.parent
            span = self._span(node)
        if span is None:
            return CEQLError.located(reason, field=self.field)
        return self.error_between(reason, *span)

    def error_between(self, reason: str, start: int, end: int) -> CEQLError:
        """A CEQLError pointing at the text from offset `start` to `end` (inclusive)."""
        return CEQLError.located(
            reason,
            position=self.position(start),
            fragment=self.text[start : end + 1],
            field=self.field,
        )

    def position(self, offset: int) -> Position:
        """(line, column) of a character offset, both from 1."""
        line = self.text.count("\n", 0, offset) + 1
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return line, column

    def _tokenize(self) -> list[Token]:
        try:
            return _DIALECT.tokenize(self.text)
        except TokenError as error:
            raise self._token_error(error) from error

    def _token_error(self, error: TokenError) -> CEQLError:
        # sqlglot names the unterminated quote and its offset only in the chained error.
        found = _TOKEN_ERROR_AT.search(str(error.__cause__ or error))
        if found is None:
            return CEQLError.located(
                "CEQL syntax error", explanation="cannot read the text", field=self.field
            )
        offset = int(found["offset"])
        delimiter = found["delimiter"]
        what = "back-quoted name" if delimiter == "`" else "string"
        return CEQLError.located(
            "CEQL syntax error",
            position=self.position(offset),
            fragment=self.text[offset:],
            explanation=f"unterminated {what} (missing {delimiter})",
            field=self.field,
        )

    def _syntax_error(self, error: ParseError) -> CEQLError:
        first = error.errors[0] if error.errors else {}
        offset = len(first.get("start_context") or "")
        highlight = first.get("highlight") or self.text[offset:]
        start = self._misread_alias(offset)
        if start is not None:
            # `from contacts wher x`: sqlglot took `wher` for an alias and stumbled on `x`;
            # the typo is the word before.
            highlight = self.text[start : offset + len(highlight)]
            offset = start
        return CEQLError.located(
            "CEQL syntax error",
            position=self.position(offset) if self.text.strip() else None,
            fragment=highlight,
            explanation=_explain(str(first.get("description") or error)) + self._hint(offset),
            field=self.field,
        )

    def _misread_alias(self, offset: int) -> int | None:
        index = self._token_at(offset)
        if index < 2 or self.tokens[index].start != offset:
            return None
        before, word = self.tokens[index - 2], self.tokens[index - 1]
        if word.token_type == TokenType.VAR and before.token_type in _NAME_TOKENS:
            return int(word.start)
        return None

    def _hint(self, offset: int) -> str:
        # `key`, `like`, `binary`… are keywords to the dialect but plausible field names.
        token = self.tokens[self._token_at(offset)] if self.tokens else None
        if (
            token is not None
            and token.start == offset
            and token.token_type not in _NAME_TOKENS
            and _WORD.fullmatch(token.text)
            and token.text.lower() not in _CEQL_KEYWORDS
        ):
            return f" (if {token.text} is a field, back-quote it: `{token.text}`)"
        return ""

    def _second_statement(self) -> CEQLError:
        for index, token in enumerate(self.tokens[:-1]):
            if token.token_type == TokenType.SEMICOLON:
                following = self.tokens[index + 1]
                if following.token_type != TokenType.SEMICOLON:
                    return CEQLError.located(
                        "CEQL takes a single statement",
                        position=self.position(following.start),
                        fragment=self.text[following.start :],
                        field=self.field,
                    )
        return CEQLError.located("CEQL takes a single statement", field=self.field)

    def _span(self, node: exp.Expr) -> tuple[int, int] | None:
        """Character offsets (inclusive) of the text a node was parsed from, as best known."""
        # Only leaves (names, literals, function names) carry offsets; widen them to the
        # keyword opening the clause and to balanced parentheses.
        offsets = [
            (meta["start"], meta["end"])
            for descendant in node.walk()
            if "start" in (meta := descendant.meta)
        ]
        if not offsets:
            return None
        first = self._token_at(min(start for start, _ in offsets))
        last = self._token_at(max(end for _, end in offsets))
        is_query = isinstance(node, exp.Query | exp.Subquery)
        leading = _LEADING | _QUERY_LEADING if is_query else _LEADING
        while first > 0 and self.tokens[first - 1].token_type in leading:
            first -= 1
        values = sum(isinstance(n, exp.Null | exp.Boolean) and not n.meta for n in node.walk())
        last = self._reach_values(last, values)
        depth = sum(_paren_depth(token) for token in self.tokens[first : last + 1])
        while depth > 0 and last + 1 < len(self.tokens):
            last += 1
            depth += _paren_depth(self.tokens[last])
        while depth < 0 and first > 0:
            first -= 1
            depth += _paren_depth(self.tokens[first])
        return self.tokens[first].start, self.tokens[last].end

    def _reach_values(self, last: int, values: int) -> int:
        """Move `last` onto the next `values` null/true/false tokens, if only glue lies between."""
        index = last
        while values and index + 1 < len(self.tokens):
            index += 1
            kind = self.tokens[index].token_type
            if kind in _VALUE_KEYWORDS:
                last, values = index, values - 1
            elif kind not in _BEFORE_VALUE:
                break
        return last

    def _token_at(self, offset: int) -> int:
        """Index of the token that covers a character offset."""
        return max(bisect.bisect_right(self._starts, offset) - 1, 0)


def _paren_depth(token: Token) -> int:
    if token.token_type == TokenType.L_PAREN:
        return 1
    if token.token_type == TokenType.R_PAREN:
        return -1
    return 0


def _explain(description: str) -> str:
    for pattern, template in _EXPLANATIONS:
        found = pattern.match(description)
        if found:
            parts = found.groupdict()
            if "node" in parts:
                parts["node"] = _CLAUSES.get(parts["node"], "expression")
            return template.format(**parts)
    return description
