"""Alerts: a failed run or a measure's signal reaches the configured e-mail and webhook.

Every delivery here goes to a real server on 127.0.0.1 that the test starts and stops: an
aiosmtpd SMTP server (optionally offering STARTTLS with a certificate made for the test)
and an http.server webhook receiver. Nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import free_port, parse_table
from transforms.config import ConfigError, config_from_mapping
from transforms.operations.alerts import (
    Delivery,
    measures_signalled,
    run_failed,
    send,
    smtp_address,
    webhook_body,
)

RUN_ID = "2025-07-01T02-00-00"
ERROR = "lab_results.csv line 14, column collected_at: not a date"
FAILED = run_failed(RUN_ID, "validate", ERROR)

SIGNALS = parse_table("""
    measure           | month   | kind
    ------------------+---------+--------------------
    folate_before_b12 | 2025-06 | run_of_8_above
    b12_deficient     | 2025-06 | above_upper_limit
""")
SIGNALLED = measures_signalled(RUN_ID, SIGNALS, "runs/r1/shareable/report.html")

TEAM = ["qi-lead@example.org", "analyst@example.org"]


# --- servers -------------------------------------------------------------------------------


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: object
    over_tls: bool


@dataclass
class Mailbox:
    """An aiosmtpd handler: keeps each message, refuses the addresses in `refuse`."""

    refuse: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), message, session.ssl is not None)
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    """Starts SMTP servers on 127.0.0.1: start(refuse=..., tls_context=...) -> (port, mailbox)."""
    controllers = []

    def start(refuse=(), tls_context=None):
        mailbox = Mailbox(refuse=set(refuse))
        controller = Controller(
            mailbox, hostname="127.0.0.1", port=free_port(), tls_context=tls_context
        )
        controller.start()
        controllers.append(controller)
        return controller.port, mailbox

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def silent_port():
    """A port that accepts connections and never says a word.

    After 3 s it closes, resetting whoever still waits: a client with no timeout fails the
    test instead of hanging it.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    closer = threading.Timer(3, listener.close)
    closer.start()
    yield listener.getsockname()[1]
    closer.cancel()
    listener.close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    # A proxy set in the environment would stand between the client and the local server.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def email_to(port: int, recipients=TEAM) -> dict:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "email_from": "b12audit@example.org",
        "email_to": list(recipients),
    }


# --- a failed run ----------------------------------------------------------------------------


def test_a_failed_run_is_emailed_to_every_recipient_naming_the_run_stage_and_error(smtp_server):
    port, mailbox = smtp_server()

    assert send(email_to(port), FAILED) == [Delivery("email", True, "", f"127.0.0.1:{port}")]

    (mail,) = mailbox.received
    assert mail.sender == "b12audit@example.org"
    assert mail.recipients == TEAM
    assert mail.message["Subject"] == f"b12audit: run {RUN_ID} failed at stage validate"
    assert mail.message["To"] == "qi-lead@example.org, analyst@example.org"
    assert mail.message.get_content_type() == "text/plain"
    body = mail.message.get_content()
    assert RUN_ID in body and "validate" in body and ERROR in body


def test_a_failed_run_is_posted_to_the_webhook_as_json(webhook_server):
    hook = webhook_server()

    assert send({"webhook_url": hook.url}, FAILED) == [
        Delivery("webhook", True, "", hook.url.rsplit("/hooks", 1)[0])
    ]

    (post,) = hook.posts
    assert post == {
        "source": "b12audit",
        "kind": "run_failed",
        "run_id": RUN_ID,
        "stage": "validate",
        "error": ERROR,
        "subject": f"b12audit: run {RUN_ID} failed at stage validate",
        "text": FAILED.text,
    }
    assert hook.headers[0]["Content-Type"] == "application/json"


def test_a_run_that_failed_outside_any_stage_says_so_without_a_stage():
    alert = run_failed(RUN_ID, None, "ConfigError")
    assert alert.subject == f"b12audit: run {RUN_ID} failed"
    assert "stage" not in alert.text
    assert webhook_body(alert)["stage"] is None


# --- signals -------------------------------------------------------------------------------


def test_a_signal_alert_lists_each_measure_month_and_kind_by_email(smtp_server):
    port, mailbox = smtp_server()

    send(email_to(port), SIGNALLED)

    message = mailbox.received[0].message
    assert message["Subject"] == f"b12audit: run {RUN_ID}: 2 measure signal(s)"
    body = message.get_content()
    assert "- b12_deficient, 2025-06: above_upper_limit" in body
    assert "- folate_before_b12, 2025-06: run_of_8_above" in body
    assert "runs/r1/shareable/report.html" in body


