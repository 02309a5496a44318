"""Filters: Personalize's filter expressions, parsed once into an AST and evaluated per request.

``grammar`` parses expressions and ``filterValues``; ``resources`` creates and deletes filters; ``tables`` holds
the group's data as filters read it; ``evaluator`` applies a filter to one request (:func:`apply_filter`).
"""

from recsmith.campaigns.filters.evaluator import ALLOW_ALL, FilterDecision, FilterEvaluator, apply_filter, warm_filters
from recsmith.campaigns.filters.grammar import FilterExpression, parse_filter_expression, parse_filter_value
from recsmith.campaigns.filters.resources import check_filter_fields, create_filter, delete_filter
from recsmith.campaigns.filters.tables import InteractionTable, ItemTable, UserTable

__all__ = [
    "ALLOW_ALL",
    "FilterDecision",
    "FilterEvaluator",
    "FilterExpression",
    "InteractionTable",
    "ItemTable",
    "UserTable",
    "apply_filter",
    "check_filter_fields",
    "create_filter",
    "delete_filter",
    "parse_filter_expression",
    "parse_filter_value",
    "warm_filters",
]
