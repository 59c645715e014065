"""The ``golden:`` section: how each profile field survives (docs/golden-record.md).

A field's **chain** is a list of policies; each narrows the candidates (the profile's records
with a non-empty value of the field) and the next breaks the ties that remain; the smallest
record id always ends the chain, so the winner is deterministic. In YAML a policy is a name
(``most_recent``) or a one-key mapping with its setting (``source_priority: [crm, web]``,
``most_frequent: sources``). A **group** is a set of fields that survive from one record
(``name: [first_name, last_name]``); its chain is given under the group's name.

The models are checked against the sources (names, custom fields) by
:meth:`GoldenConfig.check`, which :class:`idres_spark.config.Config` calls.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from idres_spark import columns as C

POLICY_NAMES = (
    "source_priority", "most_recent", "oldest", "most_frequent", "most_complete", "longest",
    "valid_first",
)  # fmt: skip
# survivable built-in fields -> their profile column; custom fields keep their own names
BUILTIN_GOLDEN = {
    C.EMAIL: "primary_email",
    C.PHONE: "primary_phone",
    C.USER_ID: "primary_user_id",
    C.FIRST_NAME: C.FIRST_NAME,
    C.LAST_NAME: C.LAST_NAME,
}
PROFILE_COLUMNS = (
    C.PROFILE_ID,
    "record_count",
    "sources",
    "primary_email",
    "primary_phone",
    "primary_user_id",
    "emails",
    "phones",
    "user_ids",
    "device_ids",
    C.FIRST_NAME,
    C.LAST_NAME,
    "first_seen",
    "last_seen",
    "created_at",
    "updated_at",
)  # fmt: skip; custom fields follow, each a column of its own
STEWARD_POLICY = "steward_override"  # provenance: a steward set the value
OVERRIDE_COLUMNS = ("field", "value")  # required; plus an anchor: profile_id or record
OVERRIDE_OPTIONAL = ("override_id", "profile_id", "record", "reason", "created_by", "created_at")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Policy(_Model):
    """One step of a chain. ``sources`` only for ``source_priority`` (default: the section's
    ``source_priority``); ``by`` only for ``most_frequent``."""

    name: Literal[
        "source_priority", "most_recent", "oldest", "most_frequent", "most_complete", "longest",
        "valid_first",
    ]  # fmt: skip
    sources: list[str] | None = Field(None, min_length=1)
    by: Literal["records", "sources"] = "records"

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        if isinstance(value, dict) and len(value) == 1 and "name" not in value:
            ((name, setting),) = value.items()
            if name == "source_priority":
                return {"name": name, "sources": setting}
            if name == "most_frequent":
                by = setting.get("by") if isinstance(setting, dict) else setting
                return {"name": name, "by": by}
            raise ValueError(
                f"policy '{name}' takes no setting: write it as a plain name "
                f"(policies: {', '.join(POLICY_NAMES)})"
            )
        return value

    @model_validator(mode="after")
    def _settings_fit(self) -> Policy:
        if self.sources is not None and self.name != "source_priority":
            raise ValueError(f"policy '{self.name}' takes no `sources`")
        return self

    @property
    def label(self) -> str:
        """How provenance names the policy, e.g. ``most_frequent:sources``."""
        return f"{self.name}:{self.by}" if self.name == "most_frequent" else self.name


Chain = list[Policy]


class TableInput(_Model):
    """An input table read like a source: a file/folder (``path``) or a catalog ``table``."""

    format: Literal["parquet", "csv", "json", "orc", "table"]
    path: str | None = None
    table: str | None = None
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _location(self) -> TableInput:
        check_location(self.format, self.path, self.table)
        return self


def check_location(fmt: str, path: str | None, table: str | None) -> None:
    """An input is a file/folder (``path``) or, with format ``table``, a catalog table."""
    if fmt == "table" and not table:
        raise ValueError("format 'table' needs `table: catalog.db.name`")
    if fmt != "table" and not path:
        raise ValueError(f"format '{fmt}' needs `path:` (a file or directory)")
    if path and table:
        raise ValueError("give either `path` or `table`, not both")


class GoldenConfig(_Model):
    source_priority: list[str] = Field(default_factory=list)
    default: Chain = Field(default_factory=lambda: [Policy(name="most_recent")], min_length=1)
    fields: dict[str, Chain] = Field(default_factory=dict)
    groups: dict[str, list[str]] = Field(default_factory=dict)
    overrides: TableInput | None = None  # steward values (golden_overrides)

    @field_validator("fields")
    @classmethod
    def _non_empty(cls, value: dict[str, Chain]) -> dict[str, Chain]:
        empty = sorted(name for name, chain in value.items() if not chain)
        if empty:
            raise ValueError(f"fields {empty} have an empty chain: give at least one policy")
        return value

    def chain_of(self, unit: str) -> list[Policy]:
        """A field's or group's chain; ``email`` without its own puts ``valid_first`` first."""
        if unit in self.fields:
            return list(self.fields[unit])
        if unit == C.EMAIL:
            return [Policy(name="valid_first"), *self.default]
        return list(self.default)

    def units(self, custom: list[str]) -> list[tuple[str, tuple[str, ...]]]:
        """(unit name, its fields) for every survivable field, groups as one unit, in the
        order of the profile's columns."""
        grouped = {f: name for name, members in self.groups.items() for f in members}
        out: list[tuple[str, tuple[str, ...]]] = []
        for field in [*BUILTIN_GOLDEN, *sorted(custom)]:
            group = grouped.get(field)
            if group is None:
                out.append((field, (field,)))
            elif all(name != group for name, _ in out):
                out.append((group, tuple(self.groups[group])))
        return out

    def check(self, sources: list[str], custom: set[str], taken: set[str]) -> None:
        """Cross-checks against the sources; ``taken``: profile columns custom fields may not
        use. Raises ``ValueError`` naming the key and the fix."""
        survivable = set(BUILTIN_GOLDEN) | custom
        clash = sorted(custom & taken)
        if clash:
            raise ValueError(
                f"custom field names {clash} clash with profile columns: rename them under "
                "the sources' `custom:`"
            )
        seen: dict[str, str] = {}
        for name, members in self.groups.items():
            if name in survivable:
                raise ValueError(f"golden.groups.{name}: a group needs a name of its own, "
                                 "not a field's")  # fmt: skip
            if len(members) < 2:
                raise ValueError(f"golden.groups.{name}: a group holds at least two fields")
            for field in members:
                if field not in survivable:
                    raise ValueError(
                        f"golden.groups.{name}: unknown field '{field}'; survivable fields are "
                        f"{sorted(survivable)}"
                    )
                if field in seen:
                    raise ValueError(
                        f"golden.groups: '{field}' is in both '{seen[field]}' and '{name}'"
                    )
                if field in self.fields:
                    raise ValueError(
                        f"golden.fields.{field}: '{field}' survives with its group '{name}'; "
                        f"give the chain under golden.fields.{name}"
                    )
                seen[field] = name
        known_sources = set(sources)
        unknown = sorted(set(self.source_priority) - known_sources)
        if unknown:
            raise ValueError(f"golden.source_priority: unknown sources {unknown}; sources are "
                             f"{sorted(known_sources)}")  # fmt: skip
        units = set(survivable) | set(self.groups)
        for unit, chain in [("default", self.default), *self.fields.items()]:
            where = f"golden.{unit}" if unit == "default" else f"golden.fields.{unit}"
            if unit != "default" and unit not in units:
                raise ValueError(f"{where}: unknown field or group; survivable fields are "
                                 f"{sorted(survivable)}, groups {sorted(self.groups)}")  # fmt: skip
            for policy in chain:
                if policy.name == "valid_first" and unit != C.EMAIL:
                    raise ValueError(f"{where}: `valid_first` ranks emails by reachability; "
                                     "use it in golden.fields.email only")  # fmt: skip
                if policy.name == "source_priority":
                    order = policy.sources or self.source_priority
                    if not order:
                        raise ValueError(
                            f"{where}: `source_priority` needs an order: give "
                            "golden.source_priority or `source_priority: [crm, web]`"
                        )
                    bad = sorted(set(order) - known_sources)
                    if bad:
                        raise ValueError(f"{where}: unknown sources {bad} in source_priority")
