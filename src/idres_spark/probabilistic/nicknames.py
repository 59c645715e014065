"""Common English given-name variants -> one key per name (``bob`` and ``robert`` -> ``robert``).

Compiled from the usual diminutive lists; a name in two families keeps its first. Users with
other naming traditions add a custom comparison instead.
"""

from __future__ import annotations

_FAMILIES = {
    "robert": "rob bob bobby robbie bert", "william": "will bill billy willie liam",
    "richard": "rick ricky dick rich richie", "james": "jim jimmy jamie", "john": "jack johnny jon",
    "michael": "mike mikey mick", "elizabeth": "liz beth betty lizzie eliza libby betsy",
    "katherine": "kate katie kathy kat catherine kathryn cathy",
    "margaret": "maggie meg peggy marge",
    "thomas": "tom tommy", "joseph": "joe joey", "charles": "charlie chuck chas",
    "christopher": "chris kit", "daniel": "dan danny", "matthew": "matt", "anthony": "tony",
    "andrew": "andy drew", "joshua": "josh", "nicholas": "nick nicky", "jonathan": "jon jonny",
    "benjamin": "ben benny", "samuel": "sam sammy", "alexander": "alex xander sandy",
    "edward": "ed eddie ted ned", "steven": "steve stephen", "timothy": "tim timmy",
    "patrick": "pat paddy", "gregory": "greg", "jeffrey": "jeff geoffrey", "kenneth": "ken kenny",
    "ronald": "ron ronnie", "donald": "don donnie", "raymond": "ray", "lawrence": "larry",
    "gerald": "jerry", "peter": "pete", "frederick": "fred freddie", "henry": "hank harry",
    "francis": "frank frankie", "albert": "al", "zachary": "zach zack", "nathaniel": "nate nathan",
    "jennifer": "jen jenny", "jessica": "jess jessie", "rebecca": "becky becca",
    "deborah": "deb debbie", "susan": "sue susie suzanne", "patricia": "patty trish tricia",
    "barbara": "barb", "victoria": "vicky tori", "christina": "chris tina christine",
    "samantha": "sam sammie", "alexandra": "alex lexi sasha", "abigail": "abby",
    "jacqueline": "jackie", "pamela": "pam", "kimberly": "kim", "cynthia": "cindy",
    "theresa": "terry tess teresa", "dorothy": "dot dottie", "judith": "judy",
    "frances": "fran", "angela": "angie", "melissa": "mel missy", "stephanie": "steph",
    "valerie": "val", "virginia": "ginny", "eleanor": "ellie nora", "gabriel": "gabe",
    "gabrielle": "gabby", "isabella": "bella izzy isabel", "madeline": "maddie",
    "allison": "ally allie", "natalie": "nat", "cameron": "cam", "maximilian": "max",
}  # fmt: skip


def nickname_keys() -> dict[str, str]:
    """Every variant (and each family's name) -> the family's name."""
    keys: dict[str, str] = {}
    for name, variants in _FAMILIES.items():
        for variant in (name, *variants.split()):
            keys.setdefault(variant, name)
    return keys
