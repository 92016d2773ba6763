"""Container HEALTHCHECK: GET /healthz on the local gunicorn; exit 0 only on HTTP 200.

Django refuses Host headers outside ALLOWED_HOSTS, so the probe sends one of the allowed names instead of
127.0.0.1. Standard library only, so the image needs no curl.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def probe_host(allowed_hosts: str) -> str:
    """A Host header that ALLOWED_HOSTS (comma-separated, Django syntax) accepts."""
    for entry in (item.strip() for item in allowed_hosts.split(",")):
        if entry and entry != "*":
            # ".example.org" allows example.org and its subdomains.
            return entry.lstrip(".")
    return "localhost"


def main() -> int:
    port = os.environ.get("PORT", "8000")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/healthz",
        headers={"Host": probe_host(os.environ.get("ALLOWED_HOSTS", "")), "X-Forwarded-Proto": "https"},
    )
    try:
        with urllib.request.urlopen(request, timeout=float(os.environ.get("HEALTHCHECK_TIMEOUT", "4"))) as response:  # noqa: S310 - fixed local http URL
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: no answer on port {port}: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    if status != 200:
        print(f"healthcheck: /healthz answered {status}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
