"""Operations: one run from start to published database, and what surrounds it.

The run sequence (shared by the one-off flow, the scheduled flow and the tests), the
stages it calls, the history of a drop folder, alerts, the manifest and publishing.
May import: every other room and the shared modules, schemas.
"""
