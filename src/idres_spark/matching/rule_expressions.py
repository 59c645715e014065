"""Rules as Spark column expressions: fields, record filters, blocking keys, native conditions.

Shared by the block and score stages so both read a rule the same way. Every function takes
frozen config models and returns ``Column``s; nothing here runs a Spark job.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.config import BlockOn, Condition, RecordFilter, Rule
from idres_spark.ingest.normalizers import email_domain

KEY_SEPARATOR = "\u001f"
FUZZY_METHODS = ("jaro_winkler", "token_set")  # evaluated in the pandas UDF; the rest natively


def field(name: str, suffix: str = "") -> Column:
    """A rule field of a record (``suffix`` ``_l``/``_r`` on pair frames)."""
    if name == C.FULL_NAME:
        first, last = F.col(C.FIRST_NAME + suffix), F.col(C.LAST_NAME + suffix)
        full = F.concat_ws(" ", first, last)
        return F.when(first.isNotNull() | last.isNotNull(), full)
    if name == C.ADDRESS:
        return address_key(suffix)
    if name in C.RULE_FIELDS:
        return F.col(name + suffix)
    return F.element_at(F.col(C.CUSTOM + suffix), F.lit(name))  # a custom field


def address_key(suffix: str = "") -> Column:
    """The ``address`` rule field: street and postal code (the city when there is no postal
    code); null without a street."""
    street = F.col(C.STREET + suffix)
    where = F.coalesce(F.col(C.POSTAL_CODE + suffix), F.col(C.CITY + suffix))
    return F.when(street.isNotNull(), F.concat_ws(" ", street, where))


def record_filter(rule_filter: RecordFilter, suffix: str = "") -> Column:
    """One ``only_if`` filter as a boolean column (null values never satisfy a test)."""
    col = field(rule_filter.field, suffix)
    value = rule_filter.value
    op = rule_filter.op
    tests: dict[str, Column] = {
        "is_null": col.isNull(),
        "is_not_null": col.isNotNull(),
    }
    if op in tests:
        return tests[op]
    if op in ("in", "not_in"):
        member = F.lower(col).isin(sorted({str(v).lower() for v in value or []}))
        result = member if op == "in" else ~member
        return F.coalesce(result, F.lit(op == "not_in"))
    text = str(value)
    lowered = text.lower()
    by_op = {
        "equals": (col == text) | (F.lower(col) == lowered),
        "not_equals": (col != text) & (F.lower(col) != lowered),
        "contains": F.lower(col).contains(lowered),
        "not_contains": ~F.lower(col).contains(lowered),
        "starts_with": F.lower(col).startswith(lowered),
        "ends_with": F.lower(col).endswith(lowered),
        "not_ends_with": ~F.lower(col).endswith(lowered),
        "regex": col.rlike(text),
    }
    # a negative test on a missing value holds (a null email does not end in @company.com)
    return F.coalesce(by_op[op], F.lit(op.startswith("not_")))


def rule_scope(rule: Rule, suffix: str = "") -> Column:
    """Records the rule may link: its sources and its ``only_if`` filters."""
    scope = F.lit(True)
    if rule.sources:
        scope = scope & F.col(C.SOURCE + suffix).isin(list(rule.sources))
    for rule_filter in rule.only_if:
        scope = scope & record_filter(rule_filter, suffix)
    return scope


def block_on_key(block: BlockOn) -> Column:
    value = field(block.field)
    n = block.n or 0
    transforms = {
        "exact": lambda: value,
        "first_n": lambda: F.substring(value, 1, n),
        "last_n": lambda: F.when(F.length(value) > n, F.substring(value, -n, n)).otherwise(value),
        "soundex": lambda: F.soundex(value),
        "email_domain": lambda: email_domain(value),
        "email_local": lambda: F.substring_index(value, "@", 1),
    }
    return transforms[block.transform]()


def conjunction_key(conj: list[Condition], rule: Rule) -> tuple[str, Column]:
    """(description, key column) of one AND branch: its equals/alias fields, else block_on."""
    parts: list[tuple[str, Column]] = []
    for cond in conj:
        if cond.compare == "equals":
            parts.append((cond.field, field(cond.field)))
        elif cond.compare == "alias":
            parts.append(("email_canonical", F.col(C.EMAIL_CANONICAL)))
    if not parts:
        parts = [(f"{b.field}:{b.transform}", block_on_key(b)) for b in rule.block_on]
    parts = sorted(dict(parts).items())  # same field twice counts once; stable order
    names = "+".join(name for name, _ in parts)
    cols = [col for _, col in parts]
    all_present = F.lit(True)
    for col in cols:
        all_present = all_present & col.isNotNull() & (col != "")
    return names, F.when(all_present, F.concat_ws(KEY_SEPARATOR, *cols))


def native_condition(cond: Condition) -> tuple[Column, Column] | None:
    """(matches, score) of a condition Spark evaluates natively, or None for fuzzy methods."""
    left, right = field(cond.field, C.LEFT), field(cond.field, C.RIGHT)
    present = left.isNotNull() & right.isNotNull() & (left != "") & (right != "")
    one = F.lit(1.0)
    if cond.compare == "equals":
        return present & (left == right), one
    if cond.compare == "alias":
        lc, rc = F.col(C.EMAIL_CANONICAL + C.LEFT), F.col(C.EMAIL_CANONICAL + C.RIGHT)
        return lc.isNotNull() & rc.isNotNull() & (lc == rc), one
    distance = F.levenshtein(left, right)
    longest = F.greatest(F.length(left), F.length(right))
    lev_similarity = F.lit(1.0) - distance / longest
    if cond.compare == "typo":
        return present & (distance <= cond.max_edits), lev_similarity
    if cond.compare == "similar" and cond.method == "levenshtein":
        return present & (lev_similarity >= cond.min), lev_similarity
    return None
