"""Splitting over-limit components: a deterministic, limit-aware greedy (plain pandas/numpy).

This is the Python half of the graph stage's limits (see :mod:`idres_spark.linking.graph` for
the Spark half). It sees a batch of connected components that break ``max_group_size`` or an
identifier limit (their records with their identifier values, and their edges) and cuts each
into parts that fit. It imports no pyspark, so it is tested and benchmarked without Spark.

Algorithm: Kruskal with capacity. Links are taken strongest first and a link joins its two
parts only if the joined part still fits every limit; otherwise it is cut, with the limit it
would have broken as its reason (the first identifier limit in field order, else
``max_group_size``). Because parts only grow, a link refused once could never be accepted
later, so every cut link ends between two different parts, and two parts joined by a cut link
could not be merged without breaking a limit (the split is maximal). A single record always
fits, so every record ends in exactly one part and none is dropped.

Strongest first means ascending by:

1. ``priority`` (permanent links < 0, then transformations and exact external ids 0, then
   rules in config order 1..n);
2. ``score``, descending (a missing score counts as the weakest);
3. hub weight: how many records of the component hold the rarest identifier value the two
   ends share (0 when they share none). A link whose only shared value is junk-ish and
   escaped hub detection (a front-desk phone) is tried after links through specific values
   (one person's email), so real clusters form before the hub glues them;
4. the larger end degree (distinct neighbours), the same idea when no value is shared;
5. the ends' ranks in record-id order (the pair), which makes the order total.

A steward's cannot-link (:mod:`idres_spark.stewardship`) comes before everything: its two
sides' records carry opposite tags, and a link that would put both tags in one part is cut,
permanent or not, with ``cannot_link:<override id>`` as its reason; so the cannot-link splits
its component along the weakest links that separate the two sides.

Duplicate links between two records (both directions, a rule and a transformation) count once,
with the strongest of their keys. Permanent links (``priority < 0``, earlier runs' merges) are
always joined, even when the part then breaks a limit; such a part is flagged ``forced`` and
takes no other link (any link would leave it over the limit), so a part over a limit is always
exactly a component of the permanent links.

A batch holds many components (the Spark side groups them by a hash of the component id, so
thousands of small over-limit components do not each pay a pandas call). Links never cross
components and every key above is computed within a component (value frequencies are counted
per component, ranks follow record ids inside it), so a component's split does not depend on
which others share its batch. Cost: a sort, a few vectorised passes and one Python loop over
the links with a path-halving union-find (union by size) and small-to-large merges of the
value sets, which stay within the limits except in forced parts; a 100k-link star takes under
a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from idres_spark import columns as C

SIZE_REASON = "max_group_size"
IDENTIFIER_REASON = "identifier_limit:"  # + the field name
CANNOT_REASON = "cannot_link:"  # + the steward's override id
CANNOT_TAGS = "_cannot"  # records: the signed tags of the cannot-links naming them, or null
TOP_CENTRE_VALUES = 5  # identifier values reported per pruned component

# the split output: one frame of three kinds of rows (nulls where a kind has no value)
KIND = "kind"
RECORD_ROW, CUT_ROW, GROUP_ROW = "record", "cut", "group"
GROUP_KEY = "group_key"  # record rows: the part's key; group rows: the component's key
FORCED = "forced"
CUT_REASON = "cut_reason"
SIZE_BEFORE, PARTS_AFTER, LARGEST_PART = "size_before", "parts_after", "largest_part"
LINKS_CUT, FORCED_PARTS, CUT_REASONS = "links_cut", "forced_parts", "cut_reasons"
CENTRE_VALUES = "centre_values"
SPLIT_COLUMNS = (
    KIND, C.COMPONENT, C.RECORD_ID, GROUP_KEY, FORCED, C.SRC, C.DST, CUT_REASON,
    SIZE_BEFORE, PARTS_AFTER, LARGEST_PART, LINKS_CUT, FORCED_PARTS, CUT_REASONS, CENTRE_VALUES,
)  # fmt: skip
_STRING_COLUMNS = (KIND, C.RECORD_ID, GROUP_KEY, C.SRC, C.DST, CUT_REASON)
SPLIT_DDL = (
    f"{KIND} string, {C.COMPONENT} long, {C.RECORD_ID} string, {GROUP_KEY} string, "
    f"{FORCED} boolean, {C.SRC} string, {C.DST} string, {CUT_REASON} string, "
    f"{SIZE_BEFORE} long, {PARTS_AFTER} long, {LARGEST_PART} long, {LINKS_CUT} long, "
    f"{FORCED_PARTS} long, {CUT_REASONS} map<string,long>, "
    f"{CENTRE_VALUES} array<struct<identifier:string,value:string,links_cut:long>>"
)


@dataclass(frozen=True)
class LimitSpec:
    """What the greedy enforces. ``fields`` name the identifier columns ``value_column(i)``
    of the record frame (all of them set the hub weight); ``identifier_limits`` maps some of
    them to the most distinct values a part may hold."""

    max_group_size: int
    fields: tuple[str, ...]
    identifier_limits: tuple[tuple[str, int], ...] = ()
    # steward cannot-links: tag k (records of one side +k, of the other -k) is cannot[k - 1]
    cannot: tuple[str, ...] = ()


def value_column(index: int) -> str:
    return f"_ident{index}"


@dataclass(frozen=True)
class Split:
    """The greedy's answer for ``n`` records and ``m`` deduplicated links."""

    part: np.ndarray  # per record: index of the smallest record of its part
    forced: np.ndarray  # per record: its part breaks a limit because of permanent links
    cut: np.ndarray  # indices of the cut links, in the order they were refused
    reasons: list[str]  # per cut link