def test_a_signal_alert_posts_the_signals_sorted_by_measure(webhook_server):
    hook = webhook_server()

    send({"webhook_url": hook.url}, SIGNALLED)

    (post,) = hook.posts
    assert (post["kind"], post["run_id"]) == ("measures_signalled", RUN_ID)
    assert post["report"] == "runs/r1/shareable/report.html"
    assert post["signals"] == [
        {"measure": "b12_deficient", "month": "2025-06", "kind": "above_upper_limit"},
        {"measure": "folate_before_b12", "month": "2025-06", "kind": "run_of_8_above"},
    ]


@pytest.mark.parametrize(
    "month", [dt.date(2025, 6, 1), "2025-06-01", "2025-06", dt.datetime(2025, 6, 1)]
)
def test_a_month_given_as_a_date_is_shown_as_year_and_month(month):
    alert = measures_signalled(
        "r", [{"measure": "b12_deficient", "month": month, "kind": "k"}], None
    )
    assert alert.payload["signals"][0]["month"] == "2025-06"
    assert "Report: (not written)" in alert.text


@dataclass(frozen=True)
class Signal:  # the shape of transforms.outputs.spc.Signal
    measure: str
    month: dt.date
    kind: str


def test_signals_may_be_objects_with_measure_month_and_kind():
    alert = measures_signalled(
        "r", [Signal("b12_deficient", dt.date(2025, 6, 1), "above_upper_limit")], None
    )
    assert alert.payload["signals"] == [
        {"measure": "b12_deficient", "month": "2025-06", "kind": "above_upper_limit"}
    ]


def test_an_alert_with_no_signals_is_a_mistake_of_the_caller():
    with pytest.raises(ValueError, match="at least one signal"):
        measures_signalled(RUN_ID, [], None)


SECRET = "p-000123-Smith"  # stands for anything from the data a caller might pass along


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "measure": st.sampled_from(["b12_deficient", "folate_before_b12"]),
                "month": st.sampled_from(["2025-05", "2025-06"]),
                "kind": st.sampled_from(["above_upper_limit", "below_lower_limit"]),
                "numerator": st.integers(0, 50),
                "patients": st.just([SECRET]),
            }
        ),
        min_size=1,
        max_size=6,
    )
)
def test_a_signal_alert_carries_measure_month_and_kind_and_nothing_else(signals):
    alert = measures_signalled(RUN_ID, signals, "report.html")

    reference = sorted((s["measure"], s["month"], s["kind"]) for s in signals)
    assert [tuple(s.values()) for s in alert.payload["signals"]] == reference
    assert all(set(s) == {"measure", "month", "kind"} for s in alert.payload["signals"])
    everything = alert.subject + alert.text + json.dumps(webhook_body(alert))
    assert SECRET not in everything and "numerator" not in everything


# --- both channels, and channels that fail ---------------------------------------------------


def test_with_both_channels_configured_both_are_told(smtp_server, webhook_server):
    port, mailbox = smtp_server()
    hook = webhook_server()

    deliveries = send({**email_to(port), "webhook_url": hook.url}, FAILED)

    assert [(d.channel, d.ok) for d in deliveries] == [("email", True), ("webhook", True)]
    assert len(mailbox.received) == 1 and len(hook.posts) == 1


def test_a_webhook_answering_500_fails_its_delivery_and_the_email_still_goes(
    smtp_server, webhook_server
):
    port, mailbox = smtp_server()
    hook = webhook_server(status=500)

    email, webhook = send({**email_to(port), "webhook_url": hook.url}, FAILED)

    assert email.ok and len(mailbox.received) == 1
    assert not webhook.ok and len(hook.posts) == 1
    assert webhook.error == "HTTPError: HTTP 500 Internal Server Error"


@pytest.mark.parametrize(
    ("status", "ok"),
    [(200, True), (204, True), (299, True), (300, False), (302, False), (404, False)],
)
def test_only_a_2xx_answer_is_a_delivery_and_a_redirect_is_not_followed(webhook_server, status, ok):
    hook = webhook_server(status=status)

    (delivery,) = send({"webhook_url": hook.url}, FAILED)

    assert delivery.ok is ok
    assert (delivery.error.startswith(f"HTTPError: HTTP {status}")) is not ok
    assert hook.gets == 0


