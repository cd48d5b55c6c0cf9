"""Alerts: tell the configured channel when a run fails or a care-gap measure shows
special cause concern.

Two channels, configured in the `[alerts]` table (transforms/alert_settings.py): an e-mail through
an SMTP server (plain SMTP, upgraded with STARTTLS whenever the server offers it) and a
webhook (a JSON POST). An alert carries the run id, the stage and the flow's error summary
(already free of patient data), or the signals' measure, month and kind; nothing else from
the data ever goes into one. Sending never raises: a broken channel must neither turn a
successful audit into a failed one nor hide the failure being reported, so each channel's
outcome comes back as a `Delivery` for the caller to log.
"""

from __future__ import annotations

import datetime as dt
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import urlsplit

from transforms.alert_settings import EMAIL_KEYS

DEFAULT_SMTP_PORT = 25
SUBJECT_PREFIX = "b12audit: "
SIGNAL_FIELDS = ("measure", "month", "kind")

# Server replies can be long; a log line needs the gist.
ERROR_TEXT_MAX_CHARS = 300


@dataclass(frozen=True)
class Alert:
    kind: str  # "run_failed" or "measures_signalled"
    subject: str
    text: str
    payload: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    channel: str  # "email" or "webhook"
    ok: bool
    error: str = ""  # exception class and message; never the alert's content
    target: str = ""  # SMTP host:port, or the webhook's scheme://host:port (no path: may be secret)


def run_failed(run_id: str, stage_or_none: str | None, error_summary: str) -> Alert:
    """The alert for a failed run; `error_summary` must already be free of patient data."""
    where = f" at stage {stage_or_none}" if stage_or_none else ""
    text = (
        f"The b12audit run {run_id} failed{where}.\n\n"
        f"Error: {error_summary.strip()}\n\n"
        "The run's log has the details."
    )
    return Alert(
        kind="run_failed",
        subject=_subject(f"run {run_id} failed{where}"),
        text=text,
        payload={"run_id": run_id, "stage": stage_or_none, "error": error_summary.strip()},
    )


def measures_signalled(run_id: str, signals: list[dict], report_path: Path | str | None) -> Alert:
    """The alert for care-gap measures with special cause concern on their latest complete
    period (transforms/operations/stages.py `latest_signals` chooses them).

    A signal is a dict or an object (transforms.outputs.spc.Signal) with measure, month and kind;
    only those three are read: anything else a caller passes (a count, a patient) is
    dropped, so it can never reach an alert. A month given as a date shows as YYYY-MM.
    """
    if not signals:
        raise ValueError("measures_signalled needs at least one signal")
    kept = sorted(
        ({name: _signal_field(signal, name) for name in SIGNAL_FIELDS} for signal in signals),
        key=lambda s: tuple(s.values()),
    )
    lines = [f"- {s['measure']}, {s['month']}: {s['kind']}" for s in kept]
    report = str(report_path) if report_path is not None else None
    text = (
        f"The b12audit run {run_id} found special cause concern ({len(kept)} signal(s)) on "
        "the latest complete period of its care-gap measures (SPC charts):\n\n"
        + "\n".join(lines)
        + "\n\n"
        f"Report: {report or '(not written)'}"
    )
    return Alert(
        kind="measures_signalled",
        subject=_subject(f"run {run_id}: {len(kept)} measure signal(s)"),
        text=text,
        payload={"run_id": run_id, "signals": kept, "report": report},
    )


def send(alerts_config: dict, alert: Alert, timeout_s: float = 10) -> list[Delivery]:
    """Tells every configured channel; one Delivery per channel, [] when none is configured.

    Never raises for a channel's failure (refused connection, timeout, TLS, SMTP or HTTP
    error): that channel's Delivery has ok=False and the error.
    """
    deliveries = []
    # A channel with any of its keys is attempted: an incomplete one fails visibly rather
    # than being skipped in silence.
    if any(key in alerts_config for key in EMAIL_KEYS):
        host, port = smtp_address(alerts_config)
        deliveries.append(
            _attempt("email", f"{host}:{port}", lambda: _email(alerts_config, alert, timeout_s))
        )
    if "webhook_url" in alerts_config:
        url = alerts_config["webhook_url"]
        deliveries.append(
            _attempt("webhook", _url_origin(url), lambda: _post(url, alert, timeout_s))
        )
    return deliveries


