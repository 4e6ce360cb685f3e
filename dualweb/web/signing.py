"""Signed values: tamper-proof, timestamped strings for cookies and tokens.

A signed value carries a name, a timestamp and a payload, authenticated with
an HMAC keyed by the application's ``cookie_secret``. The wire formats are
the ones Tornado uses, so values signed by a Tornado application verify here
and the other way round (a ported application keeps its users logged in):

* **version 2** (the default)::

      2|1:<key_version>|<len>:<timestamp>|<len>:<name>|<len>:<base64 value>|<hmac>

  every field is length-prefixed (decimal byte count, colon, bytes) and the
  signature is the hex HMAC-SHA256 of everything before it, including the
  trailing ``|``. ``key_version`` selects the secret when ``cookie_secret``
  is a dict, which allows rotating keys without invalidating old cookies.

* **version 1** (legacy, read for compatibility)::

      <base64 value>|<timestamp>|<hmac>

  with a hex HMAC-SHA1 over the name, the base64 value and the timestamp
  concatenated. Because the concatenation has no separators, a timestamp
  with a leading zero is rejected (it could hide digits moved out of the
  value).

Decoding never raises for bad input: a tampered, expired, future-dated,
misnamed or malformed value, or one signed with an unknown key version,
decodes to ``None``. Only programming mistakes (an unsupported version, a
dict of secrets without a key version) raise ``ValueError``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Callable, Mapping
from typing import TypeAlias

__all__ = [
    "DEFAULT_SIGNED_VALUE_MIN_VERSION",
    "DEFAULT_SIGNED_VALUE_VERSION",
    "MAX_SUPPORTED_SIGNED_VALUE_VERSION",
    "MIN_SUPPORTED_SIGNED_VALUE_VERSION",
    "SecretType",
    "create_signed_value",
    "decode_signed_value",
    "get_signature_key_version",
]

#: The oldest signed value format this module reads.
MIN_SUPPORTED_SIGNED_VALUE_VERSION = 1

#: The newest signed value format this module reads and writes.
MAX_SUPPORTED_SIGNED_VALUE_VERSION = 2

#: The format :func:`create_signed_value` produces when no version is given.
DEFAULT_SIGNED_VALUE_VERSION = 2

#: The oldest format :func:`decode_signed_value` accepts when no ``min_version`` is given.
DEFAULT_SIGNED_VALUE_MIN_VERSION = 1

#: A signing secret: one key, or a dict mapping key versions to keys.
SecretType: TypeAlias = "str | bytes | Mapping[int, str | bytes]"

_SECONDS_PER_DAY = 86400
# A value dated further ahead than this was not produced by a sane clock.
_MAX_FUTURE_SECONDS = 31 * _SECONDS_PER_DAY
# Versions are small integers; a long run of digits before the first "|"
# is the base64 payload of a version 1 value, not a version number.
_MAX_VERSION = 999


def _to_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _field(data: bytes) -> bytes:
    return b"%d:%s" % (len(data), data)


def _sign_v1(secret: str | bytes, name: str | bytes, b64value: bytes, timestamp: bytes) -> bytes:
    message = _to_bytes(name) + b64value + timestamp
    return hmac.digest(_to_bytes(secret), message, "sha1").hex().encode("ascii")


def _sign_v2(secret: str | bytes, payload: bytes) -> bytes:
    return hmac.digest(_to_bytes(secret), payload, "sha256").hex().encode("ascii")


def create_signed_value(
    secret: SecretType,
    name: str,
    value: str | bytes,
    version: int | None = None,
    clock: Callable[[], float] | None = None,
    key_version: int | None = None,
) -> bytes:
    """Sign ``value`` under ``name`` and return the signed string (bytes).

    Args:
        secret: the signing key (``str`` or ``bytes``), or a dict mapping key
            versions to keys; with a dict, ``key_version`` picks the key and is
            recorded in the value so :func:`decode_signed_value` can find it.
        name: the name the value is bound to (a cookie name); decoding under
            another name fails.
        value: the payload, ``str`` (encoded as UTF-8) or ``bytes``.
        version: the format, 1 or 2 (default :data:`DEFAULT_SIGNED_VALUE_VERSION`).
        clock: returns the current time in seconds (default ``time.time``);
            tests pass a fake clock.
        key_version: the key version to use and record (version 2 only).

    Raises:
        ValueError: for an unsupported ``version``, a dict ``secret`` without a
            ``key_version`` in it, or a dict ``secret`` with version 1.
    """
    if version is None:
        version = DEFAULT_SIGNED_VALUE_VERSION
    now = time.time() if clock is None else clock()
    timestamp = str(int(now)).encode("ascii")
    b64value = base64.b64encode(_to_bytes(value))
    if version == 2:
        key = _select_key(secret, key_version)
        payload = b"|".join(
            [
                b"2",
                _field(str(key_version or 0).encode("ascii")),
                _field(timestamp),
                _field(_to_bytes(name)),
                _field(b64value),
                b"",
            ]
        )
        return payload + _sign_v2(key, payload)
    if version == 1:
        if not isinstance(secret, (str, bytes)):
            raise ValueError(
                "create_signed_value: version 1 signed values cannot use a dict of "
                "cookie_secret key versions; use version=2 (the default)."
            )
        return b"|".join([b64value, timestamp, _sign_v1(secret, name, b64value, timestamp)])
    raise ValueError(f"create_signed_value: unsupported signed value version {version!r}")


def _select_key(secret: SecretType, key_version: int | None) -> str | bytes:
    if isinstance(secret, (str, bytes)):
        return secret
    if key_version is None:
        raise ValueError(
            "create_signed_value: cookie_secret is a dict of key versions, so a key_version "
            "is required; set the 'key_version' application setting."
        )
    try:
        return secret[key_version]
    except KeyError:
        raise ValueError(
            f"create_signed_value: key_version {key_version!r} is not a key of the "
            f"cookie_secret dict (known versions: {sorted(secret)!r})."
        ) from None


def _version_of(value: bytes) -> int:
    head, sep, _ = value.partition(b"|")
    if sep and head.isdigit() and not head.startswith(b"0"):
        number = int(head)
        if number <= _MAX_VERSION:
            return number
    return 1


def decode_signed_value(
    secret: SecretType,
    name: str,
    value: str | bytes | None,
    max_age_days: float = 31,
    clock: Callable[[], float] | None = None,
    min_version: int | None = None,
) -> bytes | None:
    """Verify a signed value and return its payload as bytes, or ``None``.

    Args:
        secret: the key, or the dict of key versions, the value was signed with.
        name: the name the value must have been signed under.
        value: the signed string (``str`` or ``bytes``); ``None`` or empty gives ``None``.
        max_age_days: values signed longer ago than this are rejected.
        clock: returns the current time in seconds (default ``time.time``).
        min_version: the oldest format accepted, 1 or 2 (default
            :data:`DEFAULT_SIGNED_VALUE_MIN_VERSION`).

    Returns ``None`` for a bad signature, a different name, an expired or
    future-dated timestamp, an unknown key version, a version older than
    ``min_version`` or a malformed value; it never raises for bad input.

    Raises:
        ValueError: if ``min_version`` is greater than 2 (no such format).
    """
    if min_version is None:
        min_version = DEFAULT_SIGNED_VALUE_MIN_VERSION
    if min_version > MAX_SUPPORTED_SIGNED_VALUE_VERSION:
        raise ValueError(f"decode_signed_value: unsupported min_version {min_version!r}")
    if not value:
        return None
    raw = _to_bytes(value)
    version = _version_of(raw)
    if version < min_version:
        return None
    now = time.time() if clock is None else clock()
    if version == 1:
        return _decode_v1(secret, name, raw, max_age_days, now)
    if version == 2:
        return _decode_v2(secret, name, raw, max_age_days, now)
    return None


def _fresh(timestamp: bytes, max_age_days: float, now: float) -> bool:
    if not timestamp.isdigit():
        return False
    stamp = int(timestamp)
    return now - max_age_days * _SECONDS_PER_DAY <= stamp <= now + _MAX_FUTURE_SECONDS


def _b64decode(data: bytes) -> bytes | None:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def _decode_v1(
    secret: SecretType, name: str, value: bytes, max_age_days: float, now: float
) -> bytes | None:
    if not isinstance(secret, (str, bytes)):
        # Version 1 carries no key version, so it cannot be checked against a key set.
        return None
    parts = value.split(b"|")
    if len(parts) != 3:
        return None
    b64value, timestamp, signature = parts
    expected = _sign_v1(secret, name, b64value, timestamp)
    if not hmac.compare_digest(signature, expected):
        return None
    if timestamp.startswith(b"0") or not _fresh(timestamp, max_age_days, now):
        return None
    return _b64decode(b64value)


def _take_field(data: bytes) -> tuple[bytes, bytes]:
    """Split ``<len>:<bytes>|rest`` into ``(bytes, rest)``; ValueError if malformed."""
    length, sep, rest = data.partition(b":")
    if not sep or not length.isdigit() or len(length) > 10:
        raise ValueError("malformed length prefix")
    size = int(length)
    if rest[size : size + 1] != b"|":
        raise ValueError("field length does not match")
    return rest[:size], rest[size + 1 :]


def _split_v2(value: bytes) -> tuple[int, bytes, bytes, bytes, bytes]:
    """Return (key_version, timestamp, name, b64value, signature); ValueError if malformed."""
    if not value.startswith(b"2|"):
        raise ValueError("not a version 2 value")
    key_version, rest = _take_field(value[2:])
    timestamp, rest = _take_field(rest)
    name, rest = _take_field(rest)
    b64value, signature = _take_field(rest)
    if not key_version.isdigit():
        raise ValueError("key version is not a number")
    return int(key_version), timestamp, name, b64value, signature


def _decode_v2(
    secret: SecretType, name: str, value: bytes, max_age_days: float, now: float
) -> bytes | None:
    try:
        key_version, timestamp, name_field, b64value, signature = _split_v2(value)
    except ValueError:
        return None
    if isinstance(secret, (str, bytes)):
        key: str | bytes = secret
    else:
        found = secret.get(key_version)
        if found is None:
            return None
        key = found
    expected = _sign_v2(key, value[: len(value) - len(signature)])
    if not hmac.compare_digest(signature, expected):
        return None
    if name_field != _to_bytes(name) or not _fresh(timestamp, max_age_days, now):
        return None
    return _b64decode(b64value)


def get_signature_key_version(value: str | bytes) -> int | None:
    """Return the key version recorded in a signed value, or ``None``.

    ``None`` means the value is not a well-formed version 2 value (version 1
    values carry no key version). The signature is *not* checked: use this to
    decide whether a valid cookie should be re-signed with the current key.
    """
    raw = _to_bytes(value)
    if _version_of(raw) < 2:
        return None
    try:
        return _split_v2(raw)[0]
    except ValueError:
        return None
