"""Scoring, vetoes and group merges: the probabilistic links of a run.

Candidate pairs (:mod:`pairs`, between different rule groups) are scored with the model: a
level per comparison, its weight ``log2(m/u)`` (the top level adjusted by the value's term
frequency, capped), summed with the prior into the match weight; each scored pair carries the
explanation (comparison, level, weight) whose weights sum to its evidence.

A pair is **vetoed** (kept apart, with the reason) for different values of a veto field (an
external id), or for the household pattern: a shared phone or address, different first names
and no shared email or external id.

**Merges happen between groups, not records.** In each round every group pair with a link is
judged by its best link (probability at least ``match_probability``), none of its cross pairs
vetoed or strongly negative, and the union within ``max_group_size`` and the identifier limits;
a group joins only the group whose link is its own best and whose best link is it (mutual best:
no chaining through one weak edge). Merged groups compete again in the next round, up to
``max_rounds``. The link that joined two groups becomes an edge ``probabilistic``, weaker than
every rule (:data:`PRIORITY`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.config import LimitsConfig
from idres_spark.linking.graph import GROUP_KEY
from idres_spark.masking import mask_value
from idres_spark.matching import rule_expressions as X
from idres_spark.probabilistic.comparisons import Comparison, level_column, with_levels
from idres_spark.probabilistic.model import Model
from idres_spark.probabilistic.settings import ProbabilisticConfig
from idres_spark.probabilistic.train import TF, TF_VALUE
from idres_spark.schemas import EDGE_SCHEMA, UNREACHABLE_SOURCE

REASON = "probabilistic"
PRIORITY = 1_000_000  # weaker than every rule and transformation when limits must cut
WEIGHT, PROBABILITY, EVIDENCE, VETO = "match_weight", "match_probability", "evidence", "veto"
EXPLANATION, DECISION = "explanation", "decision"
_GL, _GR = "_group_l", "_group_r"


@dataclass(frozen=True)
class Outcome:
    groups: DataFrame  # record_id, GROUP_KEY: the rule groups, merged
    edges: DataFrame  # EDGE_SCHEMA: the links that joined groups
    links: DataFrame  # diagnostics/probabilistic_links: every pair that mattered, decided
    suggested: DataFrame  # diagnostics/suggested_merges: the review band, masked values
    merges: int  # group merges made


def with_term_frequencies(
    records: DataFrame, comparisons: Sequence[Comparison], tables: dict[str, DataFrame]
) -> DataFrame:
    """``records`` + ``_tf_<comparison>`` (null: the value is in one group only)."""
    out = records
    for comparison in comparisons:
        table = tables.get(comparison.name)
        if table is None or comparison.tf_field is None:
            continue
        name = f"_tf_{comparison.name}"
        keyed = table.select(F.col(TF_VALUE).alias("_tf_key"), F.col(TF).alias(name))
        out = out.join(keyed, X.field(comparison.tf_field) == F.col("_tf_key"), "left").drop(
            "_tf_key"
        )
    return out


def score(
    pairs: DataFrame, comparisons: Sequence[Comparison], model: Model, settings: ProbabilisticConfig
) -> DataFrame:
    """Pair frame -> ``id_l, id_r``, levels, ``evidence``, ``match_weight``,
    ``match_probability``, ``explanation`` and ``veto``."""
    leveled = with_levels(pairs, list(comparisons))
    parts: list[tuple[str, Column, Column]] = []  # (comparison, level label, weight)
    for comparison in comparisons:
        fitted = model.comparison(comparison.name)
        level = F.col(level_column(comparison))
        weight = F.element_at(F.array(*[F.lit(w) for w in fitted.weights]), level + 1)
        tf_col = f"_tf_{comparison.name}" + C.LEFT
        if fitted.tf_field is not None and tf_col in pairs.columns:
            groups = max(int(model.training.get("tf_groups", {}).get(comparison.name, 1)), 1)
            tf = F.coalesce(F.col(tf_col), F.lit(1.0 / groups))
            u_top = fitted.u[-1]
            cap = settings.tf_cap_bits
            adjust = F.least(F.greatest(F.log2(F.lit(u_top) / tf), F.lit(-cap)), F.lit(cap))
            weight = F.when(level == comparison.top, weight + adjust).otherwise(weight)
        labels = F.element_at(F.array(*[F.lit(x) for x in fitted.labels]), level + 1)
        parts.append((comparison.name, F.when(level >= 0, labels), F.when(level >= 0, weight)))
    evidence = sum((F.coalesce(w, F.lit(0.0)) for _, _, w in parts), F.lit(0.0))
    explanation = F.filter(
        F.array(*[
            F.struct(F.lit(name).alias("comparison"), label.alias("level"), w.alias("weight"))
            for name, label, w in parts
        ]),
        lambda item: item["level"].isNotNull(),
    )  # fmt: skip
    scored = leveled.select(
        "*", evidence.alias(EVIDENCE), explanation.alias(EXPLANATION), _veto(settings, comparisons)
    )
    total = F.lit(model.prior_weight) + F.col(EVIDENCE)
    return scored.withColumn(WEIGHT, total).withColumn(
        PROBABILITY, F.lit(1.0) / (F.lit(1.0) + F.pow(F.lit(2.0), -F.col(WEIGHT)))
    )


def _veto(settings: ProbabilisticConfig, comparisons: Sequence[Comparison]) -> Column:
    vetoes: list[Column] = []
    for name in settings.vetoes.different:
        left, right = X.field(name, C.LEFT), X.field(name, C.RIGHT)
        vetoes.append(F.when(left.isNotNull() & right.isNotNull() & (left != right),
                             F.lit(f"different_{name}")))  # fmt: skip
    by_name = {c.name: c for c in comparisons}

    def at_least(name: str, label: str) -> Column:
        comparison = by_name.get(name)
        if comparison is None or label not in comparison.labels:  # absent, or a custom one
            return F.lit(False)
        return F.col(level_column(comparison)) >= comparison.labels.index(label)

    first = by_name.get("first_name")
    if settings.vetoes.household and first is not None and "nickname" in first.labels:
        # a home's phone, address, network or shared laptop
        shared_place = at_least("phone_last_name", "phone") | at_least("address", "street_similar")
        shared_place = shared_place | at_least("ip", "same_within_window")
        shared_place = shared_place | at_least("device_id", "same_within_window")
        personal = at_least("email", "alias") | at_least("user_id", "exact")
        # first names that only look alike (Jack / Jackie), or one that is missing, are two
        # people of one household as often as one person: only an exact name or a nickname
        # lets the pair through
        differ = F.col(level_column(first)) < first.labels.index("nickname")
        household = shared_place & differ & ~personal
        vetoes.append(F.when(household, F.lit("household")))
    return (F.coalesce(*vetoes) if vetoes else F.lit(None).cast("string")).alias(VETO)


def relevant(scored: DataFrame, settings: ProbabilisticConfig) -> DataFrame:
    """The scored pairs that may matter to a merge or a steward: at or above the review
    probability, vetoed, or strongly negative (:func:`mattering` narrows them further)."""
    return scored.where(
        (F.col(PROBABILITY) >= settings.review_probability)
        | F.col(VETO).isNotNull()
        | (F.col(EVIDENCE) <= -settings.negative_evidence_bits)
    )


def merge_groups(
    scored: DataFrame,
    groups: DataFrame,
    records: DataFrame,
    settings: ProbabilisticConfig,
    limits: LimitsConfig,
    materialize: Callable[[DataFrame], DataFrame],
    cannot: DataFrame | None = None,
) -> Outcome:
    """Join rule groups by their best links (see the module docstring). ``scored`` holds the
    scored pairs (:func:`score`; only the :func:`relevant` ones are read), ``groups``
    ``record_id, GROUP_KEY`` for every record resolved; ``cannot`` the steward cannot-link tags
    (``record_id, tag``: a group may not hold ``+k`` and ``-k``)."""
    kept = relevant(scored, settings).select(
        C.ID_L, C.ID_R, WEIGHT, PROBABILITY, EVIDENCE, EXPLANATION, VETO
    )
    of_group = groups.select(F.col(C.RECORD_ID), F.col(GROUP_KEY))
    placed = materialize(
        kept.join(of_group.withColumnRenamed(C.RECORD_ID, C.ID_L).withColumnRenamed(
            GROUP_KEY, _GL), C.ID_L)
        .join(of_group.withColumnRenamed(C.RECORD_ID, C.ID_R).withColumnRenamed(
            GROUP_KEY, _GR), C.ID_R)
    )  # fmt: skip
    links = materialize(mattering(placed, settings.review_probability))
    involved = (
        links.select(F.col(_GL).alias(GROUP_KEY))
        .unionByName(links.select(F.col(_GR).alias(GROUP_KEY)))
        .distinct()
    )
    limited = sorted(limits.identifier_limits)
    members = groups.join(involved, GROUP_KEY, "left_semi").join(
        records.select(C.RECORD_ID, *[X.field(f).alias(f) for f in limited]), C.RECORD_ID
    )
    tags = cannot.groupBy(C.RECORD_ID).agg(F.collect_set("tag").alias("_tags")) if cannot else None
    if tags is not None:
        members = members.join(tags, C.RECORD_ID, "left")
    else:
        members = members.withColumn("_tags", F.lit(None).cast("array<long>"))
    members = materialize(members.select(C.RECORD_ID, GROUP_KEY, *limited, "_tags"))
    labels = members.select(GROUP_KEY, F.col(GROUP_KEY).alias("_label")).distinct()
    labels = materialize(labels)
    merges = 0
    chosen: DataFrame | None = None
    for _ in range(settings.max_rounds):
        judged = _judge(links, labels, members, settings, limits, limited)
        winners = _mutual_best(judged.where(F.col(DECISION).isNull()))
        winners = materialize(winners)
        found = winners.count()
        if not found:
            break
        merges += found
        chosen = winners if chosen is None else chosen.unionByName(winners)
        relabel = winners.select(F.col("_b").alias("_old"), F.col("_a").alias("_new"))
        labels = materialize(
            labels.join(relabel, F.col("_label") == F.col("_old"), "left").select(
                GROUP_KEY, F.coalesce("_new", "_label").alias("_label")
            )
        )
    final = _judge(links, labels, members, settings, limits, limited)
    merged_groups = groups.join(labels, GROUP_KEY, "left").select(
        C.RECORD_ID, F.coalesce("_label", GROUP_KEY).alias(GROUP_KEY)
    )
    spark = scored.sparkSession
    edges = (
        chosen.select(
            F.col("_src").alias(C.SRC),
            F.col("_dst").alias(C.DST),
            F.lit(REASON).alias(C.REASON),
            F.lit(PRIORITY).cast("long").alias(C.PRIORITY),
            F.col("_p").alias(C.SCORE),
            F.lit(False).alias(UNREACHABLE_SOURCE),
        )  # fmt: skip
        if chosen is not None
        else spark.createDataFrame([], EDGE_SCHEMA)
    )
    decided = materialize(_decided_links(links, labels, final, edges))  # written, counted
    suggested = decided.where(F.col(DECISION) == "review").join(
        records.select(
            C.RECORD_ID, mask_value(F.col(C.EMAIL)).alias("_me"), mask_value(F.col(C.PHONE))
            .alias("_mp"),
        ), F.col(C.ID_L) == F.col(C.RECORD_ID),
    ).drop(C.RECORD_ID)  # fmt: skip
    suggested = suggested.select(
        C.ID_L, C.ID_R, WEIGHT, PROBABILITY, EXPLANATION,
        F.col("_me").alias("masked_email_l"), F.col("_mp").alias("masked_phone_l"),
    )  # fmt: skip
    return Outcome(merged_groups, edges, decided, suggested, merges)


def mattering(placed: DataFrame, review: float) -> DataFrame:
    """The relevant pairs (with their groups ``_group_l`` / ``_group_r``) that can matter: a
    pair at or above the review probability, and a vetoed or strongly negative pair whose two
    groups both hold such a pair that is not vetoed. A group without one never merges, so the
    vetoes and negative pairs that touch it never decide anything (most candidate pairs of
    people who merely share a name or a last name are such pairs)."""
    strong = F.col(PROBABILITY) >= review
    active = placed.where(strong & F.col(VETO).isNull())
    active = (
        active.select(F.col(_GL).alias("_g"))
        .unionByName(active.select(F.col(_GR).alias("_g")))
        .distinct()
    )
    on_left = active.select(F.col("_g").alias(_GL), F.lit(True).alias("_al"))
    on_right = active.select(F.col("_g").alias(_GR), F.lit(True).alias("_ar"))
    flagged = placed.join(on_left, _GL, "left").join(on_right, _GR, "left")
    kept = flagged.where(strong | (F.col("_al").isNotNull() & F.col("_ar").isNotNull()))
    return kept.drop("_al", "_ar")


def _judge(
    links: DataFrame,
    labels: DataFrame,
    members: DataFrame,
    settings: ProbabilisticConfig,
    limits: LimitsConfig,
    limited: list[str],
) -> DataFrame:
    """One row per pair of current groups with a link: ``_a < _b``, the best link (``_w``,
    ``_p``, ``_src``, ``_dst``) and ``decision`` (null: may merge)."""
    label_l = labels.select(F.col(GROUP_KEY).alias(_GL), F.col("_label").alias("_ll"))
    label_r = labels.select(F.col(GROUP_KEY).alias(_GR), F.col("_label").alias("_lr"))
    current = links.join(label_l, _GL).join(label_r, _GR).where(F.col("_ll") != F.col("_lr"))
    best = F.max(F.struct(F.col(WEIGHT), F.col(C.ID_L), F.col(C.ID_R), F.col(PROBABILITY)))
    pairs = current.groupBy(
        F.least("_ll", "_lr").alias("_a"), F.greatest("_ll", "_lr").alias("_b")
    ).agg(
        best.alias("_best"), F.min(VETO).alias("_veto"), F.min(EVIDENCE).alias("_lowest"),
    )  # fmt: skip
    sizes = members.join(labels, GROUP_KEY).groupBy("_label").agg(
        F.count(F.lit(1)).alias("_n"), *[F.collect_set(f).alias(f"_set_{f}") for f in limited],
        F.flatten(F.collect_list(F.coalesce("_tags", F.array().cast("array<long>"))))
        .alias("_cannot"),
    )  # fmt: skip
    side_a = sizes.select(*[F.col(c).alias(c + "_a") for c in sizes.columns])
    side_b = sizes.select(*[F.col(c).alias(c + "_b") for c in sizes.columns])
    judged = pairs.join(side_a, F.col("_a") == F.col("_label_a")).join(
        side_b, F.col("_b") == F.col("_label_b")
    )
    decision = (
        F.when(F.col("_veto").isNotNull(), F.concat(F.lit("veto:"), F.col("_veto")))
        .when(
            F.size(
                F.array_intersect(F.col("_cannot_a"), F.transform(F.col("_cannot_b"), lambda t: -t))
            )
            > 0,
            F.lit("veto:cannot_link"),
        )
        .when(F.col("_lowest") <= -settings.negative_evidence_bits, F.lit("veto:negative_pair"))
        .when(F.col("_best.match_probability") < settings.review_probability, F.lit("below_review"))
        .when(F.col("_best.match_probability") < settings.match_probability, F.lit("review"))
        .when(F.col("_n_a") + F.col("_n_b") > limits.max_group_size, F.lit("max_group_size"))
    )
    for field in limited:
        union = F.size(F.array_union(F.col(f"_set_{field}_a"), F.col(f"_set_{field}_b")))
        decision = decision.when(
            union > limits.identifier_limits[field], F.lit(f"identifier_limit:{field}")
        )
    return judged.select(
        "_a", "_b", F.col("_best." + WEIGHT).alias("_w"), F.col("_best.match_probability")
        .alias("_p"), F.col("_best." + C.ID_L).alias("_src"), F.col("_best." + C.ID_R)
        .alias("_dst"), decision.alias(DECISION),
    )  # fmt: skip


def _mutual_best(candidates: DataFrame) -> DataFrame:
    """The candidate group pairs that are each side's best (highest weight, then the
    smallest other group)."""
    both = candidates.select("*", F.col("_a").alias("_g"), F.col("_b").alias("_o")).unionByName(
        candidates.select("*", F.col("_b").alias("_g"), F.col("_a").alias("_o"))
    )
    rank = F.row_number().over(Window.partitionBy("_g").orderBy(F.col("_w").desc(), "_o"))
    best = both.withColumn("_r", rank).where("_r = 1")
    mutual = best.groupBy("_a", "_b").agg(F.count(F.lit(1)).alias("_sides"))
    return candidates.join(mutual.where("_sides = 2").select("_a", "_b"), ["_a", "_b"])


def _decided_links(links: DataFrame, labels: DataFrame, final: DataFrame, edges: DataFrame):
    """Every relevant pair with its decision: ``merged`` (the link that joined its groups),
    ``same_group`` (the groups were joined by another link), or why its groups stayed apart."""
    label_l = labels.select(F.col(GROUP_KEY).alias(_GL), F.col("_label").alias("_ll"))
    label_r = labels.select(F.col(GROUP_KEY).alias(_GR), F.col("_label").alias("_lr"))
    placed = links.join(label_l, _GL, "left").join(label_r, _GR, "left").withColumn(
        "_ll", F.coalesce("_ll", _GL)
    ).withColumn("_lr", F.coalesce("_lr", _GR))  # fmt: skip
    why = final.select(
        F.col("_a").alias("_fa"), F.col("_b").alias("_fb"),
        F.coalesce(F.col(DECISION), F.lit("not_mutual_best")).alias("_why"),
    )  # fmt: skip
    chosen = edges.select(F.col(C.SRC).alias(C.ID_L), F.col(C.DST).alias(C.ID_R), F.lit(True)
                          .alias("_chosen"))  # fmt: skip
    out = (
        placed.join(
            why,
            (F.least("_ll", "_lr") == F.col("_fa")) & (F.greatest("_ll", "_lr") == F.col("_fb")),
            "left",
        )  # fmt: skip
        .join(chosen, [C.ID_L, C.ID_R], "left")
        .withColumn(
            DECISION,
            F.when(F.col("_chosen"), F.lit("merged"))
            .when(F.col("_ll") == F.col("_lr"), F.lit("same_group"))
            .otherwise(F.col("_why")),
        )
    )
    return out.select(
        C.ID_L, C.ID_R, F.col(_GL).alias("group_l"), F.col(_GR).alias("group_r"), WEIGHT,
        PROBABILITY, EVIDENCE, EXPLANATION, VETO, DECISION,
    ).where(F.col(DECISION).isNotNull())  # fmt: skip
