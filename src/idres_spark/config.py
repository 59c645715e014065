"""The job's configuration: frozen pydantic models of DESIGN.md's YAML, and ``load_config``.

Every model forbids unknown keys. Cross-field checks (unique names, known sources and fields,
blockable rules) live in ``model_validator``s. :func:`load_config` turns pydantic's
``ValidationError`` into a :class:`ConfigError` that names the file, the key path and the fix.
The rule tree helpers (``conjunctions``) are here because validation needs them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from idres_spark.columns import RULE_FIELDS
from idres_spark.errors import ConfigError
from idres_spark.golden_config import PROFILE_COLUMNS, GoldenConfig, check_location
from idres_spark.probabilistic.settings import ProbabilisticConfig
from idres_spark.stewardship.overrides import StewardshipConfig

MAX_CONJUNCTIONS = 62  # blocking keys are tracked as bits of one 64-bit mask per pair
# `within` spans at most 10,000 years: more than any two Spark timestamps (years 1 to 9999)
# can be apart, and far inside the 64-bit seconds the time-window test compares against
MAX_WITHIN_SECONDS = 3_652_500 * 86_400
# a YAML document may expand (aliases counted at every use) to at most this many nodes; the
# demo config has a few hundred, an alias bomb ("billion laughs") billions
MAX_YAML_NODES = 100_000
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
IDENTIFIER_FIELDS = ("email", "phone", "user_id", "device_id", "ip")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ColumnMapping(_Model):
    """Canonical field -> the source's column name. Only ``record_id`` is required."""

    record_id: str
    event_ts: str | None = None
    email: str | None = None
    email_status: str | None = None
    phone: str | None = None
    user_id: str | None = None
    device_id: str | None = None
    ip: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    street: str | None = None  # the address: street line (number, street, unit)
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None  # a name or code; normalization.default_country when absent


class SourceConfig(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    format: Literal["parquet", "csv", "json", "orc", "table"]
    path: str | None = None
    table: str | None = None
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    columns: ColumnMapping
    custom: dict[str, str] = Field(default_factory=dict)
    timestamp_format: str | None = Field(None, min_length=1)  # checked by Spark: config_checks

    @model_validator(mode="after")
    def _location(self) -> SourceConfig:
        check_location(self.format, self.path, self.table)
        clash = set(self.custom) & set(RULE_FIELDS)
        if clash:
            raise ValueError(f"custom field names {sorted(clash)} clash with built-in fields")
        return self


class NormalizationConfig(_Model):
    default_phone_region: str = Field("US", pattern=r"^[A-Z]{2}$")
    # the country of an address that names none (default: default_phone_region)
    default_country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    junk_values: list[str] = Field(default_factory=list)
    replace_builtin_junk: bool = False

    @field_validator("default_phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        import phonenumbers

        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"'{value}' is not a phone region phonenumbers knows (e.g. US, GB)")
        return value

    @property
    def address_country(self) -> str:
        return self.default_country or self.default_phone_region


# --- the rule language ---------------------------------------------------------------


class EqualsCondition(_Model):
    field: str
    compare: Literal["equals"]


class SimilarCondition(_Model):
    field: str
    compare: Literal["similar"]
    method: Literal["levenshtein", "jaro_winkler", "token_set"]
    min: float = Field(ge=0.0, le=1.0)


class TypoCondition(_Model):
    field: str
    compare: Literal["typo"]
    max_edits: int = Field(1, ge=1, le=5)


class AliasCondition(_Model):
    field: Literal["email"] = "email"
    compare: Literal["alias"]


Condition = Annotated[
    EqualsCondition | SimilarCondition | TypoCondition | AliasCondition,
    Field(discriminator="compare"),
]


def _node_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "group" if ("any" in value or "all" in value) else "condition"
    return "group" if isinstance(value, Group) else "condition"


class Group(_Model):
    any: list[Node] | None = Field(None, min_length=1)
    all: list[Node] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> Group:
        if (self.any is None) == (self.all is None):
            raise ValueError("a group has exactly one of `any:` (OR) or `all:` (AND)")
        return self


Node = Annotated[
    Annotated[Condition, Tag("condition")] | Annotated[Group, Tag("group")],
    Discriminator(_node_kind),
]
Group.model_rebuild()

FILTER_OPS = (
    "equals", "not_equals", "contains", "not_contains", "starts_with", "ends_with",
    "not_ends_with", "in", "not_in", "regex", "is_null", "is_not_null",
)  # fmt: skip


class RecordFilter(_Model):
    field: str
    op: Literal[
        "equals", "not_equals", "contains", "not_contains", "starts_with", "ends_with",
        "not_ends_with", "in", "not_in", "regex", "is_null", "is_not_null",
    ]  # fmt: skip
    value: str | list[str] | None = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> RecordFilter:
        if self.op in ("is_null", "is_not_null"):
            if self.value is not None:
                raise ValueError(f"op '{self.op}' takes no `value`")
        elif self.op in ("in", "not_in"):
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"op '{self.op}' needs `value:` as a non-empty list")
        elif not isinstance(self.value, str):
            raise ValueError(f"op '{self.op}' needs `value:` as one string")
        # a `regex` value runs on Java's engine (rlike): config_checks compiles it there
        return self


