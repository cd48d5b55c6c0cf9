"""Inputs: a source folder in, canonical tables and quarantine out.

Adapters (one per source format) expose each file to DuckDB in place; validation streams
it through its Pandera schema, loading passing rows and quarantining the rest.
May import: the shared modules (transforms.config, .database, .errors, .sqlfiles), schemas.
"""
