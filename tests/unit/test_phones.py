"""The phone fast path agrees with phonenumbers' general parser on every candidate shape."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idres_spark.normalizers import e164_many, parse_e164

digits = st.text(alphabet="0123456789", min_size=5, max_size=14)
candidates = st.one_of(digits, digits.map(lambda d: "+" + d), digits.map(lambda d: "+1" + d))
nanp_like = st.from_regex(r"\A(\+1|1)?[2-9][0-9]{2}[2-9][0-9]{6}\Z")


@pytest.mark.parametrize("region", ["US", "CA", "GB", "DE", "JM"])
@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(candidates, nanp_like), min_size=1, max_size=30))
def test_fast_path_matches_the_general_parser(region, values):
    assert e164_many(values, region) == {v: parse_e164(v, region) for v in values}


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("4155552671", "US", "+14155552671"),
        ("1005550123", "US", None),  # area codes never start with 0 or 1
        ("+15555550123", "US", None),  # 555 is not an assigned area code
        ("+14152345678", "GB", "+14152345678"),
        ("14152345678", "US", "+14152345678"),
        ("4152345678", "US", "+14152345678"),
        ("4152345678", "GB", None),  # not a UK number; no + so not read as North American
        ("+442079460958", "US", "+442079460958"),
        ("1415234567", "US", None),  # ten digits starting with 1
    ],
)
def test_known_numbers(text, region, expected):
    assert parse_e164(text, region) == expected
    assert e164_many([text], region) == {text: expected}
