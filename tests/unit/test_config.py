"""Config loading and validation: errors name the file, the key path and the fix."""

from __future__ import annotations

import textwrap

import pytest

from idres_spark.config import DEFAULT_RULE, conjunctions, load_config, parse_config
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