class BlockOn(_Model):
    """An explicit blocking key: a transform of one field (for rules with no `equals`)."""

    field: str
    transform: Literal["exact", "first_n", "last_n", "soundex", "email_domain", "email_local"] = (
        "exact"
    )
    n: int | None = Field(None, ge=1, le=64)

    @model_validator(mode="after")
    def _n_fits(self) -> BlockOn:
        if self.transform in ("first_n", "last_n") and self.n is None:
            raise ValueError(f"transform '{self.transform}' needs `n:` (how many characters)")
        return self


class Rule(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    sources: list[str] | None = Field(None, min_length=1)
    within: str | None = None
    any: list[Node] | None = Field(None, min_length=1)
    all: list[Node] | None = Field(None, min_length=1)
    only_if: list[RecordFilter] = Field(default_factory=list)
    block_on: list[BlockOn] = Field(default_factory=list)

    @field_validator("within")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"'{value}' is not a duration: use e.g. 90s, 15m, 12h, 30d, 2w")
        digits, unit = match.groups()
        if len(digits) > 15 or int(digits) * _DURATION_SECONDS[unit] > MAX_WITHIN_SECONDS:
            raise PydanticCustomError(
                "within_out_of_range",
                "'{value}' is longer than the longest window, 3652500d (10,000 years, more "
                "than any two event times can be apart): use a shorter duration, or leave "
                "`within` out for no time window",
                {"value": value[:40]},
            )
        return value

    @model_validator(mode="after")
    def _one_tree(self) -> Rule:
        if (self.any is None) == (self.all is None):
            raise ValueError("a rule has exactly one of `any:` (OR) or `all:` (AND)")
        return self

    @property
    def tree(self) -> Group:
        return Group(any=self.any) if self.any is not None else Group(all=self.all)

    @property
    def within_seconds(self) -> int | None:
        if self.within is None:
            return None
        match = _DURATION.match(self.within)
        assert match is not None
        return int(match.group(1)) * _DURATION_SECONDS[match.group(2)]


DEFAULT_RULE = Rule(
    name="default",
    any=[
        EqualsCondition(field="email", compare="equals"),
        EqualsCondition(field="user_id", compare="equals"),
    ],
)


class TransformationsConfig(_Model):
    email_typo_merge: bool = False
    email_alias_merge: bool = False
    known_domains: list[str] | None = None  # overrides the built-in list of standard domains


class EventColumns(_Model):
    """Event field -> the events table's column. ``source`` may instead be fixed per table."""

    event_id: str
    source_record_id: str
    source: str | None = None
    event_type: str
    channel: str
    event_ts: str


