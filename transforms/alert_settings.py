"""The `[alerts]` table of the audit configuration: checked when the configuration loads
(a bad one stops the run before any data is read) and described without its addresses."""

from __future__ import annotations

from urllib.parse import urlsplit

from transforms.errors import ConfigError

# [alerts]: an e-mail through an SMTP server, a webhook, Prefect notification blocks, or
# any of them together.
ALERT_KEYS = {
    "smtp_host": (str, "text"),
    "smtp_port": (int, "whole number"),
    "email_from": (str, "text"),
    "email_to": (list, "list of e-mail addresses"),
    "webhook_url": (str, "text"),
    # Notification blocks saved on the Prefect server (e-mail, Microsoft Teams, Slack, a
    # webhook...), named as the Prefect UI shows them: "<block type>/<block name>".
    "prefect_blocks": (list, 'list of Prefect block names such as "slack-webhook/qi-team"'),
}
EMAIL_KEYS = ("smtp_host", "email_from", "email_to")


def check(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table ([alerts])")
    for key, item in value.items():
        if key not in ALERT_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}; allowed: {', '.join(ALERT_KEYS)}")
        kind, described = ALERT_KEYS[key]
        if not isinstance(item, kind) or isinstance(item, bool):
            raise ConfigError(f"{where}.{key} must be a {described}, got {item!r}")
    if "smtp_port" in value and not 1 <= value["smtp_port"] <= 65_535:
        raise ConfigError(f"{where}.smtp_port must be from 1 to 65535, got {value['smtp_port']}")
    addresses = [
        *value.get("email_to", []),
        *([value["email_from"]] if "email_from" in value else []),
    ]
    if not all(_is_address(a) for a in addresses):
        raise ConfigError(f"{where}: email_from and email_to must be e-mail addresses")
    given = [k for k in EMAIL_KEYS if k in value]
    needs_email = given or "smtp_port" in value
    if (needs_email and len(given) < len(EMAIL_KEYS)) or value.get("email_to") == []:
        raise ConfigError(f"{where}: e-mail alerts need all of {', '.join(EMAIL_KEYS)}")
    if "smtp_host" in value and not str(value["smtp_host"]).strip():
        raise ConfigError(f"{where}.smtp_host must not be empty")
    for name in value.get("prefect_blocks", []):
        if not isinstance(name, str) or name.count("/") != 1 or not all(name.split("/")):
            raise ConfigError(
                f"{where}.prefect_blocks: each must be a block's type and name, such as "
                f'"slack-webhook/qi-team"; got {name!r}'
            )
    if "webhook_url" in value:
        url = urlsplit(str(value["webhook_url"]))
        if url.scheme.lower() not in ("http", "https") or not url.hostname:
            raise ConfigError(f"{where}.webhook_url must be an http:// or https:// address")
    return dict(value)


def _is_address(text: object) -> bool:
    """Something@somewhere with no spaces or control characters (a header injection)."""
    if not isinstance(text, str) or text.count("@") != 1:
        return False
    return all(ch.isprintable() and not ch.isspace() for ch in text)


def describe(alerts: dict[str, object]) -> str:
    """The channels for the report and manifest: no addresses, no URL path (a secret)."""
    channels = []
    if "smtp_host" in alerts:
        recipients = len(alerts.get("email_to", []))
        channels.append(f"e-mail through {alerts['smtp_host']} to {recipients} recipient(s)")
    if "webhook_url" in alerts:
        channels.append(f"webhook to {urlsplit(str(alerts['webhook_url'])).hostname}")
    if alerts.get("prefect_blocks"):
        channels.append(f"Prefect notification blocks {', '.join(alerts['prefect_blocks'])}")
    return "; ".join(channels) or "(none)"
