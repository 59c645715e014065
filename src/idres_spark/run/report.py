"""Self-contained HTML report of one run, rendered from its ``diagnostics/metrics.json``.

``render_report(metrics)`` returns one HTML5 document with inline CSS and inline SVG charts: no
scripts, fonts, images or external URLs, so ``report.html`` opens from disk offline. It shows:

* a header with the run id, run time, mode, config fingerprint and wall time;
* headline tiles: records in, quarantined, candidate pairs, edges, profiles out, largest
  profile, hubs suppressed and groups pruned;
* the profile-size distribution (a long tail is bucketed; log scale when size 1 dominates);
* edges and merges by rule and transformation, largest first;
* stage timings in run order, with seconds and share of the total;
* the top hub values and the largest pruned groups, as tables (values arrive masked);
* quarantined records by reason and resolved records by source.

Every string taken from the metrics is HTML-escaped (source names, rule names and masked values
are user data). Every key is optional: a section whose key is absent, as in metrics files of
older runs, says "not recorded" instead of failing.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
Row = tuple[str, float, str]  # (category label, value, value label) of one bar

NOT_RECORDED = "not recorded"
TEXT, MUTED, GRID, PAGE, CARD = "#1f2933", "#616e7c", "#d9dee4", "#f5f7fa", "#ffffff"
BLUE, GREEN, ORANGE, RED, TEAL = "#4c78a8", "#54a24b", "#f58518", "#e45756", "#72b7b2"
PURPLE = "#b279a2"
LABEL_W, BAR_W, VALUE_W = 200, 440, 130  # px: category labels, longest bar, value labels
ROW_H, BAR_H, HEAD_H, AXIS_H = 22, 15, 18, 40  # px: row pitch, bar, top margin, axis + title
MIN_BAR_W = 1.0  # px, so that a non-zero value never disappears
MINI_BAR_W = 120  # px of the largest inline bar in a table row
LABEL_CHARS = 30  # longer labels are clipped on the chart; the tooltip has them in full
MAX_TABLE_ROWS = 20
MAX_DISTINCT_SIZES = 12  # more distinct profile sizes than this: bucket the tail
SIZE_BUCKET_TOPS = (1, 2, 3, 4, 5, 10, 20, 50, 100)  # upper bounds; then one ">100" bucket
LOG_SCALE_RATIO = 100  # largest / smallest non-zero count from which the histogram is log scale
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
CSS = f"""
body {{ margin: 0; background: {PAGE}; color: {TEXT}; font: 14px/1.45 {FONT}; }}
header, main {{ max-width: 1040px; margin: 0 auto; padding: 16px 24px; }}
h1 {{ font-size: 22px; margin: 8px 0 4px; }} h2 {{ font-size: 16px; margin: 0 0 8px; }}
h3 {{ font-size: 14px; margin: 16px 0 4px; }} code {{ font: 13px {MONO}; }}
dl.meta {{ display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }}
dl.meta dt {{ color: {MUTED}; }} dl.meta dd {{ margin: 0; }}
.tiles {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr));
  gap: 12px; margin-bottom: 16px; }}