class EventsConfig(_Model):
    """An optional events input, re-keyed to profiles in the ``events/`` output."""

    format: Literal["parquet", "csv", "json", "orc", "table"]
    path: str | None = None
    table: str | None = None
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    columns: EventColumns
    source_name: str | None = None  # every event belongs to this source (no source column)
    email_channels: list[str] = Field(default_factory=lambda: ["email"])

    @model_validator(mode="after")
    def _where_and_source(self) -> EventsConfig:
        if self.format == "table" and not self.table:
            raise ValueError("format 'table' needs `table: catalog.db.name`")
        if self.format != "table" and not self.path:
            raise ValueError(f"format '{self.format}' needs `path:`")
        if (self.columns.source is None) == (self.source_name is None):
            raise ValueError("give exactly one of `columns.source` or `source_name`")
        return self


class LimitsConfig(_Model):
    max_group_size: int = Field(50, ge=2)
    max_block_size: int = Field(1000, ge=2)
    identifier_limits: dict[str, int] = Field(default_factory=dict)

    @field_validator("identifier_limits")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in value.items() if v < 1}
        if bad:
            raise ValueError(f"limits must be at least 1, got {bad}")
        return value


class GraphConfig(_Model):
    backend: Literal["auto", "graphframes", "native"] = "auto"
    checkpoint_dir: str | None = None
    checkpoint_every: int = Field(2, ge=1, le=10)
    max_rounds: int = Field(200, ge=1)
    # a graph of at most this many links is solved on the driver (0: never); docs/graph.md
    driver_max_edges: int = Field(1_000_000, ge=0)


_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"


