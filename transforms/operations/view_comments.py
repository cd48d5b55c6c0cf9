"""Column comments for the analysts' views and the exact measures, so each column explains
itself in any client (the views over a commented table take its comments)."""

from __future__ import annotations

MEASURE_COLUMNS = {
    "measure": "The finding measured (finding_definitions.finding; its label is there).",
    "period": "month or quarter (a quarter where monthly denominators are small).",
    "interval_start": "The period's first day.",
    "interval_end": "The period's last day (inclusive).",
    "site": "A site, '(no site)' when unknown, or 'all sites'.",
    "numerator": "Units of the finding's population in the period that have the finding.",
    "denominator": "Units of the population in the period whose outcome is known.",
    "pending": "Units whose window is still open: in neither numerator nor denominator.",
    "ratio": "numerator / denominator (NULL when the denominator is 0).",
    "status": "complete, incomplete or not evaluable: only complete periods are judged.",
    "status_reason": "Why a period is incomplete or not evaluable, with the date or count.",
}
TIMELINE_COLUMNS = {
    "patient_id": "Patient identifier (patient-level).",
    "event_at": "When: a lab result's collection, a medication event, a diagnosis record.",
    "source": "lab, medication or diagnosis.",
    "lane": "Where the row sits on the axis: B12, MMA, Homocysteine, Hb, MCV, Folate, "
    "B12 treatment or Diagnoses.",
    "item": "The analyte, or the drug or code as the extract gave it.",
    "comparator": "A lab result's comparator (=, <, <=, >, >=).",
    "value": "A lab result's value in the canonical unit (NULL when it has none).",
    "unit": "The canonical unit of value.",
    "detail": "The result's status, the event type and route kind with the drug class, or "
    "the concept list.",
    "row_id": "The extract row (file:line), as the findings' evidence names rows.",
}
SINCE_PREVIOUS_RUN = (
    "For the finding's unit against the previous run: newly_flagged or still_flagged "
    "(empty for a first run, and for rows still waiting on their window)."
)
# view -> (the table whose column comments it takes, its own comments)
VIEW_COLUMNS = {
    "findings_current": ("findings", {"since_previous_run": SINCE_PREVIOUS_RUN}),
    "measures": ("measure_counts", MEASURE_COLUMNS),
    "worklist": ("worklist_items", {}),
    "runs": ("run_log", {}),
    "patient_timeline": (None, TIMELINE_COLUMNS),
}
