"""Survivorship chains and provenance on real Spark (docs/golden-record.md)."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.config import NormalizationConfig
from idres_spark.golden_config import GoldenConfig
from idres_spark.ingest.normalize import normalize_records
from idres_spark.profiles.survivorship import MERGED_AWAY, Survivorship

D1, D2, D3 = dt.datetime(2025, 1, 1), dt.datetime(2025, 2, 1), dt.datetime(2025, 3, 1)


@pytest.fixture
def survive(make_records):
    """``survive(rows, golden={...}, custom=[...])`` -> ({profile column: value} of profile
    P1, {field: provenance row}); every row belongs to profile P1 unless it says otherwise."""

    def run(rows, golden=None, custom=(), partitions=None):
        members = _members(make_records, rows)
        if partitions:
            members = members.repartition(partitions)
        surv = Survivorship(GoldenConfig.model_validate(golden or {}), list(custom))
        prepared = surv.prepare(members)
        aggregated = prepared.groupBy(C.PROFILE_ID).agg(*surv.aggregates())
        if not partitions:  # computed once for the two reads below
            aggregated = aggregated.localCheckpoint()
        profiles = aggregated.select(
            C.PROFILE_ID, *[col.alias(name) for name, col in surv.columns().items()]
        )
        provenance = surv.provenance(aggregated)
        return profiles, provenance

    def first(rows, **kwargs):
        profiles, provenance = run(rows, **kwargs)
        profile = profiles.where(F.col(C.PROFILE_ID) == "P1").first().asDict()
        explained = {
            r["field"]: r.asDict() for r in provenance.where(F.col(C.PROFILE_ID) == "P1").collect()
        }
        return profile, explained

    first.frames = run
    return first


def _members(make_records, rows):
    rows = [dict(r) for r in rows]
    profile_of = {r["record_id"]: r.pop("profile_id", "P1") for r in rows}
    merged = {r["record_id"] for r in rows if r.pop("merged_away", False)}

    def lookup(mapping):  # a literal map: no second frame, no join
        return F.element_at(F.create_map(*[F.lit(x) for kv in mapping.items() for x in kv]),
                            F.col(C.RECORD_ID))  # fmt: skip

    return make_records(rows).select(
        "*",
        lookup(profile_of).alias(C.PROFILE_ID),
        lookup({rid: rid in merged for rid in profile_of}).alias(MERGED_AWAY),
    )


def test_most_recent_is_the_default_and_nulls_never_win(survive):
    profile, why = survive(
        [
            {"record_id": "web:1", "phone": "+15550001", "event_ts": D1},
            {"record_id": "web:2", "phone": "+15550002", "event_ts": D2},
            {"record_id": "web:3", "phone": None, "event_ts": D3},
        ]
    )
    assert profile["primary_phone"] == "+15550002"
    assert why["phone"]["record_id"] == "web:2"
    assert why["phone"]["policy"] == "most_recent"
    assert (why["phone"]["candidates"], why["phone"]["distinct_values"]) == (2, 2)


def test_oldest_and_null_event_times_rank_last_both_ways(survive):
    rows = [
        {"record_id": "web:1", "user_id": "U-NO-TIME", "event_ts": None},
        {"record_id": "web:2", "user_id": "U-OLD", "event_ts": D1},
        {"record_id": "web:3", "user_id": "U-NEW", "event_ts": D3},
    ]
    oldest, _ = survive(rows, golden={"default": ["oldest"]})
    newest, _ = survive(rows)
    assert oldest["primary_user_id"] == "U-OLD"
    assert newest["primary_user_id"] == "U-NEW"
    alone, why = survive([rows[0], {"record_id": "web:9", "user_id": None, "event_ts": D2}])
    assert alone["primary_user_id"] == "U-NO-TIME"  # a record without a time still counts
    assert why["user_id"]["policy"] == "single_value"


def test_source_priority_with_unlisted_sources_after_listed_ones(survive):
    rows = [
        {"record_id": "web:1", "phone": "+1555web", "event_ts": D3},
        {"record_id": "pos:1", "phone": "+1555pos", "event_ts": D2},
        {"record_id": "app:1", "phone": "+1555app", "event_ts": D1},
    ]
    golden = {"source_priority": ["crm", "app"], "default": ["source_priority", "most_recent"]}
    profile, why = survive(rows, golden=golden)
    assert profile["primary_phone"] == "+1555app"
    assert why["phone"]["policy"] == "source_priority"
    # neither web nor pos is listed: they tie, and most_recent decides between them
    profile, why = survive(rows[:2], golden=golden)
    assert profile["primary_phone"] == "+1555web"
    assert why["phone"]["policy"] == "most_recent"
    # a chain's own list wins over the section's
    own = {"default": [{"source_priority": ["pos"]}, "most_recent"]}
    assert survive(rows, golden=own)[0]["primary_phone"] == "+1555pos"


def test_most_frequent_by_records_and_by_sources(survive):
    rows = [
        {"record_id": "web:1", "phone": "+15550001", "event_ts": D1},
        {"record_id": "web:2", "phone": "+15550001", "event_ts": D1},
        {"record_id": "app:1", "phone": "+15550002", "event_ts": D2},
        {"record_id": "crm:1", "phone": "+15550002", "event_ts": D1},
        {"record_id": "web:3", "phone": "+15550002", "event_ts": D1},
        {"record_id": "web:4", "phone": "+15550003", "event_ts": D3},
    ]
    by_records, why = survive(rows, golden={"fields": {"phone": ["most_frequent"]}})
    assert by_records["primary_phone"] == "+15550002"  # 3 records against 2 and 1
    assert why["phone"]["policy"] == "most_frequent:records"
    rows[0]["record_id"] = "pos:1"  # 0001: web + pos; 0002: app + crm + web
    rows[2]["record_id"] = "web:5"  # 0002 now: web, crm, web -> two sources
    by_sources, why = survive(
        rows, golden={"fields": {"phone": [{"most_frequent": "sources"}, "most_recent"]}}
    )
    # two sources each: the tie falls to most_recent, whose newest record holds 0002
    assert by_sources["primary_phone"] == "+15550002"
    assert why["phone"]["policy"] == "most_recent"
    assert why["phone"]["distinct_values"] == 3


def test_alias_forms_of_an_email_count_as_one_value(survive):
    rows = [
        {"record_id": "web:1", "email": "ann@x.com", "event_ts": D1},
        {"record_id": "web:2", "email": "ann+shop@x.com", "event_ts": D2},
        {"record_id": "web:3", "email": "ann+news@x.com", "event_ts": D1},
        {"record_id": "web:4", "email": "bob@x.com", "event_ts": D1},
        {"record_id": "web:5", "email": "bob@x.com", "event_ts": D1},
    ]
    profile, why = survive(rows, golden={"fields": {"email": ["most_frequent", "most_recent"]}})
    # literally bob@x.com is the most frequent (2 against 1 each); as one person's address
    # ann@x.com is held three times, and most_recent picks among its forms
    assert profile["primary_email"] == "ann+shop@x.com"
    assert why["email"]["policy"] == "most_recent"


def test_most_complete_and_longest(survive):
    rows = [
        {"record_id": "web:1", "last_name": "li", "phone": "+15550001", "user_id": "U1",
         "event_ts": D3},
        {"record_id": "web:2", "last_name": "lindqvist", "event_ts": D2},
        {"record_id": "web:3", "last_name": "lind", "email": "l@x.com", "phone": "+15550003",
         "user_id": "U3", "device_id": "d3", "event_ts": D1},
    ]  # fmt: skip
    complete, why = survive(rows, golden={"fields": {"last_name": ["most_complete"]}})
    assert complete["last_name"] == "lind"
    assert why["last_name"]["policy"] == "most_complete"
    longest, why = survive(rows, golden={"fields": {"last_name": ["longest"]}})
    assert longest["last_name"] == "lindqvist"
    assert why["last_name"]["policy"] == "longest"


def test_valid_first_ranks_reachability_and_merged_away_emails_last(survive):
    rows = [
        {"record_id": "web:1", "email": "bounced@x.com", "email_status": "bounced", "event_ts": D3},
        {"record_id": "web:2", "email": "typo@gnail.com", "merged_away": True, "event_ts": D3},
        {"record_id": "web:3", "email": "ok@x.com", "email_status": "unknown", "event_ts": D1},
    ]
    profile, why = survive(rows)  # the default email chain: valid_first, most_recent
    assert profile["primary_email"] == "ok@x.com"
    assert why["email"]["policy"] == "valid_first"
    recent, _ = survive(rows, golden={"fields": {"email": ["most_recent"]}})
    assert recent["primary_email"] in {"bounced@x.com", "typo@gnail.com"}


def test_a_tie_through_the_whole_chain_goes_to_the_smallest_record_id(survive):
    rows = [
        {"record_id": "web:2", "phone": "+15550002", "event_ts": D1},
        {"record_id": "web:1", "phone": "+15550001", "event_ts": D1},
    ]
    profile, why = survive(rows, golden={"default": ["most_recent", "longest"]})
    assert profile["primary_phone"] == "+15550001"
    assert why["phone"]["policy"] == "tie_break"
    assert why["phone"]["record_id"] == "web:1"


def test_empty_and_blank_values_never_win(survive):
    rows = [
        {"record_id": "web:1", "first_name": "", "custom": {"tier": "  "}, "event_ts": D3},
        {"record_id": "web:2", "first_name": "ann", "custom": {"tier": "gold"}, "event_ts": D1},
    ]
    profile, why = survive(rows, custom=["tier"])
    assert (profile[C.FIRST_NAME], profile["tier"]) == ("ann", "gold")
    assert why["tier"]["candidates"] == 1


def test_a_group_survives_from_one_record_never_mixed(survive):
    rows = [
        {"record_id": "web:1", "first_name": "ann", "last_name": None, "event_ts": D3},
        {"record_id": "crm:1", "first_name": "anna", "last_name": "berg", "event_ts": D1},
    ]
    apart, _ = survive(rows)
    assert (apart[C.FIRST_NAME], apart[C.LAST_NAME]) == ("ann", "berg")  # mixed: two records
    together, why = survive(rows, golden={"groups": {"name": ["first_name", "last_name"]}})
    assert (together[C.FIRST_NAME], together[C.LAST_NAME]) == ("ann", None)
    assert why[C.FIRST_NAME]["field_group"] == "name"
    assert C.LAST_NAME not in why  # no value, no provenance row
    complete, why = survive(
        rows,
        golden={"groups": {"name": ["first_name", "last_name"]},
                "fields": {"name": ["most_complete", "most_recent"]}},
    )  # fmt: skip
    assert (complete[C.FIRST_NAME], complete[C.LAST_NAME]) == ("anna", "berg")
    assert why[C.LAST_NAME]["record_id"] == why[C.FIRST_NAME]["record_id"] == "crm:1"


def test_custom_fields_survive_by_their_own_chain(survive):
    rows = [
        {"record_id": "web:1", "custom": {"tier": "bronze"}, "event_ts": D3},
        {"record_id": "crm:1", "custom": {"tier": "gold"}, "event_ts": D1},
        {"record_id": "crm:2", "custom": {}, "event_ts": D2},
    ]
    golden = {"fields": {"tier": [{"source_priority": ["crm"]}, "most_recent"]}}
    profile, why = survive(rows, golden=golden, custom=["tier"])
    assert profile["tier"] == "gold"
    assert (why["tier"]["source"], why["tier"]["policy"]) == ("crm", "source_priority")
    assert survive(rows, custom=["tier"])[0]["tier"] == "bronze"


def test_the_answer_does_not_depend_on_partitions(survive, spark):
    rows = [
        {"record_id": f"web:{i}", "profile_id": f"P{i % 7}", "phone": f"+1555{i % 5:04d}",
         "first_name": ["ann", "bo", "cy"][i % 3], "last_name": ["li", None][i % 2],
         "event_ts": [D1, D2, None][i % 3], "custom": {"tier": str(i % 4)}}
        for i in range(60)
    ]  # fmt: skip
    golden = {
        "source_priority": ["web"],
        "groups": {"name": ["first_name", "last_name"]},
        "fields": {"phone": ["most_frequent", "oldest"], "name": ["longest", "most_recent"]},
    }
    results = []
    for partitions, shuffle in ((1, "1"), (7, "5")):
        spark.conf.set("spark.sql.shuffle.partitions", shuffle)
        try:
            profiles, provenance = survive.frames(
                rows, golden=golden, custom=["tier"], partitions=partitions
            )
            results.append((profiles.collect(), provenance.collect()))
        finally:
            spark.conf.set("spark.sql.shuffle.partitions", "2")
    schema_p = profiles.schema
    schema_v = provenance.schema
    for one, other in ((results[0][0], results[1][0]), (results[0][1], results[1][1])):
        schema = schema_p if one is results[0][0] else schema_v
        assert_df_equality(
            spark.createDataFrame(one, schema), spark.createDataFrame(other, schema),
            ignore_row_order=True,
        )  # fmt: skip
    assert len(results[0][0]) == 7


SOURCES = ("web", "app", "crm", "pos")
TIMES = (D1, D2, D3, None)
PHONES = ("+15550001", "+15550002", "+15550003")


def _oracle(records, order):
    """Winner and policy of the phone under ``source_priority`` (``order``), then
    ``most_recent``, worked out record by record: the last policy at which any candidate
    holding another value fell behind the winner."""
    place = {s: i + 1 for i, s in enumerate(order)}

    def keys(r):
        ts = r["event_ts"]
        recent = -int(ts.replace(tzinfo=dt.UTC).timestamp()) if ts else 1 << 62
        return (place.get(r["source"], len(order) + 1), recent)

    candidates = [r for r in records if r["phone"]]
    if not candidates:
        return None, None
    won = min(candidates, key=lambda r: (keys(r), r["record_id"]))
    behind = [
        next((i for i, (a, b) in enumerate(zip(keys(r), keys(won), strict=True)) if a != b), 2)
        for r in candidates
        if r["phone"] != won["phone"]
    ]
    labels = ("source_priority", "most_recent", "tie_break")
    return won["record_id"], labels[max(behind)] if behind else "single_value"


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    profiles=st.lists(
        st.lists(
            st.tuples(st.sampled_from(SOURCES), st.sampled_from(TIMES),
                      st.sampled_from((*PHONES, None))),
            min_size=1, max_size=6,
        ),
        min_size=1, max_size=40,
    ),
    order=st.permutations(SOURCES[:3]).map(lambda p: list(p[:2])),
)  # fmt: skip
def test_winner_and_deciding_policy_match_a_record_by_record_oracle(survive, profiles, order):
    """Many rivals per profile, falling behind at different policies: the winner and the
    policy reported are those of the rule worked out over every candidate."""
    rows = [
        {"record_id": f"{source}:{p}-{i}", "profile_id": f"P{p}", "source": source,
         "event_ts": ts, "phone": phone}
        for p, members in enumerate(profiles)
        for i, (source, ts, phone) in enumerate(members)
    ]  # fmt: skip
    golden = {"source_priority": order, "fields": {"phone": ["source_priority", "most_recent"]}}
    _, provenance = survive.frames(rows, golden=golden)
    got = {
        r[C.PROFILE_ID]: (r[C.RECORD_ID], r["policy"])
        for r in provenance.where(F.col("field") == "phone").collect()
    }
    expected = {}
    for p in range(len(profiles)):
        won = _oracle([r for r in rows if r["profile_id"] == f"P{p}"], order)
        if won[0] is not None:
            expected[f"P{p}"] = won
    assert got == expected


def test_the_worked_example_of_the_docs(survive):
    """docs/golden-record.md, "Worked example": the same records, config and answers."""
    rows = [
        {"record_id": "web:W1", "event_ts": dt.datetime(2025, 3, 1), "phone": "+14155550101",
         "first_name": "jo", "last_name": "smith"},
        {"record_id": "app:A7", "event_ts": dt.datetime(2025, 2, 1), "phone": "+14155550101",
         "last_name": "smith"},
        {"record_id": "pos:R3", "event_ts": dt.datetime(2024, 6, 1), "phone": "+14155550199",
         "first_name": "joanna", "last_name": "smith"},
        {"record_id": "crm:C9", "event_ts": dt.datetime(2024, 1, 1), "phone": "+14155550199"},
    ]  # fmt: skip
    golden = {
        "source_priority": ["crm", "pos", "app", "web"],
        "groups": {"name": ["first_name", "last_name"]},
        "fields": {"phone": [{"most_frequent": "sources"}, "most_recent"],
                   "name": ["source_priority", "most_complete", "most_recent"]},
    }  # fmt: skip
    profile, why = survive(rows, golden=golden)
    assert profile["primary_phone"] == "+14155550101"
    assert (why["phone"]["policy"], why["phone"]["candidates"]) == ("most_recent", 4)
    assert why["phone"]["distinct_values"] == 2
    assert (profile[C.FIRST_NAME], profile[C.LAST_NAME]) == ("joanna", "smith")
    assert why[C.FIRST_NAME]["record_id"] == why[C.LAST_NAME]["record_id"] == "pos:R3"
    assert (why[C.FIRST_NAME]["policy"], why[C.FIRST_NAME]["candidates"]) == (
        "source_priority", 3)  # fmt: skip
    assert profile["primary_user_id"] is None and "user_id" not in why


def test_junk_values_never_win_after_normalization(spark):
    """Junk is made null by normalization, so it is never a candidate: the newest record's
    ``n/a`` name, ``test@test.com`` email and ``unknown`` tier lose to real, older values."""
    raw = spark.createDataFrame(
        [("web:1", "web", "1", D3, "test@test.com", None, "0000000000", None, None, None, "n/a",
          "N/A", None, None, None, None, {"tier": "unknown"}),
         ("web:2", "web", "2", D1, "ann@x.com", None, "+14155552671", None, None, None, "Ann",
          "Lee", None, None, None, None, {"tier": "gold"})],
        "record_id string, source string, source_record_id string, event_ts timestamp, "
        "email string, email_status string, phone string, user_id string, device_id string, "
        "ip string, first_name string, last_name string, street string, city string, "
        "postal_code string, country string, custom map<string,string>",
    )  # fmt: skip
    members = normalize_records(raw, NormalizationConfig()).withColumn(C.PROFILE_ID, F.lit("P1"))
    surv = Survivorship(GoldenConfig(), ["tier"])
    golden = surv.columns()
    row = (
        surv.prepare(members.withColumn(MERGED_AWAY, F.lit(None).cast("boolean")))
        .groupBy(C.PROFILE_ID)
        .agg(*surv.aggregates())
        .select(*[col.alias(name) for name, col in golden.items()])
        .first()
    )
    assert (row["primary_email"], row["primary_phone"]) == ("ann@x.com", "+14155552671")
    assert (row[C.FIRST_NAME], row[C.LAST_NAME], row["tier"]) == ("ann", "lee", "gold")