def split_components(records: pd.DataFrame, edges: pd.DataFrame, spec: LimitSpec) -> pd.DataFrame:
    """``SPLIT_COLUMNS`` rows for a batch of components: one per record, one per cut link, one
    summary per component.

    ``records``: ``component``, ``record_id``, ``id`` (vertex id), ``value_column(i)`` per field.
    ``edges``: ``src``, ``dst`` (vertex ids, both in one component), ``priority``, ``score``.
    Edges with an end outside ``records`` and self loops are ignored.
    """
    if records.empty:
        return pd.DataFrame(columns=list(SPLIT_COLUMNS))
    records = records.sort_values([C.COMPONENT, C.RECORD_ID], kind="stable").reset_index(drop=True)
    n = len(records)
    ids = records[C.RECORD_ID].to_numpy(dtype=object)
    comp, components = pd.factorize(records[C.COMPONENT], sort=True)  # comp: 0..k-1 per record
    lo, hi, priority, score = _pairs(records, edges)
    codes = [_codes(comp, records[value_column(i)]) for i in range(len(spec.fields))]
    hub, through = _hub_weight(codes, lo, hi, n)
    degree = np.bincount(lo, minlength=n) + np.bincount(hi, minlength=n)
    order = np.lexsort((hi, lo, np.maximum(degree[lo], degree[hi]), hub, -score, priority))
    sizes = np.bincount(comp)
    max_size = spec.max_group_size if sizes.max() > spec.max_group_size else None
    limited = []
    for name, limit in spec.identifier_limits:
        code = codes[spec.fields.index(name)]
        held = code >= 0
        first = np.unique(code[held], return_index=True)[1]  # one record per distinct value
        distinct = np.bincount(comp[held][first], minlength=len(components))
        if distinct.max(initial=0) > limit:  # else no component can break this limit
            limited.append((IDENTIFIER_REASON + name, limit, code))
    apart = None
    if spec.cannot and CANNOT_TAGS in records:
        apart = [{int(x) for x in t} if t is not None else set() for t in records[CANNOT_TAGS]]
    result = greedy(
        n, lo[order], hi[order], priority[order] < 0, max_size, limited, apart, spec.cannot
    )
    cut = order[result.cut]
    out_records = pd.DataFrame(
        {KIND: RECORD_ROW, C.COMPONENT: components[comp], C.RECORD_ID: ids,
         GROUP_KEY: ids[result.part], FORCED: result.forced}
    )  # fmt: skip
    out_cuts = pd.DataFrame(
        {KIND: CUT_ROW, C.COMPONENT: components[comp[lo[cut]]], C.SRC: ids[lo[cut]],
         C.DST: ids[hi[cut]], CUT_REASON: result.reasons}
    )  # fmt: skip
    summary = _summaries(records, spec, comp, components, result, cut, lo, through)
    out = pd.concat([out_records, out_cuts, summary], ignore_index=True)
    out = out.reindex(columns=list(SPLIT_COLUMNS))
    for name in (*_STRING_COLUMNS, CUT_REASONS, CENTRE_VALUES):  # Arrow wants None, not NaN
        out[name] = out[name].astype(object).where(out[name].notna(), None)
    return out


