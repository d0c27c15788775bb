"""How a transport reaches the vendor: straight (the default), or through a proxy the connection names.

The environment is never read (``Session.trust_env = False``): requests would
otherwise take ``~/.netrc`` credentials, ``HTTP(S)_PROXY`` / ``ALL_PROXY`` and
``REQUESTS_CA_BUNDLE`` from whatever process runs the task, so a proxy nobody
configured for this provider could be handed the ``Authorization`` header, and a
``.netrc`` entry could replace the token. A deployment behind an egress proxy or
a TLS-inspecting gateway says so explicitly, per connection:

* ``proxy``: ``http://host:port`` or ``https://host:port``. It is used only for
  an ``https://`` base URL, which requests reaches through a ``CONNECT`` tunnel:
  the proxy sees the vendor's host and port, never the request or its
  ``Authorization`` header (unless it inspects TLS, which ``ca_bundle`` then
  has to allow). A plain-http base URL (the loopback sandbox) with a proxy is
  refused: the request, credentials included, would reach the proxy in clear.
  Credentials in the proxy URL are refused too: the extra is shown in the
  connection form and would be quoted by network errors. Use a proxy that
  admits the workers by address.
* ``ca_bundle``: an absolute path to a PEM file (or a folder of hashed
  certificates) that *replaces* the default CA bundle, e.g. the gateway's CA
  plus the usual roots. It is deployment configuration, written by whoever
  manages connections, not DAG input: it is not read through the allowed-roots
  rules of attachments, and only its certificates are used (it is never sent
  anywhere). It must be a regular file or a folder, so a FIFO cannot hang the
  TLS setup. Verification itself is never turned off.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from airflow_provider_mensatek.clients.errors import ValidationError

_PROXY_SCHEMES = ("http", "https")


def _check_proxy(proxy: str, vendor: str) -> str:
    def refuse(why: str, shown: bool = True) -> ValidationError:
        value = f" {proxy!r}" if shown else ""
        return ValidationError(f"Connection extra 'proxy'{value} {why}; write it as http://host:port", vendor=vendor)

    if not isinstance(proxy, str):
        raise ValidationError(f"Connection extra 'proxy' must be a URL, got {type(proxy).__name__}", vendor=vendor)
    text = proxy.strip()
    if any(c.isspace() or not c.isprintable() for c in text) or "\\" in text:
        raise refuse("holds a space, a backslash or a control character", shown=False)
    try:
        theirs, ours = parse_url(text), urlsplit(text)
        port = ours.port
    except (LocationParseError, ValueError):
        raise refuse("does not parse", shown=False) from None
    if "@" in ours.netloc or theirs.auth:
        # Never echoed: the value holds a password.
        raise refuse("must not hold credentials (user:password@): they would show in the connection form and in "
                      "network errors. Use a proxy that admits the workers by address", shown=False)
    if (ours.scheme or "").lower() not in _PROXY_SCHEMES:
        raise refuse("must be an http:// or https:// URL (SOCKS and other schemes are not supported)")
    host = (theirs.host or "").lower().strip("[]")
    if not host or host != (ours.hostname or "") or port != theirs.port or port == 0:
        raise refuse("has no host, or a host or port the URL parsers read differently")
    if ours.path not in ("", "/") or ours.query or ours.fragment or text.endswith(("?", "#")):
        raise refuse("must be scheme://host:port only (no path, query or fragment)")
    return f"{ours.scheme.lower()}://{ours.netloc.lower()}"


def _check_ca_bundle(ca_bundle: str | os.PathLike[str], vendor: str) -> str:
    path = os.fspath(ca_bundle) if isinstance(ca_bundle, str | os.PathLike) else None
    if not path or not isinstance(path, str) or not os.path.isabs(path):
        raise ValidationError(f"Connection extra 'ca_bundle' must be an absolute path, got {ca_bundle!r}",
                              vendor=vendor)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ValidationError(f"Connection extra 'ca_bundle' {path!r} cannot be used: {exc.strerror or exc}",
                              vendor=vendor) from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ValidationError(f"Connection extra 'ca_bundle' {path!r} must be a PEM file or a folder of "
                              "certificates, not a device, FIFO or socket", vendor=vendor)
    return path


@dataclass(frozen=True)
class Egress:
    """The ``proxy`` and ``ca_bundle`` of a connection, checked when built (see the module docstring)."""

    proxy: str | None = None
    ca_bundle: str | None = None

    @classmethod
    def of(cls, proxy: str | None, ca_bundle: str | os.PathLike[str] | None, *, vendor: str) -> Egress:
        blank = (None, "")
        return cls(
            None if proxy in blank or (isinstance(proxy, str) and not proxy.strip()) else _check_proxy(proxy, vendor),
            None if ca_bundle in blank else _check_ca_bundle(ca_bundle, vendor),
        )

    def apply(self, session: requests.Session, base_url: str, *, vendor: str) -> None:
        """Route ``session`` (and trust CAs) as configured; the environment stays ignored either way."""
        session.trust_env = False
        if self.proxy is not None:
            if urlsplit(base_url).scheme != "https":
                raise ValidationError(
                    f"Connection extra 'proxy' is used only with an https:// base URL, not {base_url!r}: through a "
                    "proxy, a plain-http request would hand the Authorization header to the proxy in clear",
                    vendor=vendor)
            session.proxies = {"https": self.proxy}
        if self.ca_bundle is not None:
            session.verify = self.ca_bundle


__all__ = ["Egress"]
