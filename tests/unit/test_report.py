"""The HTML run report: well-formed, offline, escaped, complete, proportional (no Spark)."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser

import pytest

from idres_spark.run.report import render_report

VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
}  # fmt: skip
XSS = "<script>alert(1)</script>"
METRICS = {
    "run_id": "000003-20261123-1a2b3c4d",
    "run_ts": "2026-11-23T00:00:00+00:00",
    "config_fingerprint": "1a2b3c4d5e6f",
    "mode": "full",
    "records_in": 9966,
    "records_resolved": 9957,
    "records_by_source": {"web": 4000, "crm": 3000, "a&b": 2957},
    "quarantined": 9,
    "quarantined_by_reason": {"missing_record_id": 3, "duplicate_record_id": 6},
    "candidate_pairs": 123456,
    "edges_by_reason": {"email_typo_merge": 40, "default": 5000, XSS: 12, "phone_merge": 2500},
    "merges": 7000,
    "merges_by_reason": {"default": 6900, "email_typo_merge": 100},
    "hubs": 2,
    "top_hubs": [
        {"rule": XSS, "key_fields": "phone", "masked_value": "+***0100", "record_count": 1200},
        {
            "rule": "default",
            "key_fields": "email",
            "masked_value": "j***@x.com",
            "record_count": 600,
        },
    ],
    "pruned_groups": 1,
    "top_pruned_groups": [
        {
            "group_key": "web:17",
            "size_before": 120,
            "parts_after": 4,
            "largest_part": 48,
            "links_cut": 9,
            "cut_reasons": {"max_group_size": 7, "identifier_limit:user_id": 2},
            "centre_values": [{"identifier": "phone", "masked_value": "+***0100", "links_cut": 6}],
        }
    ],
    "profiles": 5254,
    "golden_decided_by": {
        "phone": {"single_value": 4629, "most_frequent:sources": 12},
        XSS: {"most_recent": 3},
    },
    "largest_profile": 4,
    "multi_record_profiles": 3000,
    "profile_size_histogram": [[1, 2254], [2, 2000], [3, 900], [4, 100]],
    "stage_seconds": {
        "read": 3.1,
        "normalize": 2.0,
        "block": 4.2,
        "score": 6.0,
        "graph": 10.5,
        "profiles": 2.2,
        "write": 5.0,
    },  # fmt: skip
    "wall_seconds": 40.2,
}


class Page(HTMLParser):
    """Tag-stack checker that also collects the text and the bars (with tooltips) per chart."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.chart: str | None = None
        self.bars: dict[str, list[tuple[float, str]]] = {}  # chart -> [(width, tooltip)]
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "svg" and "data-chart" in attr:
            self.chart = attr["data-chart"]
            self.bars[self.chart or ""] = []
        if tag == "rect" and self.chart is not None:
            self.bars[self.chart].append((float(attr["width"] or "nan"), ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "rect":
            self.errors.append("bar without a <title> tooltip")

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.errors.append(f"end tag of void element </{tag}>")
        elif not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()
            if tag == "svg":
                self.chart = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.stack[-2:] == ["rect", "title"] and self.chart is not None:
            width, _ = self.bars[self.chart][-1]
            self.bars[self.chart][-1] = (width, data)


def parse(document: str) -> Page:
    page = Page()
    page.feed(document)
    page.close()
    assert page.doctype, "no <!DOCTYPE html>"
    assert page.errors == []
    assert page.stack == [], f"unclosed tags: {page.stack}"
    return page


def text_of(document: str) -> str:
    return " ".join(" ".join(parse(document).text).split())


def bars(document: str, chart: str) -> dict[str, float]:
    """{category label: bar width} of one chart, read from the bar tooltips."""
    return {tip.rsplit(": ", 1)[0]: width for width, tip in parse(document).bars[chart]}


def tooltips(document: str, chart: str) -> dict[str, str]:
    return dict(tip.rsplit(": ", 1) for _, tip in parse(document).bars[chart])


def test_checker_catches_unclosed_and_mismatched_tags() -> None:
    for broken in ["<!DOCTYPE html><html><body><div></body></html>", "<!DOCTYPE html><p></b>"]:
        with pytest.raises(AssertionError):
            parse(broken)


def test_full_report_is_well_formed_and_self_contained() -> None:
    document = render_report(METRICS)
    parse(document)
    assert document.startswith("<!DOCTYPE html>")
    lowered = document.lower()
    for needle in ("http://", "https://", "<script", "src=", "url(", "@import", "<link"):
        assert needle not in lowered, needle
    assert "<title>idres-spark run 000003-20261123-1a2b3c4d</title>" in document


def test_user_strings_are_escaped() -> None:
    document = render_report(METRICS)
    assert XSS not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert "a&amp;b" in document
    bare_ampersands = re.findall(r"&(?!(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);)", document)
    assert bare_ampersands == []
    assert XSS in text_of(document) and "a&b" in text_of(document)  # shown, as text


def test_header_tiles_and_every_stage_and_reason_are_shown() -> None:
    text = text_of(render_report(METRICS))
    for expected in [
        "000003-20261123-1a2b3c4d", "2026-11-23T00:00:00+00:00", "1a2b3c4d5e6f", "40.2 s",
        "Records in 9,966", "Quarantined 9", "Candidate pairs 123,456", "Edges 7,552",
        "Profiles out 5,254", "Largest profile 4", "Hubs suppressed 2", "Groups pruned 1",
    ]:  # fmt: skip
        assert expected in text, expected
    for name in [*METRICS["stage_seconds"], *METRICS["edges_by_reason"], "missing_record_id"]:
        assert name in text, name
    assert "not recorded" not in text


def test_golden_fields_show_what_decided_them() -> None:
    text = text_of(render_report(METRICS))
    assert "phone 4,641 single_value 4,629, most_frequent:sources 12" in text
    assert "No golden fields recorded: no profile has a value." in text_of(
        render_report({**METRICS, "golden_decided_by": {}})
    )


def test_numbers_have_thousands_separators() -> None:
    document = render_report({**METRICS, "candidate_pairs": 1234567, "records_in": 123456})
    text = text_of(document)
    assert "123,456" in text and "1,234,567" in text
    assert "123456" not in text and "1234567" not in text
    assert tooltips(document, "edges_by_reason")["default"] == "5,000"


def test_reason_bars_are_sorted_and_proportional() -> None:
    widths = bars(render_report(METRICS), "edges_by_reason")
    counts = METRICS["edges_by_reason"]
    assert list(widths) == sorted(counts, key=lambda reason: -counts[reason])
    longest = widths["default"]
    assert longest == max(widths.values()) and longest > 100
    for reason, width in widths.items():
        assert abs(width - longest * counts[reason] / counts["default"]) <= 1.0, reason


def test_tiny_counts_keep_a_visible_bar() -> None:
    widths = bars(
        render_report({"edges_by_reason": {"a": 1_000_000, "b": 1, "c": 0}}), "edges_by_reason"
    )
    assert widths["a"] > 100 and 0.5 <= widths["b"] <= 1.5 and widths["c"] == 0


def test_stage_bars_keep_run_order_with_seconds_and_share() -> None:
    document = render_report(METRICS)
    tips = tooltips(document, "stage_seconds")
    assert list(tips) == list(METRICS["stage_seconds"])
    assert tips["graph"] == "10.5 s \u00b7 31.8%"  # 10.5 of 33.0 s
    widths = bars(document, "stage_seconds")
    assert widths["graph"] == max(widths.values())
    assert abs(widths["read"] / widths["graph"] - 3.1 / 10.5) < 0.01


def test_few_profile_sizes_are_shown_one_by_one() -> None:
    tips = tooltips(render_report(METRICS), "profile_size_histogram")
    assert tips == {"1": "2,254", "2": "2,000", "3": "900", "4": "100"}


def test_long_tail_of_profile_sizes_is_bucketed() -> None:
    histogram = [[size, size] for size in range(1, 301)]  # `size` profiles of each size 1..300
    document = render_report({"profile_size_histogram": histogram})
    tips = tooltips(document, "profile_size_histogram")
    expected = {
        "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6-10": sum(range(6, 11)),
        "11-20": sum(range(11, 21)), "21-50": sum(range(21, 51)), "51-100": sum(range(51, 101)),
        ">100": sum(range(101, 301)),
    }  # fmt: skip
    assert tips == {label: f"{count:,}" for label, count in expected.items()}
    assert sum(int(v.replace(",", "")) for v in tips.values()) == sum(range(1, 301))
    assert "&gt;100" in document
    assert "profiles (log scale)" in text_of(document)  # 1 vs 40,200 profiles


def test_log_scale_keeps_order_and_small_counts_visible() -> None:
    document = render_report({"profile_size_histogram": [[1, 100000], [2, 50], [3, 1]]})
    widths = bars(document, "profile_size_histogram")
    assert widths["1"] > widths["2"] > widths["3"] > 0
    assert widths["3"] > 5  # on a linear scale it would be 0.0044 px


def test_hub_and_pruned_tables() -> None:
    text = text_of(render_report(METRICS))
    assert "+***0100" in text and "j***@x.com" in text and "1,200" in text
    assert "Showing 2 of 2 hubs." in text
    assert "web:17" in text and "max_group_size: 7, identifier_limit:user_id: 2" in text
    assert "phone +***0100 (6 links)" in text


def test_empty_lists_say_so() -> None:
    metrics = {**METRICS, "top_hubs": [], "hubs": 0, "top_pruned_groups": [], "pruned_groups": 0}
    text = text_of(render_report(metrics))
    assert "No hubs" in text and "No group was split" in text
    assert "not recorded" not in text


@pytest.mark.parametrize("metrics", [{}, {"run_id": "000001-20260101-deadbeef"}])
def test_missing_keys_render_not_recorded(metrics: dict) -> None:
    document = render_report(metrics)
    text = text_of(document)
    sections = document.split("<section>")[1:]
    assert len(sections) == 8
    for section in sections:
        assert 'class="missing">not recorded</p>' in section, section[:80]
    header_fields = 5 - len(metrics)  # run id, run time, mode, fingerprint, wall time
    assert text.count("not recorded") == header_fields + 8 + 8  # + tiles + sections
    assert "No hubs" not in text and "No group was split" not in text
    assert "<svg" not in document  # no empty charts
    if metrics:
        assert "Run id 000001-20260101-deadbeef" in text


def test_malformed_values_do_not_crash() -> None:
    metrics = copy.deepcopy(METRICS)
    metrics.update(
        edges_by_reason={"default": None, "x": "n/a", "y": 3},
        profile_size_histogram=[[1], "junk", [2, None], [3, 7], None],
        top_hubs="not a list",
        top_pruned_groups=[None, {"group_key": "g"}],
        stage_seconds={"read": float("nan"), "write": 0},
        wall_seconds=None,
        records_in="many",
    )
    text = text_of(render_report(metrics))
    assert "Records in many" in text
    assert list(bars(render_report(metrics), "edges_by_reason")) == ["y"]
    assert tooltips(render_report(metrics), "profile_size_histogram") == {"3": "7"}


PROBABILISTIC = {
    "model_id": "abc-000001",
    "trained_this_run": True,
    "prior": 0.00012,
    "group_merges": 14,
    "decisions": {"merged": 14, "review": 30, "veto:household": 5},
    "comparisons": [
        {"name": "email", "levels": [
            {"label": "else", "m": 0.05, "u": 0.98, "weight": -4.29},
            {"label": "exact", "m": 0.95, "u": 0.00001, "weight": 16.54},
        ]},
        {"name": XSS, "levels": [{"label": "else", "m": 0.5, "u": 0.5, "weight": 0.0}]},
    ],  # fmt: skip
    "weight_histogram": {"-20": 900, "0": 40, "18": 12},
    "samples": [{"prior": -13.0, "weight": 9.5, "probability": 0.9986, "parts": [
        {"comparison": "email", "level": "exact", "weight": 16.54},
        {"comparison": "first_name", "level": "else", "weight": -4.0},
        {"comparison": "phone_last_name", "level": "phone", "weight": 9.96},
    ]}],  # fmt: skip
}


def test_probabilistic_section_shows_the_model_weights_and_a_waterfall() -> None:
    document = render_report({**METRICS, "probabilistic": PROBABILISTIC})
    page = parse(document)
    text = text_of(document)
    assert "Probabilistic matching" in text and "abc-000001 (trained in this run)" in text
    assert "+16.54" in text and "-4.29" in text and XSS not in document
    assert bars(document, "decisions") == pytest.approx(
        {"merged": bars(document, "decisions")["merged"], "review": 440.0,
         "veto:household": bars(document, "decisions")["veto:household"]}
    )  # fmt: skip
    assert bars(document, "decisions")["merged"] < bars(document, "decisions")["review"]
    assert set(bars(document, "weights")) == {"-20 to -18", "0 to 2", "18 to 20"}
    steps = tooltips(document, "waterfall-0")
    assert steps == {"prior": "-13.00 bits", "email: exact": "+16.54 bits",
                     "first_name: else": "-4.00 bits",
                     "phone_last_name: phone": "+9.96 bits"}  # fmt: skip
    assert "+9.50 (p = 0.9986)" in text
    # each step starts where the last one ended: widths are proportional to the weights
    widths = dict(bars(document, "waterfall-0"))
    assert widths["email: exact"] / widths["prior"] == pytest.approx(16.54 / 13.0, rel=0.01)
    assert page.bars


def test_probabilistic_section_absent_without_the_key() -> None:
    assert "Probabilistic matching" not in text_of(render_report(METRICS))
