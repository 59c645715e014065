"""The run summary: the run's figures as text for the log and the terminal.

Figures only: counts per source, rule, transformation and reason, stage timings. No record
values, so nothing in it needs masking (hub values appear only masked, in report.html).
"""

from __future__ import annotations

from typing import Any


def _by(figures: dict[str, int]) -> list[str]:
    return [f"    {key:<24} {value:>10,}" for key, value in figures.items()]


def format_summary(metrics: dict[str, Any]) -> str:
    """Several lines; works on the metrics of a published run (``run_job``'s return value)."""
    m = metrics
    lines = [
        f"run {m['run_id']}" + (f" ({m['mode']} mode)" if "mode" in m else ""),
        f"  records in        {m['records_in']:>10,}  (resolved {m['records_resolved']:,},"
        f" quarantined {m['quarantined']:,})",
    ]
    lines += _by(m.get("records_by_source", {}))
    if m.get("resolved_scope") == "affected":
        touched = m.get("profiles_recomputed") or 0
        lines.append(f"  recomputed        {touched:>10,}  earlier profiles (the batch's affected"
                     " set; the others carried over)")  # fmt: skip
    elif m.get("mode") == "incremental" and m.get("resolved_scope_reason"):
        lines.append(f"  recomputed        everything: {m['resolved_scope_reason']}")
    if m.get("quarantined_by_reason"):
        lines.append("  quarantine")
        lines += _by(m["quarantined_by_reason"])
    if m.get("values_dropped"):
        lines.append("  values dropped    (made null: junk, invalid or too long)")
        lines += _by({f"{field} {reason}": n for field, reasons in m["values_dropped"].items()
                      for reason, n in reasons.items()})  # fmt: skip
    if "candidate_pairs" in m:
        lines.append(f"  candidate pairs   {m['candidate_pairs']:>10,}")
    if "edges" in m:
        lines.append(f"  edges             {m['edges']:>10,}  (by rule and transformation)")
        lines += _by(m["edges_by_reason"])
    lines.append(f"  merges            {m['merges']:>10,}")
    lines += _by(m["merges_by_reason"])
    lines += [
        f"  hubs suppressed   {m['hubs']:>10,}",
        f"  groups pruned     {m['pruned_groups']:>10,}",
        f"  profiles out      {m['profiles']:>10,}  (multi-record {m['multi_record_profiles']:,},"
        f" largest {m['largest_profile']:,})",
    ]
    if m.get("golden_decided_by"):
        lines.append("  golden fields     decided by (see profile_field_provenance)")
        for field, policies in m["golden_decided_by"].items():
            ranked = sorted(policies.items(), key=lambda kv: (-kv[1], kv[0]))
            lines.append(f"    {field:<14} " + ", ".join(f"{p} {n:,}" for p, n in ranked))
    if m.get("golden_overrides"):
        steward = ", ".join(f"{k} {v:,}" for k, v in m["golden_overrides"].items())
        lines.append(f"  steward values    {steward}")
    if "run_dir" in m:
        lines.append(f"  published         {m['run_dir']} (report.html in it)")
    if "stage_seconds" in m:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in m["stage_seconds"].items())
        lines.append(f"  stage timings     {stages}")
        lines.append(f"  wall time         {m['wall_seconds']:.1f}s")
    return "\n".join(lines)
