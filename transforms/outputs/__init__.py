"""Outputs: what a run writes from its findings and populations.

The report and its charts, summary counts, measures and SPC charts, disclosure
control, the worklist, the re-audit diff and the generated documentation tables.
May import: transforms.rules, transforms.inputs and the shared modules, schemas.
"""