def _codes(comp: np.ndarray, values: pd.Series) -> np.ndarray:
    """Per record: a code equal for equal non-null values within one component, else -1."""
    value, _ = pd.factorize(values)
    key = comp.astype(np.int64) * (int(value.max(initial=-1)) + 2) + value
    code = np.unique(key, return_inverse=True)[1].reshape(-1)
    return np.where(value >= 0, code, -1)


def _summaries(records, spec, comp, components, result, cut, lo, through) -> pd.DataFrame:
    """One row per component: sizes, parts, cuts by reason, centre values of the cuts."""
    k = len(components)
    parts = np.unique(result.part)  # each part once, by its smallest record
    part_size = np.bincount(result.part, minlength=len(comp))
    largest = np.zeros(k, dtype=np.int64)
    np.maximum.at(largest, comp[parts], part_size[parts])
    forced_parts = np.unique(result.part[result.forced])
    cuts = pd.DataFrame({"c": comp[lo[cut]], "reason": result.reasons})
    reasons = [{} for _ in range(k)]
    for (c, reason), links in cuts.value_counts().sort_index().items():
        reasons[c][str(reason)] = int(links)
    return pd.DataFrame(
        {
            KIND: GROUP_ROW,
            C.COMPONENT: components,
            GROUP_KEY: records[C.RECORD_ID].to_numpy(dtype=object)[np.searchsorted(comp, range(k))],
            SIZE_BEFORE: np.bincount(comp, minlength=k),
            PARTS_AFTER: np.bincount(comp[parts], minlength=k),
            LARGEST_PART: largest,
            LINKS_CUT: np.bincount(comp[lo[cut]], minlength=k),
            FORCED_PARTS: np.bincount(comp[forced_parts], minlength=k),
            CUT_REASONS: reasons,
            CENTRE_VALUES: _centre_values(records, spec, comp, through[cut], lo[cut], k),
        }
    )


