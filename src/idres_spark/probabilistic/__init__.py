"""Probabilistic matching: Fellegi-Sunter weights trained without labels, applied between the
groups the rules form (docs/probabilistic.md).

``settings`` holds the ``probabilistic:`` section, ``comparisons`` the comparison levels as
Spark expressions, ``em`` the expectation-maximisation on the driver, ``train`` the model's
estimation, ``model`` its JSON form, and ``link`` the scoring, vetoes and group merges.
"""
