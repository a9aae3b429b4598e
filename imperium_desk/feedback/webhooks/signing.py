"""Standard Webhooks signatures: `whsec_` secrets, and the `webhook-*` headers of one delivery attempt.

The signed content is `{id}.{timestamp}.{body}` and the signature `v1,<base64 HMAC-SHA256>` (standardwebhooks.com).
The timestamp is the attempt's, not the message's: receivers refuse timestamps far from their own clock, so a
retry an hour later is signed afresh while the id (what receivers deduplicate on) stays the same.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Final

SECRET_PREFIX: Final = "whsec_"
MIN_SECRET_BYTES: Final = 16  # below this an HMAC key is guessable
MAX_SECRET_BYTES: Final = 64  # HMAC-SHA256's block size: longer keys are hashed down anyway


def parse_secret(secret: str) -> bytes:
    """The key bytes of a `whsec_<base64>` secret, or ValueError saying what is wrong with it."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r} followed by base64 (got {_shown(secret)})")
    encoded = secret[len(SECRET_PREFIX):]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the part after {SECRET_PREFIX!r} is not base64 (got {_shown(secret)})") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"a webhook secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes of key, this one {len(key)}"
        )
    return key


def generate_secret(nbytes: int = 32) -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, b"%s.%d.%s" % (msg_id.encode(), timestamp, body), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, msg_id, timestamp, body),
    }


def _shown(secret: str) -> str:
    # Never echo a secret into an error message or a log: its first characters are enough to recognise it.
    return repr(secret[:8] + "...") if len(secret) > 8 else repr(secret)