.tile, section {{ background: {CARD}; border: 1px solid {GRID}; border-radius: 8px; }}
.tile {{ padding: 10px 14px; }} section {{ padding: 14px 18px; margin-bottom: 16px; }}
.tile .label {{ color: {MUTED}; font-size: 12px; text-transform: uppercase; }}
.tile .value {{ font-size: 22px; font-weight: 600; }} .tile .sub {{ color: {MUTED}; }}
.note, .missing, .empty {{ color: {MUTED}; margin: 4px 0 8px; }} .missing {{ font-style: italic; }}
svg.chart {{ max-width: 100%; height: auto; display: block; }}
svg text {{ font: 12px {FONT}; fill: {TEXT}; }} svg .tick, svg .axis {{ fill: {MUTED}; }}
svg .grid {{ stroke: {GRID}; }} svg .bar:hover {{ opacity: 0.8; }}
table {{ border-collapse: collapse; width: 100%; }} th {{ color: {MUTED}; font-weight: 600; }}
th, td {{ text-align: left; padding: 4px 8px; border-bottom: 1px solid {GRID}; }}
td.num, th.num {{ text-align: right; }}
"""
COUNT_CHARTS = {  # {name: count} metric -> (colour, category title, axis title, text when empty)
    "edges_by_reason": (BLUE, "rule / transformation", "edges", "No edges: no pair matched."),
    "merges_by_reason": (PURPLE, "rule / transformation", "merges", "No merges in this run."),
    "quarantined_by_reason": (RED, "reason", "records", "No record was quarantined."),
    "records_by_source": (TEAL, "source", "records", "No records."),
}


def render_report(metrics: Mapping[str, Any]) -> str:
    """The complete HTML5 document of a run's metrics; absent keys render as "not recorded"."""
    sections: list[tuple[str, Callable[[Mapping[str, Any]], str]]] = [
        ("Profile-size distribution", _size_chart),
        ("Edges by rule and transformation", _edge_charts),
        ("Stage timings", _stage_chart),
        ("Top hub values (suppressed)", _hub_table),
        ("Pruned groups (largest splits)", _pruned_table),
        ("Quarantine by reason", lambda m: _count_chart(m, "quarantined_by_reason")),
        ("Records by source", lambda m: _count_chart(m, "records_by_source")),
        ("Golden fields: what decided each value", _golden_table),
    ]
    if "probabilistic" in metrics:
        sections.append(("Probabilistic matching", _probabilistic))
    body = "".join(f"<section><h2>{_esc(t)}</h2>{draw(metrics)}</section>" for t, draw in sections)
    run_id = metrics.get("run_id")
    title = "idres-spark run report" if run_id is None else f"idres-spark run {run_id}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>"
        f"{_header(metrics)}<main>{_tiles(metrics)}{body}</main></body></html>\n"
    )


