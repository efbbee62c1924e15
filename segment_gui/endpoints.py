"""Endpoint names, their URLs, and the checks made on an endpoint before a send.

Kept apart from `segment_gui.transport` so the window can offer and check endpoints at
start-up without importing the sender and its dependencies.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

ENDPOINTS = {
    "us": "https://api.segment.io/v1",
    "eu": "https://events.eu1.segmentapis.com/v1",
}
ENDPOINT_LABELS = {
    "us": "Segment US",
    "eu": "Segment EU",
    "sandbox": "Local sandbox",
}
SANDBOX = "sandbox"
# Sent to a loopback collector when no credential is chosen; it is not a secret.
SANDBOX_WRITE_KEY = "sandbox-write-key"


class EndpointError(ValueError):
    """An endpoint setting that is neither a known name nor a usable URL."""


def check_endpoint(endpoint: str) -> None:
    """Accept `us`, `eu`, `sandbox` or an http(s) URL with a host."""
    if endpoint in ENDPOINTS or endpoint == SANDBOX:
        return
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(
            f"endpoint {endpoint!r} is not valid; use us, eu, sandbox or a URL such as "
            "http://127.0.0.1:8080/v1"
        )


def resolve_base_url(endpoint: str, sandbox_url: str | None = None) -> str:
    """Return the base URL (ending in `/v1` for Segment) that message paths are joined to."""
    check_endpoint(endpoint)
    if endpoint == SANDBOX:
        if sandbox_url is None:
            raise EndpointError(
                "the local sandbox runs inside the window; for the command line start "
                "`segment-gui sandbox` and pass its URL with --endpoint"
            )
        return sandbox_url
    return ENDPOINTS.get(endpoint, endpoint).rstrip("/")


def is_loopback_host(host: str) -> bool:
    """Return True for `localhost` and for IP addresses in 127.0.0.0/8 or ::1."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_loopback_url(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


def needs_insecure_confirmation(url: str) -> bool:
    """Return True when `url` would carry the write key unencrypted off this machine.

    That is an `http://` URL whose host is not loopback (127.0.0.0/8, ::1 or localhost).
    """
    parts = urlsplit(url.strip())
    return parts.scheme.lower() == "http" and not is_loopback_host(parts.hostname or "")


def endpoint_label(endpoint: str) -> str:
    return ENDPOINT_LABELS.get(endpoint, endpoint)
