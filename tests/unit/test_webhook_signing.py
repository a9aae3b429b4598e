"""Standard Webhooks signing: our signer against the reference verifier, and the `whsec_` secret form."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from imperium_desk.feedback.webhooks.signing import generate_secret, parse_secret, signature, signed_headers

BODY = b'{"type":"fill","timestamp":"2026-11-23T03:45:00Z","data":{"seq":7}}'


def test_signed_headers_verify_with_the_standardwebhooks_package() -> None:
    secret = generate_secret()
    headers = signed_headers(parse_secret(secret), "msg_desk_7", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, headers) == {"type": "fill", "timestamp": "2026-11-23T03:45:00Z",
                                                     "data": {"seq": 7}}


def test_a_changed_body_fails_verification() -> None:
    secret = generate_secret()
    headers = signed_headers(parse_secret(secret), "msg_desk_7", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"7", b"8"), headers)


def test_signature_matches_the_reference_for_a_known_secret() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    when = datetime.fromtimestamp(1614265330, UTC)
    expected = Webhook(secret).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", when, BODY.decode())
    assert signature(parse_secret(secret), "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, BODY) == expected


def test_generated_secret_has_the_whsec_form_and_32_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with 'whsec_'"),
        ("whsec_not base64!!", "not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "16 to 64 bytes"),
    ],
)
def test_malformed_secret_is_refused_saying_why(secret: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_secret(secret)


def test_refusal_never_echoes_the_whole_secret() -> None:
    secret = "whsec_" + base64.b64encode(b"short-but-secret").decode()[:-2] + "*"
    with pytest.raises(ValueError) as refused:
        parse_secret(secret)
    assert secret not in str(refused.value)
