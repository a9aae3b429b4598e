"""Subscriber URLs: http(s) only, and only to hosts on the allow-list (loopback unless the config widens it)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit


class UrlRefused(ValueError):
    """A subscriber URL that is malformed or points at a host outside the allow-list."""


def normalise_host(host: str) -> str:
    """Lower case; an IP address in its canonical form (`::1` for `0:0::1`), brackets removed."""
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host.rstrip(".")


def check_url(url: str, allow_hosts: Iterable[str]) -> str:
    """The URL as given if it is an absolute http(s) URL whose host is allowed; UrlRefused otherwise."""
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
