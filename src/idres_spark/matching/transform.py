"""Transform stage: normalized records -> directed edges of the identity transformations.

Candidates are the pairs of records that share a normalized phone (records with a phone and
an email only; phones held by more than ``max_block_size`` such records are skipped, like
blocking hubs). Emails are compared alias-stripped (``email_canonical``), so an alias of a
typo (``john+x@gnail.com``) is one edit from ``john@gmail.com``. A malformed email (null
``email``, status ``invalid``) takes part in the typo merge through its lower-cased raw value.

``email_alias_merge``: ``local+tag@domain`` merges into ``local@domain`` (equal canonical
emails, exactly one side untagged). Two tagged aliases with no primary are not a candidate.

``email_typo_merge``: canonical emails one typo apart: Levenshtein distance exactly 1 (one
insertion, deletion or substitution) or one swap of two adjacent letters (``gmial``,
``hotmial``: the commonest typing slip, which users list among domain typos). The edit is either
in the domain (locals equal) or in the local part (domains equal). Unreachable = status
``bounced`` or ``invalid``; suppressed and unknown count as reachable. A side has the *domain
typo* when the domains differ, its domain is not a known domain and the other's is known or,
both unknown, the other's is used by more distinct emails in the data. Evaluated per pair:

==========================  ============================  ===================================
unreachable                 edit / domains                outcome (src -> dst | no merge)
==========================  ============================  ===================================
both                        any                           no merge: ``both_unreachable``
one                         other side has domain typo    no merge: ``no_clean_survivor``
one                         otherwise                     unreachable -> reachable
neither                     local part                    no merge: ``household_local_part``
neither                     domain, one side has typo     typo side -> other side
neither                     domain, both known            no merge: ``both_known_domains``
neither                     domain, otherwise (tie)       no merge: ``undecidable_domain``
==========================  ============================  ===================================

A record merges into one mailbox only: when its typo edges point at more than one distinct
canonical email (``jon@`` bounced next to household ``john@`` and ``joan@``), none is kept
(``ambiguous_destination``), so a bad email never bridges two people. Chains (A -> B -> C) are
left to the graph: each pair is decided alone, the component is the profile, and its survivor
is the record that is a transformation ``src`` of no edge. Unreachable records and typo sides
are never destinations of a typo edge, so the typo edges have no cycles.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from idres_spark import columns as C
from idres_spark.config import TransformationsConfig
from idres_spark.ingest.normalizers import email_domain, strip_alias_tag
from idres_spark.masking import mask_value
from idres_spark.schemas import EDGE_SCHEMA, UNREACHABLE_SOURCE

TRANSFORM_PRIORITY = 0  # transformations are the strongest links (rules are 1..n)
TYPO_MERGE = "email_typo_merge"
ALIAS_MERGE = "email_alias_merge"
UNREACHABLE_STATUSES = ("bounced", "invalid")

KNOWN_DOMAINS = (
    "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "yahoo.co.uk", "yahoo.fr",
    "hotmail.com", "hotmail.co.uk", "hotmail.fr", "outlook.com", "live.com", "msn.com",
    "icloud.com", "me.com", "mac.com", "aol.com", "protonmail.com", "proton.me", "gmx.com",
    "gmx.de", "gmx.net", "web.de", "t-online.de", "mail.com", "zoho.com", "yandex.ru",
    "mail.ru", "comcast.net", "verizon.net", "att.net", "sbcglobal.net", "cox.net",
    "orange.fr", "free.fr", "libero.it", "btinternet.com", "qq.com", "163.com", "naver.com",
)  # fmt: skip

NO_MERGE_SCHEMA = T.StructType(
    [
        T.StructField("record_id_a", T.StringType()),
        T.StructField("record_id_b", T.StringType()),
        T.StructField("email_a", T.StringType()),  # masked
        T.StructField("email_b", T.StringType()),  # masked
        T.StructField(C.PHONE, T.StringType()),  # masked
        T.StructField("transformation", T.StringType()),
        T.StructField(C.REASON, T.StringType()),
    ]
)

# working columns of one side of a pair
_SHOWN, _KEY, _LOCAL, _DOMAIN = "_shown", "_key", "_local", "_domain"
_KNOWN, _FREQ, _UNREACHABLE = "_known", "_freq", "_unreachable"
# decided pairs
_DIR, _WHY, _NAME = "_dir", "_why", "_transformation"  # _DIR: "l" (left -> right) | "r"


def transformation_edges(
    records: DataFrame,
    settings: TransformationsConfig,
    *,
    max_block_size: int = 1000,
    materialize: Callable[[DataFrame], DataFrame] | None = None,
    phones: DataFrame | None = None,
) -> tuple[DataFrame, DataFrame]:
    """(edges, no_merge): ``EDGE_SCHEMA`` directed edges, ``NO_MERGE_SCHEMA`` reviewed pairs.

    Both come from the same reviewed pairs; ``materialize`` (a checkpoint) keeps the second
    from reviewing them all again. ``phones`` (one column ``phone``, small: it is broadcast)
    limits the review to the phone groups of those phones, taken whole; the domain
    frequencies still count every record.
    """
    spark = records.sparkSession
    if not (settings.email_typo_merge or settings.email_alias_merge):
        return spark.createDataFrame([], EDGE_SCHEMA), spark.createDataFrame([], NO_MERGE_SCHEMA)
    eligible = _eligible(records, settings, max_block_size, phones)
    if phones is not None and materialize is not None:  # a few phone groups, read four times
        eligible = materialize(eligible)
    decided = []
    if settings.email_alias_merge:
        decided.append(_alias_decisions(eligible))
    if settings.email_typo_merge:
        decided.append(_typo_decisions(eligible))
    result = decided[0] if len(decided) == 1 else decided[0].unionByName(decided[1])
    if materialize is not None:
        result = materialize(result)
    return _edges(result), _no_merge(result)


def _eligible(
    records: DataFrame,
    settings: TransformationsConfig,
    max_block_size: int,
    phones: DataFrame | None = None,
) -> DataFrame:
    """The records that take part, with the working columns of one side of a pair."""
    known = sorted({d.strip().lower() for d in (settings.known_domains or KNOWN_DOMAINS)})
    candidates = records.where(F.col(C.PHONE).isNotNull())
    if phones is not None:  # whole phone groups: the per-phone count below stays exact
        candidates = candidates.join(F.broadcast(phones.select(C.PHONE)), C.PHONE, "left_semi")
    malformed = F.col(C.EMAIL).isNull() & (F.col(C.EMAIL_STATUS) == "invalid")
    shown = F.coalesce(F.col(C.EMAIL), F.when(malformed, F.lower(F.trim(C.EMAIL_RAW))))
    key = F.coalesce(F.col(C.EMAIL_CANONICAL), strip_alias_tag(shown))
    status = F.lower(F.col(C.EMAIL_STATUS))
    eligible = (
        candidates.select(
            C.RECORD_ID,
            C.PHONE,
            C.EMAIL,
            shown.alias(_SHOWN),
            key.alias(_KEY),
            F.coalesce(status.isin(*UNREACHABLE_STATUSES), F.lit(False)).alias(_UNREACHABLE),
        )
        .where(F.col(_KEY).rlike(r"^[^@\s]+@[^@\s]+$"))
        .withColumn("_per_phone", F.count(F.lit(1)).over(Window.partitionBy(C.PHONE)))
        .where(F.col("_per_phone") <= max_block_size)
        .withColumn(_LOCAL, F.substring_index(_KEY, "@", 1))
        .withColumn(_DOMAIN, email_domain(F.col(_KEY)))
        # a row per domain: broadcast, so the records stay partitioned by phone for the pairs
        .join(F.broadcast(_domain_frequency(records, known)), _DOMAIN, "left")
        .select(
            C.RECORD_ID,
            C.PHONE,
            C.EMAIL,
            _SHOWN,
            _KEY,
            _LOCAL,
            _DOMAIN,
            _UNREACHABLE,
            F.col(_DOMAIN).isin(*known).alias(_KNOWN),
            F.coalesce(F.col(_FREQ), F.lit(0)).alias(_FREQ),
        )  # fmt: skip
    )
    return eligible


def _pairs(eligible: DataFrame, condition: Column) -> DataFrame:
    """Canonical pairs (``_l`` id < ``_r`` id) of distinct emails that share a phone and meet
    ``condition``. The condition is part of the join's, after the cheap tests: a filter on the
    joined pairs would be pushed into the join ahead of them (Spark puts pushed predicates
    first) and run on every pair of records sharing a phone, both ways round and each record
    with itself (1.9M such pairs for 112k canonical ones at 1M records)."""
    left = eligible.select(*[F.col(c).alias(C.left(c)) for c in eligible.columns])
    right = eligible.select(*[F.col(c).alias(C.right(c)) for c in eligible.columns])
    return left.join(
        right,
        (_l(C.PHONE) == _r(C.PHONE))
        & (_l(C.RECORD_ID) < _r(C.RECORD_ID))
        & (_l(_SHOWN) != _r(_SHOWN))
        & condition,
    )


def _domain_frequency(records: DataFrame, known: list[str]) -> DataFrame:
    """``_domain, _freq``: how many distinct (alias-stripped) emails use each domain that is
    not a known domain. Only two unknown domains are ever compared by frequency (a known
    domain wins without it), so the emails of known domains, most of them, are not
    shuffled to be counted."""
    domain = email_domain(F.col(C.EMAIL_CANONICAL))
    emails = records.where(F.col(C.EMAIL_CANONICAL).isNotNull() & ~domain.isin(*known))
    return (
        emails.select(C.EMAIL_CANONICAL)
        .distinct()
        .groupBy(email_domain(F.col(C.EMAIL_CANONICAL)).alias(_DOMAIN))
        .agg(F.count(F.lit(1)).alias(_FREQ))
    )


def _alias_decisions(eligible: DataFrame) -> DataFrame:
    same = (
        _l(C.EMAIL).isNotNull() & _r(C.EMAIL).isNotNull() & (_l(_KEY) == _r(_KEY))
    )  # emails differ (pair condition), so at most one side is untagged
    direction = F.when(_r(C.EMAIL) == _r(_KEY), "l").when(_l(C.EMAIL) == _l(_KEY), "r")
    pairs = _pairs(eligible, same)
    return _decided(pairs, ALIAS_MERGE, direction, F.lit(None), F.lit(False)).where(
        F.col(_DIR).isNotNull()
    )


def _typo_decisions(eligible: DataFrame) -> DataFrame:
    # the join keeps pairs one or two Levenshtein edits apart (cheap, bounded); an adjacent
    # swap is two edits, and its character-array test runs on those pairs only, in the
    # projection after the join: inside the join's condition, even last, the join took
    # 2.7x as long at 1M records (9.7 s against 3.6 s; docs/benchmarks.md)
    distance = F.levenshtein(_l(_KEY), _r(_KEY), 2)
    close = (F.abs(F.length(_l(_KEY)) - F.length(_r(_KEY))) <= 1) & distance.isin(1, 2)
    one_edit = (distance == 1) | _adjacent_swap(_l(_KEY), _r(_KEY))
    in_domain = _l(_LOCAL) == _r(_LOCAL)
    typo_l = in_domain & ~_l(_KNOWN) & (_r(_KNOWN) | (_r(_FREQ) > _l(_FREQ)))
    typo_r = in_domain & ~_r(_KNOWN) & (_l(_KNOWN) | (_l(_FREQ) > _r(_FREQ)))
    bad_l, bad_r = _l(_UNREACHABLE), _r(_UNREACHABLE)
    no = F.lit(None).cast("string")
    direction = (
        F.when(~one_edit | (bad_l & bad_r), no)
        .when(bad_l, F.when(~typo_r, "l"))
        .when(bad_r, F.when(~typo_l, "r"))
        .when(typo_l, "l")
        .when(typo_r, "r")
    )
    why = (
        F.when(~one_edit, no)
        .when(bad_l & bad_r, "both_unreachable")
        .when((bad_l & typo_r) | (bad_r & typo_l), "no_clean_survivor")
        .when(bad_l | bad_r | typo_l | typo_r, no)
        .when(~in_domain, "household_local_part")
        .when(_l(_KNOWN) & _r(_KNOWN), "both_known_domains")
        .otherwise("undecidable_domain")
    )
    unreachable_src = F.when(direction == "l", bad_l).when(direction == "r", bad_r)
    decided = _decided(_pairs(eligible, close), TYPO_MERGE, direction, why, unreachable_src)
    # one destination mailbox per merged record, else no merge
    src = F.when(F.col(_DIR) == "l", _l(C.RECORD_ID)).when(F.col(_DIR) == "r", _r(C.RECORD_ID))
    dst_key = F.when(F.col(_DIR) == "l", _r(_KEY)).when(F.col(_DIR) == "r", _l(_KEY))
    per_src = Window.partitionBy(F.coalesce(src, _l(C.RECORD_ID)))
    ambiguous = F.size(F.collect_set(dst_key).over(per_src)) > 1
    return decided.withColumn("_ambiguous", F.col(_DIR).isNotNull() & ambiguous).select(
        *[c for c in decided.columns if c not in (_DIR, _WHY)],
        F.when(~F.col("_ambiguous"), F.col(_DIR)).alias(_DIR),
        F.when(F.col("_ambiguous"), "ambiguous_destination").otherwise(F.col(_WHY)).alias(_WHY),
    )


def _adjacent_swap(a: Column, b: Column) -> Column:
    """True when ``b`` is ``a`` with exactly one pair of adjacent characters swapped."""
    chars_a, chars_b = F.split(a, ""), F.split(b, "")
    same = F.zip_with(chars_a, chars_b, lambda x, y: x == y)
    first = F.array_position(same, False).cast("int")  # 1-based; 0 when equal
    return (
        (F.length(a) == F.length(b))
        & (first > 0)
        & (F.size(F.filter(same, lambda x: ~x)) == 2)
        & (F.element_at(chars_a, first) == F.element_at(chars_b, first + 1))
        & (F.element_at(chars_a, first + 1) == F.element_at(chars_b, first))
    )


def _decided(
    pairs: DataFrame, name: str, direction: Column, why: Column, unreachable_src: Column
) -> DataFrame:
    return pairs.select(
        _l(C.RECORD_ID).alias(C.left(C.RECORD_ID)),
        _r(C.RECORD_ID).alias(C.right(C.RECORD_ID)),
        _l(_SHOWN).alias(C.left(_SHOWN)),
        _r(_SHOWN).alias(C.right(_SHOWN)),
        _l(_KEY).alias(C.left(_KEY)),
        _r(_KEY).alias(C.right(_KEY)),
        _l(C.PHONE).alias(C.PHONE),
        F.lit(name).alias(_NAME),
        direction.alias(_DIR),
        why.cast("string").alias(_WHY),
        F.coalesce(unreachable_src, F.lit(False)).alias(UNREACHABLE_SOURCE),
    )


def _edges(decided: DataFrame) -> DataFrame:
    to_right = F.col(_DIR) == "l"
    ids = C.left(C.RECORD_ID), C.right(C.RECORD_ID)
    return decided.where(F.col(_DIR).isNotNull()).select(
        F.when(to_right, F.col(ids[0])).otherwise(F.col(ids[1])).alias(C.SRC),
        F.when(to_right, F.col(ids[1])).otherwise(F.col(ids[0])).alias(C.DST),
        F.col(_NAME).alias(C.REASON),
        F.lit(TRANSFORM_PRIORITY).cast("long").alias(C.PRIORITY),
        F.lit(1.0).cast("double").alias(C.SCORE),
        F.col(UNREACHABLE_SOURCE),
    )


def _no_merge(decided: DataFrame) -> DataFrame:
    return decided.where(F.col(_WHY).isNotNull()).select(
        F.col(C.left(C.RECORD_ID)).alias("record_id_a"),
        F.col(C.right(C.RECORD_ID)).alias("record_id_b"),
        mask_value(F.col(C.left(_SHOWN))).alias("email_a"),
        mask_value(F.col(C.right(_SHOWN))).alias("email_b"),
        mask_value(F.col(C.PHONE)).alias(C.PHONE),
        F.col(_NAME).alias("transformation"),
        F.col(_WHY).alias(C.REASON),
    )


def _l(name: str) -> Column:
    return F.col(C.left(name))


def _r(name: str) -> Column:
    return F.col(C.right(name))
