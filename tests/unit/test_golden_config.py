"""The ``golden:`` section: short forms, cross-checks against the sources, the fingerprint."""

from __future__ import annotations

import pytest

from idres_spark.config import parse_config
from idres_spark.errors import ConfigError
from idres_spark.golden_config import GoldenConfig, Policy

SOURCES = [
    {"name": n, "format": "parquet", "path": f"/data/{n}", "columns": {"record_id": "id"},
     "custom": {"tier": "tier"} if n == "crm" else {}}
    for n in ("web", "crm")
]  # fmt: skip


def golden(**section):
    return parse_config({"sources": SOURCES, "golden": section}, origin="my.yaml")


def problem(**section) -> str:
    with pytest.raises(ConfigError) as caught:
        golden(**section)
    assert caught.value.code == "config_invalid"
    assert "my.yaml" in caught.value.message
    return caught.value.message


def test_policies_take_a_name_or_a_one_key_setting():
    config = golden(
        source_priority=["crm"],
        fields={"phone": [{"most_frequent": "sources"}, {"source_priority": ["web"]}, "oldest"]},
    )
    assert config.golden.chain_of("phone") == [
        Policy(name="most_frequent", by="sources"),
        Policy(name="source_priority", sources=["web"]),
        Policy(name="oldest"),
    ]
    assert [p.label for p in config.golden.chain_of("phone")][0] == "most_frequent:sources"
    # email without a chain of its own ranks reachability first, then the default chain
    assert [p.name for p in config.golden.chain_of("email")] == ["valid_first", "most_recent"]
    assert "takes no setting" in problem(default=[{"oldest": 3}])


def test_groups_are_one_unit_in_the_order_of_the_profile_columns():
    config = golden(groups={"name": ["first_name", "last_name"]}, fields={"name": ["longest"]})
    units = config.golden.units(["tier"])
    assert units == [
        ("email", ("email",)), ("phone", ("phone",)), ("user_id", ("user_id",)),
        ("name", ("first_name", "last_name")), ("tier", ("tier",)),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("section", "where"),
    [
        ({"fields": {"phone": ["valid_first"]}}, "golden.fields.phone"),
        ({"fields": {"shoe_size": ["longest"]}}, "golden.fields.shoe_size"),
        ({"groups": {"name": ["first_name", "nick"]}}, "golden.groups.name"),
        ({"groups": {"name": ["first_name"]}}, "golden.groups.name"),
        ({"groups": {"phone": ["first_name", "last_name"]}}, "golden.groups.phone"),
        ({"groups": {"a": ["first_name", "last_name"], "b": ["last_name", "tier"]}},
         "golden.groups"),
        ({"groups": {"name": ["first_name", "last_name"]}, "fields": {"last_name": ["oldest"]}},
         "golden.fields.last_name"),
        ({"source_priority": ["pos"]}, "golden.source_priority"),
        ({"default": ["source_priority"]}, "golden.default"),
        ({"fields": {"tier": [{"source_priority": ["crm", "app"]}]}}, "golden.fields.tier"),
        ({"fields": {"phone": []}}, "golden.fields"),
        ({"default": []}, "golden.default"),
    ],
)  # fmt: skip
def test_mistakes_are_refused_naming_the_key(section, where):
    assert where in problem(**section)


def test_custom_fields_may_not_take_a_profile_columns_name():
    sources = [dict(SOURCES[0], custom={"emails": "e"})]
    with pytest.raises(ConfigError) as caught:
        parse_config({"sources": sources}, origin="my.yaml")
    assert "emails" in caught.value.message


def test_default_survivorship_keeps_earlier_fingerprints_and_a_change_does_not():
    plain = parse_config({"sources": SOURCES})
    assert golden().fingerprint() == plain.fingerprint()
    assert golden(default=["most_recent"]).fingerprint() == plain.fingerprint()
    changed = golden(default=["oldest"]).fingerprint()
    assert changed != plain.fingerprint()
    # where the steward values are read from is data, not a rule
    steward = golden(default=["oldest"], overrides={"format": "csv", "path": "/a.csv"})
    moved = golden(default=["oldest"], overrides={"format": "parquet", "path": "/b"})
    assert steward.fingerprint() == moved.fingerprint() == changed
    assert GoldenConfig().overrides is None