def _pairs(records: pd.DataFrame, edges: pd.DataFrame):
    """Edges as deduplicated record-index pairs ``lo < hi``, each with its strongest key."""
    index = pd.Index(records[C.VERTEX_ID].to_numpy(dtype=np.int64))
    a = index.get_indexer(edges[C.SRC].to_numpy(dtype=np.int64))
    b = index.get_indexer(edges[C.DST].to_numpy(dtype=np.int64))
    priority = edges[C.PRIORITY].to_numpy(dtype=np.float64)
    priority = np.where(np.isnan(priority), np.inf, priority)
    score = edges[C.SCORE].to_numpy(dtype=np.float64)
    score = np.where(np.isnan(score), -np.inf, score)
    keep = (a >= 0) & (b >= 0) & (a != b)
    a, b, priority, score = a[keep], b[keep], priority[keep], score[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((-score, priority, hi, lo))
    lo, hi, priority, score = lo[order], hi[order], priority[order], score[order]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return lo[first], hi[first], priority[first], score[first]


def _hub_weight(codes: list[np.ndarray], lo: np.ndarray, hi: np.ndarray, n: int):
    """Per link: the hub weight (records holding the rarest value its ends share, 0 when they
    share none) and the field of its most common shared value (-1: none), the cut's centre."""
    hub = np.zeros(len(lo), dtype=np.int64)
    centre = np.full(len(lo), -1, dtype=np.int64)
    centre_weight = np.zeros(len(lo), dtype=np.int64)
    for i, code in enumerate(codes):
        freq = np.bincount(code[code >= 0], minlength=n + 1)
        shared = (code[lo] == code[hi]) & (code[lo] >= 0)
        weight = np.where(shared, freq[np.maximum(code[lo], 0)], 0)
        hub = np.where(shared & ((hub == 0) | (weight < hub)), weight, hub)
        more = weight > centre_weight
        centre, centre_weight = np.where(more, i, centre), np.where(more, weight, centre_weight)
    return hub, centre


def _centre_values(records, spec, comp, through, ends, k: int) -> list[list[dict]]:
    """Per component: the identifier values most cut links went through (raw; the caller
    masks them), at most ``TOP_CENTRE_VALUES``, most cuts first."""
    top: list[list[dict]] = [[] for _ in range(k)]
    if not spec.fields or not len(ends):
        return top
    frames = []
    for i, name in enumerate(spec.fields):
        chosen = ends[through == i]
        values = records[value_column(i)].to_numpy(dtype=object)[chosen]
        frames.append(pd.DataFrame({"c": comp[chosen], "identifier": name, "value": values}))
    counted = pd.concat(frames).value_counts().rename("links_cut").reset_index()
    counted = counted.sort_values(
        ["c", "links_cut", "identifier", "value"], ascending=[True, False, True, True]
    )
    for row in counted.groupby("c", sort=False).head(TOP_CENTRE_VALUES).itertuples(index=False):
        top[row.c].append(
            {"identifier": row.identifier, "value": str(row.value), "links_cut": int(row.links_cut)}
        )
    return top


def greedy(
    n: int,
    lo: np.ndarray,
    hi: np.ndarray,
    permanent: np.ndarray,
    max_size: int | None,
    limited: list[tuple[str, int, np.ndarray]],
    apart: list[set[int]] | None = None,
    cannot: tuple[str, ...] = (),
) -> Split:
    """Join links in the given order while every part fits; see the module docstring.

    ``limited``: (cut reason, limit, per-record value code or -1) per identifier limit.
    ``apart``: per record, the signed tags of the steward cannot-links naming it; a part
    holding ``k`` never joins one holding ``-k`` (not even by a permanent link); the cut
    says ``cannot_link:<cannot[|k| - 1]>``.
    """
    parent = list(range(n))
    size = [1] * n
    forced = [False] * n
    value_sets = [
        (reason, limit, [({c} if c >= 0 else set()) for c in code.tolist()])
        for reason, limit, code in limited
    ]

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    cut: list[int] = []
    reasons: list[str] = []
    for k, (a, b, fixed) in enumerate(zip(lo.tolist(), hi.tolist(), permanent.tolist(),
                                          strict=True)):  # fmt: skip
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        if apart is not None:
            small, big = sorted((apart[ra], apart[rb]), key=len)
            clash = min((abs(t) for t in small if -t in big), default=0)
            if clash:
                cut.append(k)
                reasons.append(CANNOT_REASON + cannot[clash - 1])
                continue
        over = None
        for reason, limit, sets in value_sets:
            small, big = sorted((sets[ra], sets[rb]), key=len)
            if len(small) + len(big) > limit and len(big) + len(small - big) > limit:
                over = reason
                break
        if over is None and max_size is not None and size[ra] + size[rb] > max_size:
            over = SIZE_REASON
        if over is not None and not fixed:
            cut.append(k)
            reasons.append(over)
            continue
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size[rb]
        forced[ra] = forced[ra] or forced[rb] or over is not None
        if apart is not None:
            if len(apart[ra]) < len(apart[rb]):
                apart[ra], apart[rb] = apart[rb], apart[ra]
            apart[ra] |= apart[rb]
            apart[rb] = set()
        for _, _, sets in value_sets:
            if len(sets[ra]) < len(sets[rb]):
                sets[ra], sets[rb] = sets[rb], sets[ra]
            sets[ra] |= sets[rb]
            sets[rb] = set()
    roots = np.fromiter((find(i) for i in range(n)), dtype=np.int64, count=n)
    smallest = np.full(n, n, dtype=np.int64)
    np.minimum.at(smallest, roots, np.arange(n))
    return Split(
        part=smallest[roots],
        forced=np.asarray(forced, dtype=bool)[roots],
        cut=np.asarray(cut, dtype=np.int64),
        reasons=reasons,
    )