class OutputConfig(_Model):
    """Where the state lives (``path``) and where users query the tables (docs/outputs.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    path: str = "out/"
    mode: Literal["overwrite", "incremental"] = "overwrite"
    keep_runs: int = Field(3, ge=1)  # published run folders kept; older ones are deleted
    # run, work and preview folders readable by the job's user only (they hold personal data)
    private: bool = True
    # the published tables: the run folders' Parquet (with `schema`: views over them), or
    # Delta / Iceberg tables replaced by one commit per table and run (publish/tables.py)
    format: Literal["parquet", "delta", "iceberg"] = "parquet"
    catalog: str | None = Field(None, pattern=_IDENTIFIER)
    schema_name: str | None = Field(None, alias="schema", pattern=_IDENTIFIER)
    table_prefix: str = Field("", pattern=r"^[A-Za-z0-9_]*$")
    history_days: int = Field(30, ge=1)  # table history kept readable (Delta log, Iceberg tags)

    @model_validator(mode="after")
    def _names(self) -> OutputConfig:
        if self.catalog and not self.schema_name:
            raise ValueError("`catalog` needs `schema` (tables are <catalog>.<schema>.<name>)")
        if self.format == "iceberg" and not self.schema_name:
            raise ValueError(
                "format 'iceberg' needs `schema` (and usually `catalog`): Iceberg tables live "
                "in a catalog; configure one in Spark (spark.sql.catalog.<name>) and name it"
            )
        if self.table_prefix and not self.schema_name and self.format == "parquet":
            raise ValueError("`table_prefix` names published tables: it needs `schema`")
        return self


class Config(_Model):
    sources: list[SourceConfig] = Field(min_length=1)
    normalization: NormalizationConfig = Field(default_factory=NormalizationConfig)
    rules: list[Rule] = Field(default_factory=list)
    transformations: TransformationsConfig = Field(default_factory=TransformationsConfig)
    events: EventsConfig | None = None
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    graph: GraphConfig = Field(default_factory=GraphConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    golden: GoldenConfig = Field(default_factory=GoldenConfig)
    stewardship: StewardshipConfig = Field(default_factory=StewardshipConfig)
    probabilistic: ProbabilisticConfig = Field(default_factory=ProbabilisticConfig)
    _origin: str = PrivateAttr("<config>")  # the file it was read from, for error messages

    @property
    def origin(self) -> str:
        return self._origin

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        _unique("source", [s.name for s in self.sources])
        _unique("rule", [r.name for r in self.rules])
        known_sources = {s.name for s in self.sources}
        if self.events and self.events.source_name and self.events.source_name not in known_sources:
            raise ValueError(
                f"events.source_name: unknown source '{self.events.source_name}'; "
                f"sources are {sorted(known_sources)}"
            )
        fields = set(RULE_FIELDS) | self.custom_fields
        for index, rule in enumerate(self.rules):
            where = f"rules[{index}] ('{rule.name}')"
            branches = branch_count(rule.tree)  # counted, not built: refuse before expanding
            if branches > MAX_CONJUNCTIONS:
                raise _coded_error(
                    "too_many_branches",
                    f"{where} would expand to {_count_text(branches)} AND branches (every "
                    f"combination of its OR groups); at most {MAX_CONJUNCTIONS} are supported "
                    "in all rules together: split it into fewer, broader rules",
                )
            if rule.name == "default" and rule.sources is not None:
                raise ValueError(
                    f"{where}: rule 'default' applies to all sources: remove `sources:`"
                )
            unknown = sorted(set(rule.sources or ()) - known_sources)
            if unknown:
                raise ValueError(
                    f"{where}.sources: unknown sources {unknown}; "
                    f"sources are {sorted(known_sources)}"
                )
            used = [c.field for c in tree_conditions(rule.tree)]
            used += [f.field for f in rule.only_if] + [b.field for b in rule.block_on]
            bad = sorted(set(used) - fields)
            if bad:
                raise ValueError(
                    f"{where}: unknown fields {bad}; fields are "
                    f"{sorted(fields)} (custom fields must be declared under a source's `custom:`)"
                )
            _check_blockable(rule, where)
        if not any(r.name == "default" for r in self.rules):  # the default rule always exists
            object.__setattr__(self, "rules", [DEFAULT_RULE, *self.rules])
        total = sum(branch_count(r.tree) for r in self.rules)
        if total > MAX_CONJUNCTIONS:
            raise _coded_error(
                "too_many_branches",
                f"the rules expand to {total} AND branches; at most {MAX_CONJUNCTIONS} are "
                "supported: split OR groups into fewer, broader rules",
            )
        bad_limits = sorted(set(self.limits.identifier_limits) - set(IDENTIFIER_FIELDS) -
                            self.custom_fields)  # fmt: skip
        if bad_limits:
            raise ValueError(
                f"limits.identifier_limits: unknown identifiers {bad_limits}; "
                f"use {list(IDENTIFIER_FIELDS)} or a custom field"
            )
        self.golden.check(sorted(known_sources), self.custom_fields, set(PROFILE_COLUMNS))
        bad = sorted(self.probabilistic.fields_used() - fields)
        if bad:
            raise ValueError(
                f"probabilistic: unknown fields {bad}; fields are {sorted(fields)} (custom "
                "fields must be declared under a source's `custom:`)"
            )
        return self

    @property
    def maps_address(self) -> bool:
        """Some source maps a part of the address."""
        parts = ("street", "city", "postal_code", "country")
        return any(getattr(s.columns, part) for s in self.sources for part in parts)

    @property
    def custom_fields(self) -> set[str]:
        return {name for s in self.sources for name in s.custom}

    def fingerprint(self) -> str:
        """A short stable hash of what decides the results (run ids, merge log).

        Where inputs, outputs and checkpoints live does not change the results: left out.
        """
        data = self.model_dump(mode="json")
        data.pop("output")
        data["graph"].pop("checkpoint_dir")
        # where the components are computed, not what they are; and an upgrade that brought
        # this setting must not look like a change of rules to every earlier state
        data["graph"].pop("driver_max_edges")
        for source in data["sources"]:  # where the data sits is not how it is resolved
            source.pop("path")
            source.pop("table")
        # survivorship decides the profiles: in the fingerprint unless it is the default, so
        # states from before the `golden:` section keep theirs; the steward values are data
        data["golden"].pop("overrides")
        data.pop("stewardship")  # steward overrides are data, decided run by run
        if data["golden"] == GoldenConfig().model_dump(mode="json", exclude={"overrides"}):
            data.pop("golden")
        # whether to retrain now is not what the model decides; a config without the section
        # keeps the fingerprint it had before the section existed
        data["probabilistic"].pop("retrain")
        if not self.probabilistic.enabled:
            data.pop("probabilistic")
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


_COUNT_CAP = 10**18  # branch counts saturate here: large enough to report, small to print


def branch_count(node: Group | Any) -> int:
    """How many AND branches :func:`conjunctions` returns, counted without building them
    (saturating at 10**18, so an AND of many OR groups costs nothing to count)."""
    if not isinstance(node, Group):
        return 1
    if node.any is not None:
        return min(_COUNT_CAP, sum(branch_count(child) for child in node.any))
    total = 1
    for child in node.all or ():
        total = min(_COUNT_CAP, total * branch_count(child))
    return total


def tree_conditions(node: Group | Any) -> list[Any]:
    """Every condition of a rule tree, in order, without expanding it."""
    if not isinstance(node, Group):
        return [node]
    return [c for child in (node.any or node.all or ()) for c in tree_conditions(child)]


def conjunctions(node: Group | Any) -> list[list[Any]]:
    """The rule tree in disjunctive normal form: a list of AND branches of conditions.

    Refuses (``ValueError``) a tree of more than ``MAX_CONJUNCTIONS`` branches before building
    any: a validated config never has one, and the product of many OR groups is exponential."""
    branches = branch_count(node)
    if branches > MAX_CONJUNCTIONS:
        raise ValueError(
            f"the rule would expand to {_count_text(branches)} AND branches; at most "
            f"{MAX_CONJUNCTIONS} are supported"
        )
    return _dnf(node)


def _dnf(node: Group | Any) -> list[list[Any]]:
    if not isinstance(node, Group):
        return [[node]]
    if node.any is not None:
        return [conj for child in node.any for conj in _dnf(child)]
    parts = [_dnf(child) for child in node.all or ()]
    return [[c for conj in combo for c in conj] for combo in itertools.product(*parts)]


def _count_text(count: int) -> str:
    return f"more than {_COUNT_CAP - 1:,}" if count >= _COUNT_CAP else f"{count:,}"


def _coded_error(code: str, message: str) -> PydanticCustomError:
    """A validation error whose ``type`` is the ConfigError code :func:`parse_config` gives."""
    return PydanticCustomError(code, "{message}", {"message": message})


def _check_blockable(rule: Rule, where: str) -> None:
    if rule.block_on:
        return
    for conj in conjunctions(rule.tree):
        if not any(c.compare in ("equals", "alias") for c in conj):
            shown = " AND ".join(f"{c.field} {c.compare}" for c in conj)
            raise ValueError(
                f"{where} cannot be blocked: the branch [{shown}] has no `equals` "
                "(or `alias`) condition. Add one to that branch, or give the rule "
                "`block_on: [{field: ..., transform: ...}]`"
            )


def _unique(kind: str, names: list[str]) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{kind} names must be unique; repeated: {dupes}")


# --- loading -------------------------------------------------------------------------

_TAGS = {"condition", "group", "equals", "similar", "typo", "alias"}


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a YAML config; relative source paths resolve against its folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found", code="config_not_found")
    try:
        data = _load_yaml(path.read_text(encoding="utf-8"), path)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}", code="yaml_syntax") from exc
    except RecursionError:
        raise ConfigError(
            f"{path}: the YAML is nested too deeply to read; a config needs a few levels",
            code="yaml_too_large",
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with `sources:` etc.")
    for source in data.get("sources") or []:
        if isinstance(source, dict) and isinstance(source.get("path"), str):
            source["path"] = _resolve_path(source["path"], path.parent)
    if not isinstance(data.get("output"), dict):
        data["output"] = {} if data.get("output") is None else data["output"]
    if isinstance(data["output"], dict):
        data["output"].setdefault("path", "out")
    for section, key in (("output", "path"), ("graph", "checkpoint_dir"), ("events", "path")):
        block = data.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str):
            block[key] = _resolve_path(block[key], path.parent)
    for section in ("golden", "stewardship"):
        block = data.get(section)
        for key in ("overrides", "erasure"):
            table = block.get(key) if isinstance(block, dict) else None
            if isinstance(table, dict) and isinstance(table.get("path"), str):
                table["path"] = _resolve_path(table["path"], path.parent)
    for key, value in (overrides or {}).items():
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data[key].update(value)
    return parse_config(data, origin=str(path))


def _load_yaml(text: str, path: Path) -> Any:
    """``yaml.safe_load`` that refuses, before building anything, a document whose aliases
    expand to more than ``MAX_YAML_NODES`` nodes (an alias bomb) or refer to themselves."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_nodes(node, {}, set())
        if size is None:
            raise ConfigError(
                f"{path}: a YAML alias refers to a node that contains it, so the document "
                "never ends: replace the alias (`*name`) with the values it stands for",
                code="yaml_too_large",
            )
        if size > MAX_YAML_NODES:
            raise ConfigError(
                f"{path}: the YAML expands to more than {MAX_YAML_NODES:,} values once its "
                "aliases (`*name`) are repeated where they are used; a config needs far fewer: "
                "write the values out or use fewer aliases of aliases",
                code="yaml_too_large",
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_nodes(node: yaml.Node, sizes: dict[int, int], open_: set[int]) -> int | None:
    """How many nodes ``node`` stands for with every alias expanded, stopping just past
    ``MAX_YAML_NODES``; None when an alias refers to a node that contains it."""
    key = id(node)
    if key in sizes:
        return sizes[key]  # an alias: the same node object, counted again at every use
    if key in open_:
        return None
    open_.add(key)
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = []
    total = 1
    for child in children:
        size = _expanded_nodes(child, sizes, open_)
        if size is None:
            return None
        total += size
        if total > MAX_YAML_NODES:
            break
    open_.discard(key)
    sizes[key] = total
    return total


def parse_config(data: dict[str, Any], origin: str = "<config>") -> Config:
    try:
        config = Config.model_validate(data)
        config._origin = origin
        return config
    except ValidationError as exc:
        problems = [_describe(err) for err in exc.errors()]
        code = _error_code(exc.errors()[0])
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"{origin}: invalid config:\n{lines}", code=code) from None