def test_a_failed_webhook_error_names_neither_the_url_path_nor_the_alert(webhook_server):
    hook = webhook_server(status=403, path="/hooks/T000/B000/XXXXSECRETTOKEN?key=abc")

    (delivery,) = send({"webhook_url": hook.url}, FAILED)

    assert not delivery.ok
    shown = delivery.error + delivery.target
    assert "SECRETTOKEN" not in shown and "key=abc" not in shown
    assert RUN_ID not in shown and ERROR not in shown


def test_with_nothing_listening_both_deliveries_fail_with_a_clear_error_and_nothing_raises():
    dead = free_port()
    config = {**email_to(dead), "webhook_url": f"http://127.0.0.1:{dead}/hook"}

    deliveries = send(config, FAILED)

    assert [(d.channel, d.ok) for d in deliveries] == [("email", False), ("webhook", False)]
    assert all(d.error.startswith("ConnectionRefusedError: ") for d in deliveries)
    assert all(d.target.endswith(f"127.0.0.1:{dead}") for d in deliveries)


def test_a_server_that_never_answers_fails_the_delivery_after_the_timeout(silent_port):
    config = {**email_to(silent_port), "webhook_url": f"http://127.0.0.1:{silent_port}/hook"}

    started = time.monotonic()
    deliveries = send(config, FAILED, timeout_s=0.3)

    assert [(d.channel, d.ok) for d in deliveries] == [("email", False), ("webhook", False)]
    assert all(d.error.endswith("timed out") for d in deliveries)
    assert time.monotonic() - started < 2


def test_an_smtp_server_refusing_the_only_recipient_fails_the_delivery(smtp_server):
    port, mailbox = smtp_server(refuse={"qi-lead@example.org"})

    (delivery,) = send(email_to(port, ["qi-lead@example.org"]), FAILED)

    assert not delivery.ok
    assert delivery.error.startswith("SMTPRecipientsRefused: ")
    assert "550" in delivery.error
    assert mailbox.received == []


def test_an_smtp_server_refusing_one_of_two_recipients_fails_the_delivery(smtp_server):
    port, mailbox = smtp_server(refuse={"analyst@example.org"})

    (delivery,) = send(email_to(port), FAILED)

    assert not delivery.ok and "analyst@example.org" in delivery.error
    assert [m.recipients for m in mailbox.received] == [["qi-lead@example.org"]]


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"smtp_host": "", "email_from": "a@example.org", "email_to": TEAM}, "ValueError: e-mail"),
        ({"smtp_host": "127.0.0.1", "email_to": TEAM}, "ValueError: e-mail alerts need all"),
        ({"webhook_url": "http://"}, "URLError: no host given"),
        ({"webhook_url": "file:///etc/passwd"}, "ValueError: webhook_url must be an http"),
    ],
)
def test_an_incomplete_channel_fails_its_delivery_rather_than_being_skipped(config, error):
    (delivery,) = send(config, FAILED)
    assert not delivery.ok and delivery.error.startswith(error)


def test_without_alerts_configured_nothing_is_sent():
    assert send({}, FAILED) == []
    assert send(config_from_mapping({}).alerts, SIGNALLED) == []


def test_the_smtp_port_defaults_to_25():
    assert smtp_address({"smtp_host": "mail.example.org"}) == ("mail.example.org", 25)
    assert smtp_address({"smtp_host": "mail.example.org", "smtp_port": 587}) == (
        "mail.example.org",
        587,
    )


