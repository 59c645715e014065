"""Comparisons: each turns a candidate pair into one level (an integer, -1 where it has no
value), as Spark column expressions on pair frames (``<field>_l`` / ``<field>_r``).

Level 0 is "else" (both sides have a value, no listed level holds); the highest level is the
strongest agreement. Similarities that Spark has no native function for (Jaro-Winkler) are
computed once per pair by the rules' vectorized UDF into helper columns (``prepare``), which
the level expressions then read. A comparison names the fields it reads (a training session
blocked on one of them leaves it out), the key its top level is an exact equality of (its u
is then counted exactly), and the field whose value frequency adjusts its top level.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.ingest.normalizers import literal_map
from idres_spark.matching import rule_expressions as X
from idres_spark.probabilistic.nicknames import nickname_keys
from idres_spark.probabilistic.settings import CustomComparison, ProbabilisticConfig

NO_VALUE = -1


@dataclass(frozen=True)
class Comparison:
    name: str
    labels: tuple[str, ...]  # the label of each level, from 0 ("else") up
    fields: tuple[str, ...]  # the record fields it reads
    level: Callable[[], Column]  # on a pair frame with the ``prepare`` columns
    exact_key: Callable[[str], Column] | None = None  # the top level: this key is equal
    tf_field: str | None = None  # the field whose frequency adjusts the top level
    prepare: dict[str, Callable[[], Column]] = field(default_factory=dict)
    # the levels just below the top, each reached by an equality: (level, key) where an equal
    # key means this level or a higher one (and a higher one means an equal key), so their u
    # is counted from values too
    exact_below: tuple[tuple[int, Callable[[str], Column]], ...] = ()

    def __post_init__(self) -> None:
        levels = [level for level, _ in self.exact_below]
        if self.exact_below and (
            self.exact_key is None
            or levels != list(range(self.top - 1, self.top - 1 - len(levels), -1))
        ):
            raise ValueError(
                f"{self.name}: exact_below must name the levels just below an exact top"
            )

    @property
    def top(self) -> int:
        return len(self.labels) - 1

    @property
    def exact_levels(self) -> tuple[int, ...]:
        """The levels whose u is counted from values (see :meth:`exact_keys`)."""
        below = tuple(level for level, _ in self.exact_below)
        return (self.top, *below) if self.exact_key is not None else below

    def exact_keys(self, suffix: str = "") -> dict[int, Column]:
        """Level -> the key whose equality means that level or a higher one."""
        keys = {level: key(suffix) for level, key in self.exact_below}
        if self.exact_key is not None:
            keys[self.top] = self.exact_key(suffix)
        return keys


def _side(name: str, suffix: str) -> Column:
    from idres_spark.ingest.normalize import NORMALIZED_COLUMNS

    return F.col(name + suffix) if name in NORMALIZED_COLUMNS else X.field(name, suffix)


def _l(name: str) -> Column:
    return _side(name, C.LEFT)


def _r(name: str) -> Column:
    return _side(name, C.RIGHT)


def _both(name: str) -> Column:
    return _l(name).isNotNull() & _r(name).isNotNull()


def _similarity(left: Column, right: Column) -> Callable[[], Column]:
    def build() -> Column:
        from idres_spark.matching.score import fuzzy_score_udf

        present = left.isNotNull() & right.isNotNull() & (left != right)
        # equal values score 1 whatever the UDF says (Spark still runs a Python UDF over every
        # row: it lifts it out of the CASE; 4-5 s of 25 at 3M pairs, docs/benchmarks.md)
        return F.when(left == right, F.lit(1.0)).when(
            present, fuzzy_score_udf("jaro_winkler")(left, right)
        )

    return build


def _laddered(cases: list[tuple[Column, int]], has_value: Column) -> Column:
    out = F.when(~has_value, F.lit(NO_VALUE))
    for condition, level in cases:
        out = out.when(condition, F.lit(level))
    return out.otherwise(F.lit(0))


def email() -> Comparison:
    local_l, local_r = (
        F.substring_index(_l(C.EMAIL), "@", 1),
        F.substring_index(_r(C.EMAIL), "@", 1),
    )
    domain_l = F.substring_index(_l(C.EMAIL), "@", -1)
    domain_r = F.substring_index(_r(C.EMAIL), "@", -1)

    def level() -> Column:
        left, right = _l(C.EMAIL), _r(C.EMAIL)
        same_domain = domain_l == domain_r
        # john.smith1@ / john.smith2@ / johnsmith@: the same local part once digits and
        # . _ - are removed; often two people with one name, never a typo of one
        bare_l = F.regexp_replace(local_l, "[0-9._-]", "")
        bare_r = F.regexp_replace(local_r, "[0-9._-]", "")
        return _laddered(
            [
                (left == right, 6),
                (_l(C.EMAIL_CANONICAL) == _r(C.EMAIL_CANONICAL), 5),
                ((local_l == local_r) & (F.levenshtein(domain_l, domain_r) <= 2), 4),
                (same_domain & (bare_l == bare_r), 2),
                (same_domain & (F.levenshtein(local_l, local_r) <= 2), 3),
                (F.col("_sim_email_local") >= 0.88, 1),
            ],
            _both(C.EMAIL),
        )

    return Comparison(
        "email",
        (
            "else",
            "local_part_similar",
            "formatting_only",
            "local_typo",
            "domain_typo",
            "alias",
            "exact",
        ),
        (C.EMAIL, C.EMAIL_CANONICAL),
        level,
        exact_key=lambda s: F.col(C.EMAIL + s),
        tf_field=C.EMAIL,
        prepare={"_sim_email_local": _similarity(local_l, local_r)},
        exact_below=((5, lambda s: F.col(C.EMAIL_CANONICAL + s)),),
    )


def phone_last_name() -> Comparison:
    """A shared phone with a shared last name is one piece of evidence (a household has it
    too), not two."""

    def level() -> Column:
        phone_eq = _l(C.PHONE) == _r(C.PHONE)
        same_length = F.length(_l(C.PHONE)) == F.length(_r(C.PHONE))
        phone_typo = same_length & (F.levenshtein(_l(C.PHONE), _r(C.PHONE)) <= 2)
        last_eq = _l(C.LAST_NAME) == _r(C.LAST_NAME)
        last_similar = F.col("_sim_last_name") >= 0.9
        phone_eq, phone_typo = (
            F.coalesce(phone_eq, F.lit(False)),
            F.coalesce(phone_typo, F.lit(False)),
        )
        last_eq, last_similar = (
            F.coalesce(last_eq, F.lit(False)),
            F.coalesce(last_similar, F.lit(False)),
        )
        phones_differ = _both(C.PHONE) & ~phone_eq & ~phone_typo
        return _laddered(
            [
                (phone_eq & (last_eq | last_similar), 7),
                (phone_eq, 6),
                (phone_typo & (last_eq | last_similar), 5),
                (last_eq & ~phones_differ, 4),
                (last_eq, 3),
                (last_similar, 2),
                (phone_typo, 1),
            ],
            _both(C.PHONE) | _both(C.LAST_NAME),
        )

    return Comparison(
        "phone_last_name",
        ("else", "phone_typo", "last_name_similar", "last_name_phone_differs", "last_name",
         "phone_typo_and_name", "phone", "phone_and_last_name"),
        (C.PHONE, C.LAST_NAME),
        level,
        exact_key=lambda s: F.when(
            F.col(C.PHONE + s).isNotNull() & F.col(C.LAST_NAME + s).isNotNull(),
            F.concat_ws(X.KEY_SEPARATOR, F.col(C.PHONE + s), F.col(C.LAST_NAME + s)),
        ),
        prepare={"_sim_last_name": _similarity(_l(C.LAST_NAME), _r(C.LAST_NAME))},
        exact_below=((6, lambda s: F.col(C.PHONE + s)),),
    )  # fmt: skip


def first_name() -> Comparison:
    keys = nickname_keys()
    table = literal_map(keys)

    def level() -> Column:
        left, right = _l(C.FIRST_NAME), _r(C.FIRST_NAME)
        nick_l = F.coalesce(F.try_element_at(table, left), left)
        nick_r = F.coalesce(F.try_element_at(table, right), right)
        initial = ((F.length(left) == 1) | (F.length(right) == 1)) & (
            F.substring(left, 1, 1) == F.substring(right, 1, 1)
        )
        return _laddered(
            [
                (left == right, 4),
                (nick_l == nick_r, 3),
                (F.col("_sim_first_name") >= 0.88, 2),
                (initial, 1),
            ],
            _both(C.FIRST_NAME),
        )

    return Comparison(
        "first_name",
        ("else", "initial", "similar", "nickname", "exact"),
        (C.FIRST_NAME,),
        level,
        exact_key=lambda s: F.col(C.FIRST_NAME + s),
        tf_field=C.FIRST_NAME,
        prepare={"_sim_first_name": _similarity(_l(C.FIRST_NAME), _r(C.FIRST_NAME))},
    )


def user_id() -> Comparison:
    def level() -> Column:
        return _laddered([(_l(C.USER_ID) == _r(C.USER_ID), 1)], _both(C.USER_ID))

    return Comparison(
        "user_id", ("different", "exact"), (C.USER_ID,), level,
        exact_key=lambda s: F.col(C.USER_ID + s),
    )  # fmt: skip


def _windowed(name: str, window_seconds: int, unless: str | None = None) -> Comparison:
    """Equal only counts within the time window; equal values further apart are no evidence
    (a kiosk or a reassigned IP), so they have no level. With ``unless`` (the IP, unless the
    device): a pair whose ``unless`` field already agrees within the window has no level here
    either. One device is on one network, so its IP says nothing more; counted twice, a shared
    device merged two people with one first name (the hard data, docs/benchmarks.md)."""

    def same_within_window(field: str) -> Column:
        apart = F.abs(
            F.col(C.EVENT_TS + C.LEFT).cast("long") - F.col(C.EVENT_TS + C.RIGHT).cast("long")
        )
        close = F.coalesce(apart <= window_seconds, F.lit(False))
        return F.coalesce(_l(field) == _r(field), F.lit(False)) & close

    def level() -> Column:
        equal = _l(name) == _r(name)
        no_level = ~_both(name) | (equal & ~same_within_window(name))
        if unless is not None:
            no_level = no_level | same_within_window(unless)
        return F.when(no_level, F.lit(NO_VALUE)).when(equal, 1).otherwise(0)

    fields = (name, C.EVENT_TS) if unless is None else (name, unless, C.EVENT_TS)
    return Comparison(name, ("different", "same_within_window"), fields, level)


def address() -> Comparison:
    def level() -> Column:
        street_eq = F.coalesce(_l(C.STREET) == _r(C.STREET), F.lit(False))
        postal_eq = F.coalesce(_l(C.POSTAL_CODE) == _r(C.POSTAL_CODE), F.lit(False))
        city_eq = F.coalesce(_l(C.CITY) == _r(C.CITY), F.lit(False))
        no_postal = ~_both(C.POSTAL_CODE)
        place = postal_eq | (no_postal & city_eq)
        street_similar = F.coalesce(F.col("_sim_street") >= 0.9, F.lit(False))
        return _laddered(
            [
                (street_eq & place, 4),
                (street_similar & place, 3),
                (postal_eq, 2),
                (city_eq, 1),
            ],
            _both(C.STREET) | _both(C.POSTAL_CODE) | _both(C.CITY),
        )

    return Comparison(
        "address",
        ("else", "city", "postal_code", "street_similar", "exact"),
        (C.STREET, C.CITY, C.POSTAL_CODE),
        level,
        exact_key=lambda s: F.when(
            F.col(C.STREET + s).isNotNull() & F.col(C.POSTAL_CODE + s).isNotNull(),
            F.concat_ws(X.KEY_SEPARATOR, F.col(C.STREET + s), F.col(C.POSTAL_CODE + s)),
        ),
        prepare={"_sim_street": _similarity(_l(C.STREET), _r(C.STREET))},
    )


def custom(spec: CustomComparison) -> Comparison:
    helper = f"_sim_{spec.name}"
    fuzzy = any(level.kind == "jaro_winkler" for level in spec.levels)
    top = len(spec.levels)

    def level() -> Column:
        left, right = _l(spec.field), _r(spec.field)
        cases = []
        for index, step in enumerate(spec.levels):
            if step.kind == "exact":
                test = left == right
            elif step.kind == "edits":
                test = F.levenshtein(left, right) <= int(step.value or 1)
            else:
                test = F.col(helper) >= float(step.value or 1)
            cases.append((test, top - index))
        return _laddered(cases, _both(spec.field))

    exact_top = spec.levels[0].kind == "exact"
    return Comparison(
        spec.name,
        ("else", *reversed([step.label for step in spec.levels])),
        (spec.field,),
        level,
        exact_key=(lambda s: X.field(spec.field, s)) if exact_top else None,
        tf_field=spec.field if spec.term_frequency and exact_top else None,
        prepare={helper: _similarity(_l(spec.field), _r(spec.field))} if fuzzy else {},
    )


def build(settings: ProbabilisticConfig, mapped: set[str], window_seconds: int) -> list[Comparison]:
    """The comparisons in use: the configured ones, or every built-in whose fields some
    source maps (``mapped``: the canonical fields the sources map, plus custom fields)."""
    builtins: dict[str, Callable[[], Comparison]] = {
        "email": email,
        "phone_last_name": phone_last_name,
        "first_name": first_name,
        "user_id": user_id,
        "device_id": lambda: _windowed(C.DEVICE_ID, window_seconds),
        "ip": lambda: _windowed(C.IP, window_seconds, unless=C.DEVICE_ID),
        "address": address,
    }
    if settings.comparisons is None:
        chosen = [make() for make in builtins.values()]
        return [c for c in chosen if set(c.fields) & mapped - {C.EVENT_TS, C.EMAIL_CANONICAL}]
    return [builtins[c]() if isinstance(c, str) else custom(c) for c in settings.comparisons]


def pair_columns(comparisons: list[Comparison], also: Sequence[str] = ()) -> list[str]:
    """The record columns a pair frame needs (each side): those the comparisons read, and
    those of the fields ``also`` names (the veto fields)."""
    from idres_spark.ingest.normalize import NORMALIZED_COLUMNS

    derived = {
        C.FULL_NAME: (C.FIRST_NAME, C.LAST_NAME),
        C.ADDRESS: (C.STREET, C.POSTAL_CODE, C.CITY),
    }
    needed = {C.RECORD_ID, C.EVENT_TS}
    for name in [f for c in comparisons for f in c.fields] + list(also):
        if name in NORMALIZED_COLUMNS:
            needed.add(name)
        else:  # a derived field's parts, or a custom field (in the custom map)
            needed |= set(derived.get(name, (C.CUSTOM,)))
    return sorted(needed)


def with_levels(pairs, comparisons: list[Comparison]):
    """``pairs`` + ``<name>_level`` per comparison (helper similarity columns dropped)."""
    helpers = {name: make() for c in comparisons for name, make in c.prepare.items()}
    with_helpers = pairs.select("*", *[col.alias(name) for name, col in helpers.items()])
    leveled = with_helpers.select(
        "*", *[c.level().cast("int").alias(level_column(c)) for c in comparisons]
    )
    return leveled.drop(*helpers)


def level_column(comparison: Comparison) -> str:
    return f"{comparison.name}_level"
