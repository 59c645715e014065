"""The ``probabilistic:`` section: levels' short forms, custom comparisons, refusals, and the
model's JSON round trip and fingerprint."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from idres_spark.probabilistic.model import ComparisonModel, Model
from idres_spark.probabilistic.settings import CustomComparison, Level, ProbabilisticConfig


def test_level_short_forms_and_labels():
    assert Level.model_validate("exact").label == "exact"
    assert Level.model_validate({"edits": 1}).label == "edits_1"
    assert Level.model_validate({"jaro_winkler": 0.9}).label == "jaro_winkler_0.9"
    for bad in ({"edits": 9}, {"jaro_winkler": 1.5}, {"soundex": 1}, {"exact": 1}):
        with pytest.raises(ValidationError):
            Level.model_validate(bad)


def test_section_refuses_what_it_cannot_do():
    with pytest.raises(ValidationError, match="review_probability"):
        ProbabilisticConfig(match_probability=0.9, review_probability=0.95)
    with pytest.raises(ValidationError, match="duration"):
        ProbabilisticConfig(window="a month")
    with pytest.raises(ValidationError, match="repeated"):
        ProbabilisticConfig(comparisons=["email", "email"])
    custom = CustomComparison.model_validate({"name": "dob", "field": "dob",
                                              "levels": ["exact", {"edits": 1}]})  # fmt: skip
    settings = ProbabilisticConfig(comparisons=["email", custom], window="2w")
    assert settings.window_seconds == 14 * 86400
    assert settings.fields_used() == {"dob", "user_id"}


def test_model_json_round_trip_and_weights():
    model = Model(
        "m", "f", "run", 0.001,
        (ComparisonModel("email", ("else", "exact"), (0.1, 0.9), (0.99, 0.01), True, "email"),),
    )  # fmt: skip
    again = Model.from_json(model.to_json())
    assert again == model
    assert again.comparison("email").weights == pytest.approx(
        (math.log2(0.1 / 0.99), math.log2(0.9 / 0.01))
    )
    assert model.prior_weight == pytest.approx(math.log2(0.001 / 0.999))
    assert Model.from_json('{"format": 0}') is None  # another format: trained again


def test_weights_are_monotone_and_lookalike_levels_never_positive():
    labels = ("else", "local_part_similar", "formatting_only", "local_typo", "domain_typo",
              "alias", "exact")  # fmt: skip
    m = (0.05, 0.05, 0.05, 0.1, 0.05, 0.1, 0.6)
    u = (0.9, 0.05, 1e-6, 1e-7, 1e-6, 1e-3, 1e-4)  # sampled u: tiny for the fuzzy levels
    weights = ComparisonModel("email", labels, m, u, True).weights
    raw = [math.log2(a / b) for a, b in zip(m, u, strict=True)]
    assert weights[-1] == pytest.approx(raw[-1])
    assert weights[4] == pytest.approx(min(raw[4], raw[5], raw[6]))  # capped by alias
    assert weights[1:4] == (0.0, 0.0, 0.0)  # never for a match
    assert weights[0] == pytest.approx(raw[0]) and weights[0] < 0
    assert all(a <= b for a, b in zip(weights[4:], weights[5:], strict=False))
