"""Phone parsing, and the fact the native North American path rests on: for ``+1`` and ten
digits (and, with a North American default region, ten digits or ``1`` and ten digits)
``phonenumbers.parse`` comes to the number of country code 1 and those ten digits whenever
that number is valid, and to no valid number otherwise, so validity alone decides (digits
that start with the international dialling prefix 011 excepted: a call abroad)
(``normalizers.nanp_digits``; tests/spark/test_normalizers.py compares the two paths)."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idres_spark.ingest.normalizers import e164_many, parse_e164

ten = st.from_regex(r"\A[0-9]{10}\Z")


@pytest.mark.parametrize("region", ["US", "CA", "JM", "GB", "DE"])
@settings(max_examples=300, deadline=None)
@given(digits=ten, form=st.sampled_from(["+1{}", "1{}", "{}"]))
def test_north_american_candidates_come_down_to_validity(region, digits, form):
    text = form.format(digits)
    if form != "+1{}" and phonenumbers.country_code_for_region(region) != 1:
        return  # without +1, only a North American default region reads them as such
    if form != "+1{}" and text.startswith("011"):
        return  # the international dialling prefix: a call abroad, left to the parser
    number = phonenumbers.PhoneNumber(country_code=1, national_number=int(digits))
    expected = "+1" + digits if phonenumbers.is_valid_number(number) else None
    assert parse_e164(text, region) == expected


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
