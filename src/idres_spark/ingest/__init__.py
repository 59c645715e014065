"""Ingest phase: read the sources and normalize their identifiers."""
