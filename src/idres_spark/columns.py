"""Column names, declared once. Stages refer to these constants, never to string literals.

Pair frames carry every record column twice, suffixed with ``_l`` and ``_r``; pairs are
canonical (``record_id_l < record_id_r``).
"""

from __future__ import annotations

# canonical record
RECORD_ID = "record_id"
SOURCE = "source"
SOURCE_RECORD_ID = "source_record_id"
EVENT_TS = "event_ts"
EMAIL = "email"
EMAIL_RAW = "email_raw"
EMAIL_CANONICAL = "email_canonical"
EMAIL_STATUS = "email_status"
PHONE = "phone"
PHONE_RAW = "phone_raw"
USER_ID = "user_id"
DEVICE_ID = "device_id"
IP = "ip"
FIRST_NAME = "first_name"
LAST_NAME = "last_name"
FULL_NAME = "full_name"  # derived for rules: "first last"
STREET = "street"
CITY = "city"
POSTAL_CODE = "postal_code"
COUNTRY = "country"  # ISO 3166 alpha-2 where recognized
ADDRESS = "address"  # derived for rules: "street postal_code" (city when no postal code)
ADDRESS_PARTS = (STREET, CITY, POSTAL_CODE, COUNTRY)
CUSTOM = "custom"

# fields a source may map (the config's `columns:` keys)
MAPPABLE_FIELDS = (
    "record_id",
    EVENT_TS,
    EMAIL,
    EMAIL_STATUS,
    PHONE,
    USER_ID,
    DEVICE_ID,
    IP,
    FIRST_NAME,
    LAST_NAME,
    *ADDRESS_PARTS,
)

# identifier fields rules may compare (custom fields are addressed by their own names)
RULE_FIELDS = (
    EMAIL, PHONE, USER_ID, DEVICE_ID, IP, FIRST_NAME, LAST_NAME, FULL_NAME, *ADDRESS_PARTS, ADDRESS,
)  # fmt: skip

EMAIL_STATUSES = ("valid", "bounced", "invalid", "suppressed", "unknown")

# pair frames
LEFT = "_l"
RIGHT = "_r"
ID_L = RECORD_ID + LEFT
ID_R = RECORD_ID + RIGHT
BLOCK_MASK = "block_mask"  # bit i set: the pair came through blocking key of conjunction i


def left(name: str) -> str:
    return name + LEFT


def right(name: str) -> str:
    return name + RIGHT


# edges (record ids, directed source -> destination)
SRC = "src"
DST = "dst"
REASON = "reason"
SCORE = "score"
PRIORITY = "priority"  # smaller is stronger: transformations 0, rules by config order from 1

# graph (64-bit vertex ids)
VERTEX_ID = "id"
COMPONENT = "component"

# outputs
PROFILE_ID = "profile_id"
LINKED_BY = "linked_by"
RUN_ID = "run_id"

# quarantine
REASON_QUARANTINE = "reason"
RAW = "raw"

# records state (incremental runs)
IS_NEW = "is_new"  # the record arrived or changed in this run
RECORD_FINGERPRINT = "record_fingerprint"
LAST_RUN_ID = "last_run_id"
LAST_RUN_TS = "last_run_ts"
