"""The trained model: the prior and each comparison's m and u per level, as versioned JSON.

Weights are ``log2(m / u)`` per level; a pair's match weight is the prior's
``log2(λ / (1 - λ))`` plus one weight per comparison with a value (plus the term-frequency
adjustment of a top level), and its probability ``2^w / (1 + 2^w)``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT = 1  # the JSON layout; a model of another format is trained again
# levels that are evidence against a match or none: an email local part that is only
# formatted differently (john.smith1@ / john.smith2@ / johnsmith@), one or two edits off, or
# merely similar, is most often derived from the same name by two people, and the names
# already count
NEVER_POSITIVE = frozenset({"formatting_only", "local_typo", "local_part_similar"})


@dataclass(frozen=True)
class ComparisonModel:
    name: str
    labels: tuple[str, ...]
    m: tuple[float, ...]
    u: tuple[float, ...]
    u_exact: bool  # the top level's u was counted from values, not sampled
    tf_field: str | None = None

    @property
    def weights(self) -> tuple[float, ...]:
        """``log2(m / u)`` per level, made monotone: a level never weighs more than the
        stronger levels above it (a typo never counts more than the exact value: a fuzzy
        level's u, sampled from random pairs, is tiny for reasons that have nothing to do with
        a match, such as a shared surname), and the levels of :data:`NEVER_POSITIVE` never
        count for a match."""
        raw = [math.log2(m / u) for m, u in zip(self.m, self.u, strict=True)]
        capped = raw[:]
        for level in range(len(raw) - 2, -1, -1):
            capped[level] = min(raw[level], capped[level + 1])
        return tuple(
            min(w, 0.0) if label in NEVER_POSITIVE else w
            for w, label in zip(capped, self.labels, strict=True)
        )


@dataclass(frozen=True)
class Model:
    model_id: str
    fingerprint: str  # of the settings and comparisons it was trained for
    trained_run_id: str
    prior: float  # λ: the probability that two records picked at random match
    comparisons: tuple[ComparisonModel, ...]
    training: dict[str, Any] = field(default_factory=dict)  # what training saw and did

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    def comparison(self, name: str) -> ComparisonModel:
        return next(c for c in self.comparisons if c.name == name)

    def to_json(self) -> str:
        data = asdict(self)
        data["format"] = FORMAT
        data["weights"] = {c.name: list(c.weights) for c in self.comparisons}
        data["prior_weight"] = self.prior_weight
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Model | None:
        """The model, or None when the text is of another format (it is trained again)."""
        data = json.loads(text)
        if data.get("format") != FORMAT:
            return None
        comparisons = tuple(
            ComparisonModel(
                name=c["name"], labels=tuple(c["labels"]), m=tuple(c["m"]), u=tuple(c["u"]),
                u_exact=c["u_exact"], tf_field=c.get("tf_field"),
            )
            for c in data["comparisons"]
        )  # fmt: skip
        return cls(
            model_id=data["model_id"],
            fingerprint=data["fingerprint"],
            trained_run_id=data["trained_run_id"],
            prior=data["prior"],
            comparisons=comparisons,
            training=data.get("training", {}),
        )


def settings_fingerprint(settings_json: dict[str, Any], comparisons: list[Any]) -> str:
    """What the model depends on: the settings that shape training (not the thresholds that
    only read it) and each comparison's name, fields and levels."""
    kept = {k: v for k, v in settings_json.items() if k in _TRAINING_SETTINGS}
    kept["comparisons"] = [[c.name, list(c.fields), list(c.labels)] for c in comparisons]
    text = json.dumps(kept, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


_TRAINING_SETTINGS = ("blocking", "rules_recall", "window", "seed", "sample_pairs",
                      "max_iterations", "comparisons")  # fmt: skip
