"""Config loading and validation: errors name the file, the key path and the fix."""

from __future__ import annotations

import textwrap
import time

import pytest

from idres_spark.config import (
    DEFAULT_RULE,
    MAX_CONJUNCTIONS,
    MAX_WITHIN_SECONDS,
    MAX_YAML_NODES,
    Group,
    branch_count,
    conjunctions,
    load_config,
    parse_config,
)
from idres_spark.config_checks import unmapped_field_warnings
from idres_spark.errors import ConfigError

SOURCE = {
    "name": "web",
    "format": "parquet",
    "path": "/data/web",
    "columns": {"record_id": "id", "email": "email"},
    "custom": {"loyalty_id": "loy"},
}


def config_with(**extra):
    return {"sources": [SOURCE], **extra}


def error_of(data) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, origin="my.yaml")
    return caught.value


def test_minimal_config_gets_the_builtin_default_rule():
    config = parse_config(config_with())
    assert [r.name for r in config.rules] == ["default"]
    assert config.rules[0] == DEFAULT_RULE
    assert config.limits.max_group_size == 50 and config.graph.backend == "auto"


def test_a_users_default_rule_replaces_the_builtin_one():
    rules = [{"name": "default", "any": [{"field": "phone", "compare": "equals"}]}]
    config = parse_config(config_with(rules=rules))
    assert len(config.rules) == 1 and config.rules[0].any[0].field == "phone"


def test_unknown_key_names_its_path():
    err = error_of(config_with(limits={"max_group_sise": 3}))
    assert err.code == "unknown_key"
    assert "my.yaml" in err.message and "limits.max_group_sise" in err.message


def test_unknown_key_inside_a_condition():
    rules = [{"name": "r", "all": [{"field": "email", "compare": "equals", "weight": 2}]}]
    err = error_of(config_with(rules=rules))
    assert err.code == "unknown_key" and "rules[0].all[0].weight" in err.message


def test_unknown_comparator():
    rules = [{"name": "r", "all": [{"field": "email", "compare": "fuzzy"}]}]
    err = error_of(config_with(rules=rules))
    assert err.code == "unknown_comparator"
    assert "rules[0].all[0]" in err.message and "similar" in err.message


def test_unknown_operator():
    rules = [{"name": "r", "all": [{"field": "email", "compare": "equals"}],
              "only_if": [{"field": "email", "op": "endswith", "value": "x"}]}]  # fmt: skip
    assert error_of(config_with(rules=rules)).code == "unknown_operator"


def test_rule_without_blockable_condition_is_refused():
    rules = [{"name": "fuzzy-only", "any": [
        {"field": "email", "compare": "equals"},
        {"field": "first_name", "compare": "similar", "method": "jaro_winkler", "min": 0.9},
    ]}]  # fmt: skip
    err = error_of(config_with(rules=rules))
    assert err.code == "unblockable_rule"
    assert "fuzzy-only" in err.message and "block_on" in err.message


def test_block_on_makes_a_fuzzy_rule_blockable():
    rules = [{"name": "fuzzy", "all": [
        {"field": "first_name", "compare": "similar", "method": "jaro_winkler", "min": 0.9}],
        "block_on": [{"field": "last_name", "transform": "soundex"}]}]  # fmt: skip
    assert parse_config(config_with(rules=rules)).rules[1].block_on[0].transform == "soundex"


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ({"name": "r", "sources": ["nope"], "all": [{"field": "email", "compare": "equals"}]},
         "unknown sources ['nope']"),
        ({"name": "r", "all": [{"field": "shoe_size", "compare": "equals"}]},
         "unknown fields ['shoe_size']"),
        ({"name": "r", "within": "30 days", "all": [{"field": "email", "compare": "equals"}]},
         "not a duration"),
        ({"name": "r", "any": [{"field": "email", "compare": "equals"}],
          "all": [{"field": "email", "compare": "equals"}]}, "exactly one of"),
        ({"name": "r", "all": [{"field": "first_name", "compare": "similar",
                                "method": "jaro_winkler", "min": 1.5}]}, "less than or equal"),
        ({"name": "r", "all": [{"field": "email", "compare": "equals"}],
          "only_if": [{"field": "email", "op": "in", "value": "x"}]}, "non-empty list"),
    ],
)  # fmt: skip
def test_rule_errors_say_what_is_wrong(rule, needle):
    err = error_of(config_with(rules=[rule]))
    assert err.code == "config_invalid"
    assert needle in err.message