def _resolve_path(value: str, base: Path) -> str:
    """Relative local paths resolve against the config's folder; URIs and absolute stay."""
    value = os.path.expanduser(value)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]+:", value) or os.path.isabs(value):
        return value  # dbfs:/, s3a://, file:/, abfss://, hdfs://, /abs/path
    return str((base / value).resolve())


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TAGS and i > 0 and (isinstance(loc[i - 1], int) or loc[i - 1] in _TAGS):
            continue  # a union tag pydantic adds to the location, not a key of the file
        elif isinstance(part, str) and part.startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _describe(err: dict[str, Any]) -> str:
    where = _key_path(tuple(err["loc"]))
    kind = err["type"]
    message = str(err["msg"]).removeprefix("Value error, ")
    if where == "(top level)":
        return message
    if kind == "extra_forbidden":
        return f"{where}: unknown key; remove it or fix its spelling (see conf/demo.yaml)"
    if kind == "missing":
        return f"{where}: required key is missing; add it"
    if kind == "union_tag_invalid" and "compare" in message or kind == "union_tag_not_found":
        return (
            f"{where}: unknown or missing `compare`; use one of equals, similar, typo, alias "
            f"({message})"
        )
    return f"{where}: {message}"


_CODED_ERRORS = {"too_many_branches", "within_out_of_range"}  # error types that are codes


def _error_code(err: dict[str, Any]) -> str:
    if err["type"] in _CODED_ERRORS:
        return str(err["type"])
    if err["type"] == "extra_forbidden":
        return "unknown_key"
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return "unknown_comparator"
    if "cannot be blocked" in str(err["msg"]):
        return "unblockable_rule"
    if err["type"] == "literal_error" and err["loc"] and err["loc"][-1] == "op":
        return "unknown_operator"
    return "config_invalid"