# --- STARTTLS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A test CA and a certificate it signed for 127.0.0.1: (ca.pem, server context)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)

    def certificate(subject, key, issuer, issuer_key, *, ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            address = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
            builder = builder.add_extension(x509.SubjectAlternativeName([address]), False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_cert = certificate("b12audit test CA", ca_key, "b12audit test CA", ca_key, ca=True)
    server_cert = certificate("127.0.0.1", server_key, "b12audit test CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (folder / "server.pem").write_bytes(server_cert.public_bytes(pem))
    (folder / "server.key").write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return folder / "ca.pem", context


def test_a_server_offering_starttls_gets_the_alert_encrypted(
    smtp_server, certificates, monkeypatch
):
    ca_file, server_context = certificates
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the client trusts the test CA
    port, mailbox = smtp_server(tls_context=server_context)

    (delivery,) = send(email_to(port), FAILED)

    assert delivery.ok, delivery.error
    assert [m.over_tls for m in mailbox.received] == [True]


def test_a_server_without_starttls_gets_plain_smtp(smtp_server):
    port, mailbox = smtp_server()

    send(email_to(port), FAILED)

    assert [m.over_tls for m in mailbox.received] == [False]


def test_a_starttls_certificate_that_does_not_verify_fails_the_delivery_unsent(
    smtp_server, certificates
):
    _, server_context = certificates  # the client does not trust the test CA
    port, mailbox = smtp_server(tls_context=server_context)

    (delivery,) = send(email_to(port), FAILED)

    assert not delivery.ok and delivery.error.startswith("SSLCertVerificationError: ")
    assert mailbox.received == []


# --- the [alerts] configuration --------------------------------------------------------------

EMAIL = {"smtp_host": "mail.example.org", "email_from": "a@example.org", "email_to": TEAM}


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ({**EMAIL, "smtp_user": "x"}, "alerts: unknown key 'smtp_user'"),
        ({"email_from": "a@example.org", "email_to": TEAM}, "e-mail alerts need all of"),
        ({"smtp_host": "mail.example.org"}, "e-mail alerts need all of"),
        ({**EMAIL, "email_to": []}, "e-mail alerts need all of"),
        ({**EMAIL, "email_to": "qi@example.org"}, "alerts.email_to must be a list"),
        ({**EMAIL, "email_to": ["not an address"]}, "email_to must be e-mail addresses"),
        ({**EMAIL, "email_to": ["qi@example.org\r\nBcc: x@y.org"]}, "must be e-mail addresses"),
        ({**EMAIL, "email_from": "nobody"}, "email_from and email_to must be e-mail addresses"),
        ({**EMAIL, "smtp_host": " "}, "smtp_host must not be empty"),
        ({"smtp_port": 2525}, "e-mail alerts need all of"),
        ({"webhook_url": "ftp://hooks.example.org/x"}, "must be an http:// or https:// address"),
        ({"webhook_url": "file:///etc/passwd"}, "must be an http:// or https:// address"),
        ({"webhook_url": "http://"}, "must be an http:// or https:// address"),
        ({**EMAIL, "smtp_port": 0}, "smtp_port must be from 1 to 65535, got 0"),
        ({**EMAIL, "smtp_port": 65_536}, "smtp_port must be from 1 to 65535, got 65536"),
        ({**EMAIL, "smtp_port": "25"}, "smtp_port must be a whole number"),
        ({**EMAIL, "smtp_port": True}, "smtp_port must be a whole number"),
        ("mail.example.org", "alerts must be a table"),
        ({"prefect_blocks": "slack-webhook/qi"}, "prefect_blocks must be a list"),
        ({"prefect_blocks": ["qi-team"]}, "each must be a block's type and name"),
        ({"prefect_blocks": ["slack-webhook/"]}, "each must be a block's type and name"),
    ],
)
def test_a_bad_alerts_table_stops_the_run_naming_the_key(alerts, message):
    with pytest.raises(ConfigError, match=message):
        config_from_mapping({"alerts": alerts})


@pytest.mark.parametrize(
    "alerts",
    [
        {},
        {**EMAIL, "smtp_port": 1},
        {**EMAIL, "smtp_port": 65_535},
        EMAIL,
        {"webhook_url": "https://hooks.example.org/b12audit"},
        {**EMAIL, "webhook_url": "http://127.0.0.1:8080/hook"},
        {"prefect_blocks": ["slack-webhook/qi-team", "microsoft-teams-webhook/haematology"]},
    ],
)
def test_a_good_alerts_table_is_kept_as_given(alerts):
    assert config_from_mapping({"alerts": alerts}).alerts == alerts


def test_an_upper_case_https_webhook_is_accepted():
    assert config_from_mapping({"alerts": {"webhook_url": "HTTPS://hooks.example.org/x"}}).alerts


def test_the_report_and_manifest_describe_the_channels_without_addresses_or_secrets():
    settings = {**EMAIL, "webhook_url": "https://hooks.example.org/T0K3N/secret"}
    records = config_from_mapping({"alerts": settings}).as_records()
    shown = next(r["value"] for r in records if r["key"] == "alerts")
    assert shown == (
        f"e-mail through mail.example.org to {len(TEAM)} recipient(s); webhook to hooks.example.org"
    )
    assert "T0K3N" not in str(records) and "a@example.org" not in str(records)
