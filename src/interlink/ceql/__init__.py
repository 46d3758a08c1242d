"""CEQL, Interlink's query language: parse, check, evaluate, push down."""

from interlink.ceql.errors import CEQLError
from interlink.ceql.evaluate import matches, truth
from interlink.ceql.like import like
from interlink.ceql.ordering import order, sort_key
from interlink.ceql.parser import parse_query, parse_where
from interlink.ceql.paths import lookup, project
from interlink.ceql.pushdown import conjuncts, split
from interlink.ceql.render import to_ceql
from interlink.ceql.schema_check import check_fields
from interlink.ceql.tree import (
    And,
    Comparison,
    In,
    IsNull,
    Like,
    Not,
    Operator,
    Or,
    OrderBy,
    Predicate,
    Query,
    Value,
    fields_of,
)

__all__ = [
    "And",
    "CEQLError",
    "Comparison",
    "In",
    "IsNull",
    "Like",
    "Not",
    "Operator",
    "Or",
    "OrderBy",
    "Predicate",
    "Query",
    "Value",
    "check_fields",
    "conjuncts",
    "fields_of",
    "like",
    "lookup",
    "matches",
    "order",
    "parse_query",
    "parse_where",
    "project",
    "sort_key",
    "split",
    "to_ceql",
    "truth",
]
