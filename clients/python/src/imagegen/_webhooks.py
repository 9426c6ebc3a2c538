"""Standard Webhooks v1 (symmetric) verification, as the service signs its deliveries."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from typing import Any, Mapping, Optional, Union

from ._errors import WebhookVerificationError
from ._models import APIObject

SECRET_PREFIX = "whsec_"
_SECRET = re.compile(r"^whsec_([A-Za-z0-9+/]{32,88}={0,2})$")
_TIMESTAMP = re.compile(r"^\d{1,12}$")


def _secret_key(secret: str) -> bytes:
    m = _SECRET.match(secret or "")
    key = b""
    if m:
        try:
            key = base64.b64decode(m.group(1), validate=True)
        except (binascii.Error, ValueError):
            key = b""
    if not 24 <= len(key) <= 64:
        raise WebhookVerificationError(
            'a webhook secret must be "whsec_" followed by 24 to 64 bytes in base64'
        )
    return key


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: Union[str, bytes]) -> str:
    """The ``v1,<base64>`` signature of one delivery: HMAC-SHA256 of ``id.timestamp.body`` keyed with the
    base64-decoded part of the ``whsec_`` secret."""
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    signed = f"{msg_id}.{timestamp}.".encode("utf-8") + raw
    mac = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def _header(headers: Any, name: str) -> Optional[str]:
    # http.server / http.client / email messages, Django/Flask/Starlette headers: case-insensitive .get
    getter = getattr(headers, "get", None)
    if getter is not None and not isinstance(headers, dict):
        value = getter(name)
        if value is not None:
            return value if isinstance(value, str) else str(value)
    items = getattr(headers, "items", None)
    for k, v in items() if items is not None else ():
        if str(k).lower() == name:
            if isinstance(v, (list, tuple)):
                return str(v[0]) if v else None
            return v if isinstance(v, str) else (v.decode("latin-1") if isinstance(v, bytes) else str(v))
    return None


def verify_webhook(
    headers: Union[Mapping[str, Any], Any],
    body: Union[str, bytes],
    secret: str,
    *,
    tolerance: int = 300,
    now: Optional[float] = None,
) -> APIObject:
    """Verifies one delivery and returns its parsed body (``{"type", "timestamp", "data"}``).

    ``headers`` are the request's headers (any mapping, or an object with a case-insensitive ``get``);
    ``body`` the raw bytes received, before any JSON parsing; ``secret`` the key's ``whsec_…`` secret.
    One of the space-separated ``v1`` signatures must match (compared in constant time) and
    ``webhook-timestamp`` must be within ``tolerance`` seconds of ``now`` (default: the current time).
    Raises WebhookVerificationError otherwise. Deduplicate on the ``webhook-id`` header: retries of one
    event carry the same id."""
    msg_id = _header(headers, "webhook-id")
    ts = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not msg_id or not ts or not signatures:
        raise WebhookVerificationError(
            "missing webhook-id, webhook-timestamp or webhook-signature header"
        )
    if not _TIMESTAMP.match(ts):
        raise WebhookVerificationError("webhook-timestamp is not a Unix time")
    timestamp = int(ts)
    current = int(time.time() if now is None else now)
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError(f"webhook-timestamp is more than {tolerance} s from now")
    expected = base64.b64decode(sign_webhook(secret, msg_id, timestamp, body)[3:])
    ok = False
    for entry in signatures.split(" "):
        version, _, value = entry.partition(",")
        if version != "v1" or not value:
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Every entry is compared, so the time taken does not depend on which one matched.
        ok = hmac.compare_digest(given, expected) or ok
    if not ok:
        raise WebhookVerificationError("no webhook-signature matches this secret")
    text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
    try:
        return json.loads(text, object_hook=APIObject)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None
