"""Masking of identifier values for logs, the hub report and run reports.

Emails keep their first character and the domain (``j***@gmail.com``); phones their last
four digits (``+***5678``); other values their first two characters (``CU***``). Data tables
(profiles, merge log, the quarantine's ``raw`` row) hold the values themselves: they are the
job's output, and a user must see a bad row to fix it.
The same rules exist as a Spark column builder and as plain Python for log lines.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F


def mask_value(col: Column) -> Column:
    """Mask each part of a (possibly composite) identifier value."""
    parts = F.split(col, "\u001f")
    masked = F.transform(parts, _mask_one)
    return F.array_join(masked, "+")


def mask_record_id(col: Column) -> Column:
    """``<source>:<id>`` with the id masked (``web:a***@x.com``): ids can be emails or phones."""
    source = F.regexp_extract(col, r"^([^:]*):", 1)
    local_id = F.regexp_extract(col, r"(?s)^[^:]*:(.*)$", 1)
    return F.concat(source, F.lit(":"), mask_value(local_id))


def _mask_one(value: Column) -> Column:
    is_email = value.contains("@")
    is_phone = value.rlike(r"^\+?[0-9]{6,}$")
    email = F.concat(F.substring(value, 1, 1), F.lit("***@"), F.substring_index(value, "@", -1))
    phone = F.concat(F.lit("+***"), F.substring(value, -4, 4))
    other = F.concat(F.substring(value, 1, 2), F.lit("***"))
    return F.when(is_email, email).when(is_phone, phone).otherwise(other)


def mask(value: str | None) -> str:
    """Plain-Python twin of :func:`mask_value` for one value (log lines)."""
    if value is None:
        return "<null>"
    parts = []
    for part in value.split("\u001f"):
        if "@" in part:
            parts.append(part[:1] + "***@" + part.rsplit("@", 1)[1])
        elif part.lstrip("+").isdigit() and len(part.lstrip("+")) >= 6:
            parts.append("+***" + part[-4:])
        else:
            parts.append(part[:2] + "***")
    return "+".join(parts)
