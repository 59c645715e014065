"""idres-spark: customer identity resolution as a PySpark batch job."""

__version__ = "0.1.0"
