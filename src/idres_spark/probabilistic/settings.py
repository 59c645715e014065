"""The ``probabilistic:`` section of the config (docs/probabilistic.md).

Built-in comparisons are named (``email``, ``phone_last_name``, ``first_name``, ``user_id``,
``device_id``, ``ip``, ``address``); a custom comparison compares one field with a ladder of
levels (``exact``, ``{edits: 1}``, ``{jaro_winkler: 0.9}``). Blocking rules are lists of
blocking keys (the rules' ``block_on`` form); each also blocks one training session.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

BUILTIN_COMPARISONS = (
    "email", "phone_last_name", "first_name", "user_id", "device_id", "ip", "address",
)  # fmt: skip
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Level(_Model):
    """One level of a custom comparison: ``exact``, ``{edits: n}`` or ``{jaro_winkler: x}``."""

    kind: str = Field(pattern=r"^(exact|edits|jaro_winkler)$")
    value: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"kind": value}
        if isinstance(value, dict) and len(value) == 1 and "kind" not in value:
            ((kind, setting),) = value.items()
            return {"kind": kind, "value": setting}
        return value

    @model_validator(mode="after")
    def _value_fits(self) -> Level:
        if self.kind == "exact" and self.value is not None:
            raise ValueError("level `exact` takes no value")
        if self.kind == "edits" and (self.value is None or not 1 <= self.value <= 5):
            raise ValueError("level `edits` needs a number of edits from 1 to 5: {edits: 1}")
        if self.kind == "jaro_winkler" and (self.value is None or not 0 < self.value < 1):
            raise ValueError("level `jaro_winkler` needs a minimum between 0 and 1")
        return self

    @property
    def label(self) -> str:
        if self.kind == "exact":
            return "exact"
        shown = int(self.value) if self.kind == "edits" else self.value
        return f"{self.kind}_{shown}"


class CustomComparison(_Model):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    field: str
    levels: list[Level] = Field(min_length=1)  # strongest first; "else" is added below them
    term_frequency: bool = False  # adjust the exact level by how common the value is


class BlockKey(_Model):
    """A blocking key: a transform of one field (as a rule's ``block_on``)."""

    field: str
    transform: str = Field(
        "exact", pattern=r"^(exact|first_n|last_n|soundex|email_domain|email_local)$"
    )
    n: int | None = Field(None, ge=1, le=64)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"field": value} if isinstance(value, str) else value


class Vetoes(_Model):
    # fields whose values, both present and different, keep two records apart (external ids)
    different: list[str] = Field(default_factory=lambda: ["user_id"])
    # shared phone or address, different first names, no shared email or external id
    household: bool = True


class ProbabilisticConfig(_Model):
    enabled: bool = False
    comparisons: list[str | CustomComparison] | None = None  # default: the built-ins in use
    blocking: list[list[BlockKey]] | None = None  # default: DEFAULT_BLOCKING where mapped
    match_probability: float = Field(0.95, gt=0.5, lt=1.0)  # merge at or above
    review_probability: float = Field(0.8, gt=0.0, lt=1.0)  # suggest at or above
    # a pair between two groups whose comparisons (without the prior) say this many bits
    # against a match keeps the groups apart
    negative_evidence_bits: float = Field(8.0, gt=0.0)
    vetoes: Vetoes = Field(default_factory=Vetoes)
    # the share of true duplicate pairs the rules are assumed to find (sets the prior)
    rules_recall: float = Field(0.7, gt=0.0, le=1.0)
    max_rounds: int = Field(3, ge=1, le=10)  # group merges per run: each group's best link
    window: str = "30d"  # device and IP agree only when the events are this close in time
    tf_cap_bits: float = Field(4.0, ge=0.0)  # term-frequency adjustments stay within +-
    seed: int = 42
    sample_pairs: int = Field(200_000, ge=1_000)  # random pairs for the u of fuzzy levels
    max_iterations: int = Field(100, ge=1)
    # a blocking key held by more records makes no candidate pairs (common names, shared
    # networks): smaller than limits.max_block_size, since every pair here is scored
    max_block_size: int = Field(200, ge=2)
    session_pairs: int = Field(300_000, ge=1_000)  # pairs a training session samples at most
    retrain: bool = False

    @model_validator(mode="after")
    def _checks(self) -> ProbabilisticConfig:
        if self.review_probability > self.match_probability:
            raise ValueError("`review_probability` must not exceed `match_probability`")
        if not _DURATION.match(self.window):
            raise ValueError(f"window '{self.window}' is not a duration: use e.g. 30d, 12h")
        names = [c if isinstance(c, str) else c.name for c in self.comparisons or ()]
        unknown = [c for c in self.comparisons or () if isinstance(c, str)
                   and c not in BUILTIN_COMPARISONS]  # fmt: skip
        if unknown:
            raise ValueError(
                f"comparisons: unknown built-in comparisons {unknown}; built-ins are "
                f"{list(BUILTIN_COMPARISONS)}, or give {{name, field, levels}}"
            )
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"comparisons: names must be unique; repeated: {repeated}")
        return self

    @property
    def window_seconds(self) -> int:
        match = _DURATION.match(self.window)
        assert match is not None
        return int(match.group(1)) * _SECONDS[match.group(2)]

    def fields_used(self) -> set[str]:
        """The fields named by custom comparisons, blocking keys and vetoes (checked against
        the config's fields)."""
        used = {c.field for c in self.comparisons or () if isinstance(c, CustomComparison)}
        used |= {k.field for rule in self.blocking or () for k in rule}
        return used | set(self.vetoes.different)


# default blocking rules: each gives candidate pairs and blocks one training session
DEFAULT_BLOCKING: tuple[tuple[BlockKey, ...], ...] = (
    (BlockKey(field="phone"),),
    (BlockKey(field="email", transform="email_local"),),
    (BlockKey(field="last_name"), BlockKey(field="first_name", transform="first_n", n=1)),
    (BlockKey(field="street"), BlockKey(field="postal_code")),
    (BlockKey(field="postal_code"), BlockKey(field="first_name", transform="soundex")),
    (BlockKey(field="device_id"),),
)
