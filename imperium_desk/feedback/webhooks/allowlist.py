"""Subscriber URLs: http(s) only, and only to hosts on the allow-list (loopback unless the config widens it).

Checked strictly, because a URL accepted here is posted to for as long as the subscriber exists: `urlsplit` keeps
spaces, control characters and non-ASCII text (a CR/LF would split the request line), which the HTTP client then
refuses on every attempt. A URL is printable ASCII, as the published pattern (`url_pattern`) says."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

_PORT: Final = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"


class UrlRefused(ValueError):
    """A subscriber URL that is malformed or points at a host outside the allow-list."""


def normalise_host(host: str) -> str:
    """Lower case; an IP address in its canonical form (`::1` for `0:0::1`), brackets removed."""
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host.rstrip(".")


def url_pattern(allow_hosts: Iterable[str]) -> str:
    """A regular expression for the URLs `check_url` accepts with these hosts, as the API document publishes it:
    http(s), an allowed host (IPv6 in brackets), a port 1-65535 if any, then printable ASCII without spaces."""
    hosts = sorted({normalise_host(h) for h in allow_hosts})
    spelled = [f"\\[{re.escape(h)}\\]" if ":" in h else re.escape(h) for h in hosts]
    return rf"^https?://(?:{'|'.join(spelled)})(?::{_PORT})?(?:[/?#][!-~]*)?$"


def check_url(url: str, allow_hosts: Iterable[str]) -> str:
    """The URL as given if it is an absolute http(s) URL whose host is allowed; UrlRefused otherwise."""
    bad = next((c for c in url if not "!" <= c <= "~"), None)
    if bad is not None:
        raise UrlRefused(f"{url!r}: a URL is printable ASCII without spaces (found {bad!r}); percent-encode the rest")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in range
    except ValueError as exc:
        raise UrlRefused(f"{url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused(f"{url!r}: the scheme must be http or https")
    if not parts.hostname:
        raise UrlRefused(f"{url!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused(f"{url!r}: credentials in the URL are not accepted (the signature authenticates the desk)")
    if port == 0:
        raise UrlRefused(f"{url!r}: port 0 cannot be connected to")
    host = normalise_host(parts.hostname)
    allowed = {normalise_host(h) for h in allow_hosts}
    if host not in allowed:
        raise UrlRefused(
            f"host {parts.hostname!r} of {url!r} is not on the allow-list ({', '.join(sorted(allowed))});"
            " add it to feedback.webhooks.allow_hosts to send there"
        )
    return url