# ---------------------------------------------------------------- values and formatting


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _number(value: object) -> float | None:
    """A finite float of a number (or numeric string); None for anything else."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fmt(value: object) -> str:
    """Thousands-separated number, the text of a non-number, or "not recorded" for None."""
    number = _number(value)
    if number is None:
        return _text(value)
    if number.is_integer():
        return f"{int(number):,}"
    return f"{number:,.2f}".rstrip("0").rstrip(".")


def _text(value: object) -> str:
    return NOT_RECORDED if value is None else str(value)


def _fmt_seconds(value: object) -> str:
    seconds = _number(value)
    if seconds is None:
        return _fmt(value)
    if seconds < 60:
        return f"{seconds:,.1f} s"
    return f"{int(seconds // 60):,} min {seconds % 60:04.1f} s"


def _counts(value: object) -> list[tuple[str, float]] | None:
    """(name, count) pairs of a ``{name: count}`` mapping; None when absent or not a mapping."""
    if not isinstance(value, Mapping):
        return None
    return [(str(k), n) for k, v in value.items() if (n := _number(v)) is not None]


def _records(value: object) -> list[Mapping[str, Any]] | None:
    """The mapping rows of a list of rows; None when absent or not a list."""
    if not isinstance(value, list | tuple):
        return None
    return [row for row in value if isinstance(row, Mapping)]


def _largest_first(items: list[T], key: Callable[[T], object]) -> list[T]:
    return sorted(items, key=lambda item: -(_number(key(item)) or 0.0))


# ---------------------------------------------------------------- page parts


def _para(css_class: str, text: str) -> str:
    return f'<p class="{css_class}">{_esc(text)}</p>'


def _present(data: list[T] | None, empty: str, draw: Callable[[list[T]], str]) -> str:
    """``draw(data)``; the ``empty`` text for no rows; "not recorded" when data is absent."""
    if data is None:
        return _para("missing", NOT_RECORDED)
    return draw(data) if data else _para("empty", empty)


def _header(metrics: Mapping[str, Any]) -> str:
    fields = [
        ("Run id", _esc(_text(metrics.get("run_id")))),
        ("Run time", _esc(_text(metrics.get("run_ts")))),
        ("Mode", _esc(_text(metrics.get("mode")))),
        ("Config fingerprint", f"<code>{_esc(_text(metrics.get('config_fingerprint')))}</code>"),
        ("Wall time", _esc(_fmt_seconds(metrics.get("wall_seconds")))),
    ]
    rows = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in fields)
    return f'<header><h1>Identity resolution run report</h1><dl class="meta">{rows}</dl></header>'


def _tiles(metrics: Mapping[str, Any]) -> str:
    edges = metrics.get("edges")
    if edges is None and (by_reason := _counts(metrics.get("edges_by_reason"))) is not None:
        edges = sum(n for _, n in by_reason)
    records_in = _number(metrics.get("records_in"))
    quarantined = _number(metrics.get("quarantined"))
    share = f"{quarantined / records_in:.2%} of records in" if records_in and quarantined else ""
    multi = metrics.get("multi_record_profiles")
    tiles = [
        ("Records in", metrics.get("records_in"), ""),
        ("Quarantined", metrics.get("quarantined"), share),
        ("Candidate pairs", metrics.get("candidate_pairs"), ""),
        ("Edges", edges, ""),
        ("Profiles out", metrics.get("profiles"), f"{_fmt(multi)} multi-record" if multi else ""),
        ("Largest profile", metrics.get("largest_profile"), "records"),
        ("Hubs suppressed", metrics.get("hubs"), ""),
        ("Groups pruned", metrics.get("pruned_groups"), ""),
    ]
    cells = "".join(
        f'<div class="tile"><div class="label">{_esc(label)}</div>'
        f'<div class="value">{_esc(_fmt(value))}</div><div class="sub">{_esc(sub)}</div></div>'
        for label, value, sub in tiles
    )
    return f'<div class="tiles">{cells}</div>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """Table of already-escaped cells; columns in ``numeric`` are right-aligned."""
    cls = [' class="num"' if i in numeric else "" for i in range(len(headers))]
    head = "".join(f"<th{cls[i]}>{_esc(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{cls[i]}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _shown_of(shown: int, total: object, noun: str) -> str:
    return _para("note", f"Showing {shown:,} of {_fmt(total)} {noun}.") if total else ""


# ---------------------------------------------------------------- charts


def _ticks(peak: float, log: bool) -> list[float]:
    if peak <= 0:
        return [0.0]
    if log:
        return [0.0] + [10.0**e for e in range(int(math.log10(peak)) + 1)]
    magnitude = 10.0 ** math.floor(math.log10(peak / 4))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= peak / 4)
    return [i * step for i in range(int(peak / step + 1e-9) + 1)]


def _bar_width(value: float, peak: float, log: bool, full: float = BAR_W) -> float:
    if value <= 0 or peak <= 0:
        return 0.0
    share = math.log10(1 + value) / math.log10(1 + peak) if log else value / peak
    return max(MIN_BAR_W, share * full)


def _hbar_chart(
    chart_id: str, rows: Sequence[Row], colour: str, category: str, axis: str, log: bool = False
) -> str:
    """Horizontal bar chart: one labelled bar (with a hover tooltip) per row, in the given order."""
    peak = max((value for _, value, _ in rows), default=0.0)
    plot_h = len(rows) * ROW_H
    width, height = LABEL_W + BAR_W + VALUE_W, HEAD_H + plot_h + AXIS_H
    axis_title = f"{axis} (log scale)" if log else axis
    out = [
        f'<svg class="chart" data-chart="{_esc(chart_id)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(f"{axis} by {category}")}">'
        f'<text class="axis" x="{LABEL_W - 8}" y="12" text-anchor="end">{_esc(category)}</text>'
    ]
    for tick in _ticks(peak, log):
        x = LABEL_W + _bar_width(tick, peak, log)
        out.append(
            f'<line class="grid" x1="{x:.2f}" y1="{HEAD_H}" x2="{x:.2f}" y2="{HEAD_H + plot_h}"/>'
            f'<text class="tick" x="{x:.2f}" y="{HEAD_H + plot_h + 14}" text-anchor="middle">'
            f"{_esc(_fmt(tick))}</text>"
        )
    for i, (label, value, value_label) in enumerate(rows):
        y, bar = HEAD_H + i * ROW_H, _bar_width(value, peak, log)
        short = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "\u2026"
        out.append(
            f'<text class="label" x="{LABEL_W - 8}" y="{y + 15}" text-anchor="end">'
            f'{_esc(short)}</text><rect class="bar" x="{LABEL_W}" y="{y + (ROW_H - BAR_H) / 2}" '
            f'width="{bar:.2f}" height="{BAR_H}" fill="{colour}">'
            f"<title>{_esc(label)}: {_esc(value_label)}</title></rect>"
            f'<text class="value" x="{LABEL_W + bar + 6:.2f}" y="{y + 15}">{_esc(value_label)}'
            "</text>"
        )
    out.append(
        f'<text class="axis" x="{LABEL_W + BAR_W / 2}" y="{height - 6}" text-anchor="middle">'
        f"{_esc(axis_title)}</text></svg>"
    )
    return "".join(out)


def _count_chart(metrics: Mapping[str, Any], key: str) -> str:
    """Bar chart of a ``{name: count}`` metric of ``COUNT_CHARTS``, largest first."""
    colour, category, axis, empty = COUNT_CHARTS[key]

    def draw(counts: list[tuple[str, float]]) -> str:
        counts = sorted(counts, key=lambda item: (-item[1], item[0]))
        return _hbar_chart(key, [(k, n, _fmt(n)) for k, n in counts], colour, category, axis)

    return _present(_counts(metrics.get(key)), empty, draw)


def _edge_charts(metrics: Mapping[str, Any]) -> str:
    edges = _count_chart(metrics, "edges_by_reason")
    if "merges_by_reason" not in metrics:  # older metrics files: no extra "not recorded" line
        return edges
    merges = _count_chart(metrics, "merges_by_reason")
    return f"{edges}<h3>Merges by rule and transformation</h3>{merges}"


def _size_pairs(value: object) -> list[tuple[int, float]] | None:
    """(size, count) pairs from ``[[size, count], ...]`` or ``{size: count}``; malformed skipped."""
    if isinstance(value, Mapping):
        items: list[Any] = list(value.items())
    elif isinstance(value, list | tuple):
        items = [item for item in value if isinstance(item, list | tuple) and len(item) == 2]
    else:
        return None
    pairs = [(_number(size), _number(count)) for size, count in items]
    return [(int(s), c) for s, c in pairs if s is not None and c is not None and c > 0]


def _size_rows(pairs: list[tuple[int, float]]) -> list[tuple[str, float]]:
    """One row per size, or per size bucket (up to the last non-empty one) for many sizes."""
    if len({size for size, _ in pairs}) <= MAX_DISTINCT_SIZES:
        return [(f"{size:,}", count) for size, count in sorted(pairs)]
    lows = (1, *(top + 1 for top in SIZE_BUCKET_TOPS[:-1]))
    spans = zip(lows, SIZE_BUCKET_TOPS, strict=True)
    labels = [f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}" for lo, hi in spans]
    labels.append(f">{SIZE_BUCKET_TOPS[-1]:,}")
    totals = [0.0] * len(labels)
    for size, count in pairs:
        totals[sum(size > top for top in SIZE_BUCKET_TOPS)] += count
    last = max(i for i, total in enumerate(totals) if total > 0)
    return list(zip(labels[: last + 1], totals[: last + 1], strict=True))


def _size_chart(metrics: Mapping[str, Any]) -> str:
    def draw(pairs: list[tuple[int, float]]) -> str:
        rows = _size_rows(pairs)
        nonzero = [count for _, count in rows if count > 0]
        log = max(nonzero) / min(nonzero) >= LOG_SCALE_RATIO
        bars = [(label, count, _fmt(count)) for label, count in rows]
        category = "profile size (records)"
        return _hbar_chart("profile_size_histogram", bars, GREEN, category, "profiles", log)

    return _present(_size_pairs(metrics.get("profile_size_histogram")), "No profiles.", draw)


def _stage_chart(metrics: Mapping[str, Any]) -> str:
    def draw(stages: list[tuple[str, float]]) -> str:
        total = sum(seconds for _, seconds in stages)
        rows = [
            (name, secs, f"{_fmt_seconds(secs)} \u00b7 {secs / total if total else 0:.1%}")
            for name, secs in stages
        ]
        note = _para("note", f"Stages in run order; {_fmt_seconds(total)} in total.")
        return note + _hbar_chart("stage_seconds", rows, ORANGE, "stage", "seconds")

    return _present(_counts(metrics.get("stage_seconds")), "No stage was timed.", draw)


def _mini_bar(value: float, peak: float, tooltip: str) -> str:
    width = _bar_width(value, peak, log=False, full=MINI_BAR_W)
    return (
        f'<svg width="{MINI_BAR_W}" height="12" role="img" aria-label="{_esc(tooltip)}">'
        f'<rect class="bar" width="{width:.2f}" height="12" fill="{PURPLE}">'
        f"<title>{_esc(tooltip)}</title></rect></svg>"
    )


def _hub_table(metrics: Mapping[str, Any]) -> str:
    def draw(hubs: list[Mapping[str, Any]]) -> str:
        hubs = _largest_first(hubs, lambda h: h.get("record_count"))[:MAX_TABLE_ROWS]
        peak = max(_number(h.get("record_count")) or 0.0 for h in hubs)
        rows = []
        for hub in hubs:
            count = _fmt(hub.get("record_count"))
            cells = [_text(hub.get(k)) for k in ("rule", "key_fields", "masked_value")] + [count]
            tooltip = f"{cells[1]} {cells[2]}: {count} records"
            bar = _mini_bar(_number(hub.get("record_count")) or 0.0, peak, tooltip)
            rows.append([_esc(c) for c in cells] + [bar])
        table = _table(["Rule", "Key fields", "Masked value", "Records", ""], rows, {3})
        return _shown_of(len(hubs), metrics.get("hubs"), "hubs") + table

    no_hubs = "No hubs: no identifier value was shared by too many records."
    return _present(_records(metrics.get("top_hubs")), no_hubs, draw)


def _golden_table(metrics: Mapping[str, Any]) -> str:
    """Per golden field, how many profiles each policy decided (``golden_decided_by``)."""
    decided = metrics.get("golden_decided_by")
    fields = sorted(decided.items()) if isinstance(decided, Mapping) else None

    def draw(items: list[tuple[str, Any]]) -> str:
        rows = []
        for field, policies in items:
            counts = _counts(policies) or []
            ranked = sorted(counts, key=lambda kv: (-kv[1], kv[0]))
            text = ", ".join(f"{policy} {_fmt(n)}" for policy, n in ranked)
            rows.append([_esc(field), _esc(_fmt(sum(n for _, n in counts))), _esc(text)])
        note = _para("note", "Profiles per field and deciding policy; the rows behind them "
                             "are in profile_field_provenance.")  # fmt: skip
        return note + _table(["Field", "Profiles with a value", "Decided by"], rows, {1})

    return _present(fields, "No golden fields recorded: no profile has a value.", draw)


def _cut_reasons(value: object) -> str:
    reasons = sorted(_counts(value) or [], key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{reason}: {_fmt(n)}" for reason, n in reasons)


def _centre_values(value: object) -> str:
    return ", ".join(
        f"{c.get('identifier', '')} {c.get('masked_value', '')} ({_fmt(c.get('links_cut'))} links)"
        for c in _records(value) or []
    )


def _pruned_table(metrics: Mapping[str, Any]) -> str:
    def draw(groups: list[Mapping[str, Any]]) -> str:
        groups = _largest_first(groups, lambda g: g.get("size_before"))[:MAX_TABLE_ROWS]
        figures = ("size_before", "parts_after", "largest_part", "links_cut")
        rows = [
            [_esc(_text(g.get("group_key")))]
            + [_esc(_fmt(g.get(name))) for name in figures]
            + [_esc(_cut_reasons(g.get("cut_reasons")))]
            + [_esc(_centre_values(g.get("centre_values")))]
            for g in groups
        ]
        headers = ["Group", "Size before", "Parts after", "Largest part", "Links cut"]
        table = _table(headers + ["Cut reasons", "Centre values (masked)"], rows, {1, 2, 3, 4})
        return _shown_of(len(groups), metrics.get("pruned_groups"), "pruned groups") + table

    return _present(_records(metrics.get("top_pruned_groups")), "No group was split.", draw)


# ---------------------------------------------------------------- probabilistic matching


def _probabilistic(metrics: Mapping[str, Any]) -> str:
    """The model's m/u table, the distribution of match weights and a waterfall per sampled
    merge (``metrics["probabilistic"]``, written by ``probabilistic.resolve.summary``)."""
    found = metrics.get("probabilistic")
    if not isinstance(found, Mapping):
        return _para("missing", NOT_RECORDED)
    trained = "trained in this run" if found.get("trained_this_run") else "reused"
    intro = _para(
        "note",
        f"Model {_text(found.get('model_id'))} ({trained}); prior {_fmt_prob(found.get('prior'))}; "
        f"{_fmt(found.get('group_merges'))} group merges.",
    )
    decisions = _counts(found.get("decisions"))
    parts = [intro]
    if decisions:
        rows = sorted(decisions, key=lambda item: (-item[1], item[0]))
        parts.append("<h3>Decisions on the links that mattered</h3>")
        parts.append(_hbar_chart("decisions", [(k, n, _fmt(n)) for k, n in rows], TEAL,
                                 "decision", "pairs"))  # fmt: skip
    parts.append("<h3>m and u per comparison level</h3>")
    parts.append(_present(_records(found.get("comparisons")), "No comparisons.", _mu_table))
    histogram = _counts(found.get("weight_histogram"))
    parts.append("<h3>Match weights of the candidate pairs</h3>")
    parts.append(_present(histogram, "No candidate pairs.", _weight_chart))
    parts.append("<h3>Sampled merges: how each comparison moved the weight</h3>")
    parts.append(_present(_records(found.get("samples")), "No probabilistic merge.", _waterfalls))
    return "".join(parts)


def _fmt_prob(value: object) -> str:
    number = _number(value)
    return NOT_RECORDED if number is None else f"{number:.3g}"


def _mu_table(comparisons: list[Mapping[str, Any]]) -> str:
    rows = []
    for comparison in comparisons:
        levels = _records(comparison.get("levels")) or []
        for level in reversed(levels):
            weight = _number(level.get("weight"))
            rows.append([
                _esc(comparison.get("name")), _esc(level.get("label")),
                _esc(_fmt_prob(level.get("m"))), _esc(_fmt_prob(level.get("u"))),
                _esc(NOT_RECORDED if weight is None else f"{weight:+.2f}"),
            ])  # fmt: skip
    return _table(["comparison", "level", "m", "u", "weight (bits)"], rows, {2, 3, 4})


def _weight_chart(histogram: list[tuple[str, float]]) -> str:
    ordered = sorted(histogram, key=lambda item: _number(item[0]) or 0.0)
    rows = [(f"{_fmt(k)} to {_fmt((_number(k) or 0) + 2)}", n, _fmt(n)) for k, n in ordered]
    return _hbar_chart("weights", rows, BLUE, "match weight (bits)", "pairs", log=True)


def _waterfalls(samples: list[Mapping[str, Any]]) -> str:
    return "".join(_waterfall(i, sample) for i, sample in enumerate(samples))


def _waterfall(index: int, sample: Mapping[str, Any]) -> str:
    """One merge: the prior, then each comparison's weight as a step up (green) or down
    (red) from where the last one ended, then the total."""
    prior = _number(sample.get("prior")) or 0.0
    steps = [("prior", prior)] + [
        (f"{_text(p.get('comparison'))}: {_text(p.get('level'))}", _number(p.get("weight")) or 0.0)
        for p in _records(sample.get("parts")) or []
    ]
    ends, total = [], 0.0
    for _, weight in steps:
        ends.append((total, total + weight))
        total += weight
    low = min([0.0, *[min(a, b) for a, b in ends]])
    high = max([0.0, *[max(a, b) for a, b in ends]])
    span = (high - low) or 1.0
    width, height = LABEL_W + BAR_W + VALUE_W, HEAD_H + (len(steps) + 1) * ROW_H + 8

    def x(value: float) -> float:
        return LABEL_W + (value - low) / span * BAR_W

    out = [
        f'<svg class="chart" data-chart="waterfall-{index}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="match weight waterfall">'
    ]
    out.append(f'<line class="grid" x1="{x(0):.2f}" y1="{HEAD_H}" x2="{x(0):.2f}" '
               f'y2="{height - 8}"/>')  # fmt: skip
    for i, ((label, weight), (start, end)) in enumerate(zip(steps, ends, strict=True)):
        y = HEAD_H + i * ROW_H
        colour = GREEN if weight >= 0 else RED
        left, bar = min(x(start), x(end)), max(abs(x(end) - x(start)), MIN_BAR_W)
        out.append(
            f'<text class="label" x="{LABEL_W - 8}" y="{y + 15}" text-anchor="end">'
            f'{_esc(label[:LABEL_CHARS])}</text><rect class="bar" x="{left:.2f}" '
            f'y="{y + (ROW_H - BAR_H) / 2}" width="{bar:.2f}" height="{BAR_H}" fill="{colour}">'
            f"<title>{_esc(label)}: {weight:+.2f} bits</title></rect>"
            f'<text class="value" x="{LABEL_W + BAR_W + 6}" y="{y + 15}">{weight:+.2f}</text>'
        )
    y = HEAD_H + len(steps) * ROW_H
    probability = _number(sample.get("probability"))
    shown = "" if probability is None else f" (p = {probability:.4f})"
    out.append(
        f'<text class="label" x="{LABEL_W - 8}" y="{y + 15}" text-anchor="end">total</text>'
        f'<text class="value" x="{LABEL_W + BAR_W + 6}" y="{y + 15}">{total:+.2f}{_esc(shown)}'
        "</text></svg>"
    )
    return "".join(out)