def test_custom_fields_are_rule_fields():
    rules = [{"name": "loyal", "all": [{"field": "loyalty_id", "compare": "equals"}]}]
    assert parse_config(config_with(rules=rules)).rules[1].name == "loyal"


def test_duplicate_source_names_refused():
    err = error_of({"sources": [SOURCE, SOURCE]})
    assert "repeated: ['web']" in err.message


def test_nested_groups_expand_to_and_branches():
    rules = [{"name": "r", "all": [
        {"field": "last_name", "compare": "equals"},
        {"any": [{"field": "phone", "compare": "equals"},
                 {"all": [{"field": "email", "compare": "typo"},
                          {"field": "first_name", "compare": "equals"}]}]},
    ]}]  # fmt: skip
    rule = parse_config(config_with(rules=rules)).rules[1]
    branches = [[(c.field, c.compare) for c in conj] for conj in conjunctions(rule.tree)]
    assert branches == [
        [("last_name", "equals"), ("phone", "equals")],
        [("last_name", "equals"), ("email", "typo"), ("first_name", "equals")],
    ]
    assert (
        parse_config(config_with(rules=[{**rules[0], "within": "12h"}])).rules[1].within_seconds
        == 43200
    )


def test_load_config_resolves_relative_paths_against_its_folder(tmp_path):
    path = tmp_path / "conf" / "job.yaml"
    path.parent.mkdir()
    path.write_text(
        textwrap.dedent("""
        sources:
          - {name: web, format: csv, path: ../data/web, columns: {record_id: id}}
        output: {path: out}
    """)
    )
    config = load_config(path)
    assert config.sources[0].path == str((tmp_path / "data" / "web").resolve())
    assert config.output.path == str((tmp_path / "conf" / "out").resolve())


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError) as missing:
        load_config(tmp_path / "nope.yaml")
    assert missing.value.code == "config_not_found"
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [\n")
    with pytest.raises(ConfigError) as syntax:
        load_config(bad)
    assert syntax.value.code == "yaml_syntax" and "bad.yaml" in syntax.value.message


def test_fingerprint_is_stable_and_config_sensitive():
    a = parse_config(config_with())
    assert a.fingerprint() == parse_config(config_with()).fingerprint()
    assert a.fingerprint() != parse_config(config_with(limits={"max_block_size": 9})).fingerprint()


def test_where_the_components_are_computed_is_not_in_the_fingerprint():
    """``graph.driver_max_edges`` changes where the components are computed, not what they
    are: any value keeps the fingerprint, so the upgrade that brought it does not make every
    earlier state's next run look like a change of rules."""
    a = parse_config(config_with())
    for limit in (0, 5, 10**9):
        other = parse_config(config_with(graph={"driver_max_edges": limit}))
        assert other.fingerprint() == a.fingerprint()


# --- issue 20 items 7 and 13: what run cannot do, validate refuses -------------------------


def rule_with(**extra):
    return {"name": "r", "all": [{"field": "email", "compare": "equals"}], **extra}


def test_regex_filters_are_left_to_javas_engine():
    """Java's `\\p{L}` used to be refused by Python's `re`; Python's `(?P<x>..)` is no longer
    accepted here only to crash the run: config_checks compiles both on Java's engine."""
    for pattern in (r"^\p{L}+@", r"(?P<x>a)"):
        only_if = [{"field": "email", "op": "regex", "value": pattern}]
        config = parse_config(config_with(rules=[rule_with(only_if=only_if)]))
        assert config.rules[1].only_if[0].value == pattern


@pytest.mark.parametrize(
    ("within", "seconds"),
    [("3652500d", 315_576_000_000), ("315576000000s", 315_576_000_000),
     ("521785w", 315_575_568_000), ("0s", 0)],
)  # fmt: skip
def test_within_up_to_ten_thousand_years(within, seconds):
    config = parse_config(config_with(rules=[rule_with(within=within)]))
    assert config.rules[1].within_seconds == seconds == min(seconds, MAX_WITHIN_SECONDS)


@pytest.mark.parametrize(
    "within", ["3652501d", "315576000001s", "521786w", "99999999999999999999999s", "9" * 5000 + "s"]
)
def test_within_out_of_range_is_refused_with_its_key_path(within):
    err = error_of(config_with(rules=[rule_with(within=within)]))
    assert err.code == "within_out_of_range"
    assert "my.yaml" in err.message and "rules[0].within" in err.message


def or_pairs(n):
    pair = {
        "any": [{"field": "email", "compare": "equals"}, {"field": "phone", "compare": "equals"}]
    }
    return [pair] * n


def test_a_rule_over_the_branch_limit_is_refused_by_count():
    err = error_of(config_with(rules=[{"name": "wide", "all": or_pairs(6)}]))  # 64 branches
    assert err.code == "too_many_branches"
    assert "wide" in err.message and str(MAX_CONJUNCTIONS) in err.message
    assert parse_config(config_with(rules=[{"name": "ok", "all": or_pairs(5)}]))  # 32


def test_an_and_of_26_or_pairs_is_refused_before_it_is_expanded():
    started = time.perf_counter()
    err = error_of(config_with(rules=[{"name": "bomb", "all": or_pairs(26)}]))
    assert err.code == "too_many_branches" and "67,108,864" in err.message
    assert time.perf_counter() - started < 2  # was ~50 s and 4 GB, then a MemoryError
    huge = {"all": or_pairs(400)}  # 2**400: the count saturates instead of growing
    assert branch_count(parse_config(config_with()).rules[0].tree) == 2
    assert branch_count(Group.model_validate(huge)) == 10**18
    with pytest.raises(ValueError, match="AND branches"):
        conjunctions(Group.model_validate({"all": or_pairs(26)}))


def test_the_rules_together_stay_under_the_branch_limit():
    rules = [{"name": f"r{i}", "all": or_pairs(5)} for i in range(2)]  # 2 x 32 + default 2
    assert error_of(config_with(rules=rules)).code == "too_many_branches"


def yaml_bomb(levels: int) -> str:
    lines = ["sources: [{name: web, format: csv, path: x, columns: {record_id: id}}]",
             "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]  # fmt: skip
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_while_loading(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(yaml_bomb(9))  # a billion values once expanded
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_config(bomb)
    assert caught.value.code == "yaml_too_large" and "bomb.yaml" in caught.value.message
    assert time.perf_counter() - started < 2
    small = tmp_path / "small.yaml"
    small.write_text(yaml_bomb(2))  # a few aliases load (and fail later on the unknown keys)
    with pytest.raises(ConfigError) as later:
        load_config(small)
    assert later.value.code == "unknown_key"


def test_yaml_node_limit_edge(tmp_path):
    path = tmp_path / "big.yaml"
    # root mapping + key + list = 3 nodes, then one per list item
    path.write_text("sources: [" + ", ".join(["x"] * (MAX_YAML_NODES - 3)) + "]\n")
    with pytest.raises(ConfigError) as at_limit:
        load_config(path)
    assert at_limit.value.code == "config_invalid"  # loaded; the items are not sources
    path.write_text("sources: [" + ", ".join(["x"] * (MAX_YAML_NODES - 2)) + "]\n")
    with pytest.raises(ConfigError) as over:
        load_config(path)
    assert over.value.code == "yaml_too_large"


def test_a_recursive_yaml_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text(
        "sources: &s [{name: web, format: csv, path: x, columns: {record_id: id}}, *s]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.code == "yaml_too_large"


def test_aliases_that_share_a_mapping_still_load(tmp_path):
    path = tmp_path / "shared.yaml"
    path.write_text(
        textwrap.dedent("""
        sources:
          - {name: web, format: csv, path: web, columns: &cols {record_id: id, email: mail}}
          - {name: app, format: csv, path: app, columns: *cols}
    """)
    )
    config = load_config(path)
    assert config.sources[1].columns.email == "mail"
    assert config.origin == str(path)


def test_a_rule_on_a_field_no_source_maps_is_warned_about_not_refused():
    rules = [
        {"name": "by-phone", "all": [{"field": "phone", "compare": "equals"}]},
        {"name": "names", "all": [{"field": "email", "compare": "equals"},
                                  {"field": "full_name", "compare": "equals"}]},
        {"name": "loyal", "all": [{"field": "loyalty_id", "compare": "equals"}],
         "only_if": [{"field": "ip", "op": "is_null"}]},
    ]  # fmt: skip
    config = parse_config(config_with(rules=rules))
    warnings = unmapped_field_warnings(config)
    assert len(warnings) == 2  # phone, full_name; custom loyalty_id is mapped, is_null holds
    assert "'by-phone'" in warnings[0] and "'phone'" in warnings[0] and "(web)" in warnings[0]
    assert "'names'" in warnings[1] and "'full_name'" in warnings[1]
    named = {**SOURCE, "columns": {"record_id": "id", "first_name": "fn", "phone": "p"}}
    assert unmapped_field_warnings(parse_config({"sources": [named], "rules": rules[:2]})) == [
        unmapped_field_warnings(config)[1].replace("'full_name'", "'email'")
    ]


def test_a_field_mapped_outside_the_rules_sources_is_warned_about():
    crm = {**SOURCE, "name": "crm", "columns": {"record_id": "id", "phone": "p"}}
    rules = [{"name": "p", "sources": ["web"], "all": [{"field": "phone", "compare": "equals"}]}]
    assert len(unmapped_field_warnings(parse_config({"sources": [SOURCE, crm], "rules": rules})))
    rules[0]["sources"] = ["web", "crm"]
    assert unmapped_field_warnings(parse_config({"sources": [SOURCE, crm], "rules": rules})) == []


def test_an_empty_timestamp_format_is_refused():
    err = error_of({"sources": [{**SOURCE, "timestamp_format": ""}]})
    assert err.code == "config_invalid" and "sources[0].timestamp_format" in err.message


def test_output_tables_settings_and_their_errors():
    config = parse_config(
        config_with(output={"format": "delta", "catalog": "main", "schema": "idres",
                            "table_prefix": "eu_", "history_days": 7}),
        origin="my.yaml",
    )  # fmt: skip
    assert (config.output.schema_name, config.output.table_prefix) == ("idres", "eu_")
    # where and how the tables are published is not part of what decides the results
    assert config.fingerprint() == parse_config(config_with(), origin="my.yaml").fingerprint()
    iceberg = error_of(config_with(output={"format": "iceberg"}))
    assert "output" in iceberg.message and "needs `schema`" in iceberg.message
    catalog = error_of(config_with(output={"catalog": "main"}))
    assert "`catalog` needs `schema`" in catalog.message
    prefix = error_of(config_with(output={"table_prefix": "eu_"}))
    assert "`table_prefix`" in prefix.message
    bad_name = error_of(config_with(output={"schema": "idres; DROP"}))
    assert "output.schema" in bad_name.message
    assert "output.format" in error_of(config_with(output={"format": "hudi"})).message


def test_published_table_names():
    from idres_spark.config import OutputConfig
    from idres_spark.publish.tables import targets

    assert targets(OutputConfig(path="/s")) == {}
    views = targets(OutputConfig(path="/s", schema="idres", table_prefix="eu_"))
    assert views["profiles"].ref == "`idres`.`eu_profiles`"
    assert views["diagnostics/quarantine"].ref == "`idres`.`eu_quarantine`"
    assert list(views)[-1] == "profiles"  # published last
    delta = targets(OutputConfig(path="/s/", format="delta"))
    assert delta["merge_log"].ref == "delta.`/s/tables/merge_log`"
    iceberg = targets(OutputConfig(path="/s", format="iceberg", catalog="lake", schema="idres"))
    assert iceberg["record_map"].ref == "`lake`.`idres`.`record_map`"