def smtp_address(alerts_config: dict) -> tuple[str, int]:
    return alerts_config.get("smtp_host", ""), alerts_config.get("smtp_port", DEFAULT_SMTP_PORT)


def webhook_body(alert: Alert) -> dict:
    """The JSON object POSTed: the payload plus the alert's own keys (which win)."""
    return {
        **alert.payload,
        "source": "b12audit",
        "kind": alert.kind,
        "subject": alert.subject,
        "text": alert.text,
    }


def _attempt(channel: str, target: str, deliver: Callable[[], None]) -> Delivery:
    try:
        deliver()
    except Exception as exc:  # any failure of one channel is reported, never raised
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # it holds the open response
        return Delivery(channel, ok=False, error=error_text(exc), target=target)
    return Delivery(channel, ok=True, target=target)


def _email(alerts_config: dict, alert: Alert, timeout_s: float) -> None:
    if not all(alerts_config.get(key) for key in EMAIL_KEYS):
        raise ValueError(f"e-mail alerts need all of {', '.join(EMAIL_KEYS)}")
    host, port = smtp_address(alerts_config)
    message = _email_message(alerts_config["email_from"], alerts_config["email_to"], alert)
    with smtplib.SMTP(host, port, timeout=timeout_s) as smtp:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            # Verified against the system's CAs: a server whose certificate does not check
            # out fails the delivery rather than receiving the alert in the clear.
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        refused = smtp.send_message(message)
    if refused:  # some recipients accepted, others not: someone configured was not told
        raise smtplib.SMTPRecipientsRefused(refused)


def _email_message(sender: str, recipients: list[str], alert: Alert) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(alert.text)
    return message


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would follow a redirect of a POST as a GET without the body and call it a
    success; a webhook that redirects is a failed delivery instead (a 3xx is not 2xx)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _post(url: str, alert: Alert, timeout_s: float) -> None:
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ValueError("webhook_url must be an http:// or https:// URL")
    request = urllib.request.Request(
        url,
        data=json.dumps(webhook_body(alert), default=str).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "b12audit"},
        method="POST",
    )
    opener = urllib.request.build_opener(_NoRedirects)
    with opener.open(request, timeout=timeout_s) as response:
        if not 200 <= response.status < 300:  # 1xx never gets here; 2xx other than 200 does
            raise urllib.error.HTTPError(url, response.status, response.reason, None, None)


def error_text(exc: Exception) -> str:
    # urllib wraps socket errors ("<urlopen error [Errno 111] ...>"): name the real one.
    if isinstance(exc, urllib.error.HTTPError):
        # The status only: never the response body or the URL.
        text = f"HTTPError: HTTP {exc.code} {exc.reason}"
    elif isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, Exception):
        text = error_text(exc.reason)
    elif isinstance(exc, urllib.error.URLError):
        text = f"URLError: {exc.reason}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:ERROR_TEXT_MAX_CHARS]


def _url_origin(url: str) -> str:
    """scheme://host:port only: webhook paths and queries often carry a secret token."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or ''}{port}"
    except ValueError:  # an unparseable port
        return "(unparseable URL)"


def _subject(words: str) -> str:
    # One line: a newline in a header would be refused by the e-mail library.
    return SUBJECT_PREFIX + " ".join(words.split())


def _signal_field(signal: Mapping | object, name: str) -> str:
    value = signal[name] if isinstance(signal, Mapping) else getattr(signal, name)
    if name == "month" and isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return value  # already "2025-06", or another label: shown as given
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m")  # the measures are monthly
    return str(value)
