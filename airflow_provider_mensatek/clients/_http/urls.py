"""Base URLs: built from a connection's fields, checked as urllib3 will connect.

The plain-http guard is only as good as its parser. ``urllib.parse`` and
urllib3 (which requests uses to connect) disagree on some URLs:
``http://127.1:8080\\@127.0.0.1:9/`` is ``127.0.0.1`` to the first and
``127.1:8080`` to the second, so a guard that read the first would let a
credential travel in clear text to another host. A base URL is therefore
accepted only in its canonical form: both parsers agree on every part, and it
has no user info, query, fragment, backslash, space, control or non-ASCII
character, dot segment, empty or zero-padded port, nor a numeric host that is
not a canonical IPv4 address (``127.1`` and ``0x7f.1`` are IPs to the resolver).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from airflow_provider_mensatek.clients.errors import ValidationError

#: What counts as loopback for plain http: literal addresses and the one name.
_LOOPBACK_NAME = "localhost"
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_SAFE_CHARS = re.compile(r"^[!-~]*$")  # printable ASCII, no space


def is_loopback_host(hostname: str | None) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1`` written canonically (as urllib3 connects to them)."""
    if not hostname:
        return False
    host = hostname.lower()
    if host == _LOOPBACK_NAME:
        return True
    try:
        address = ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
    except ValueError:
        return False
    return address.is_loopback and not (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped)


def _invalid(url: str, why: str) -> ValidationError:
    return ValidationError(f"Refusing base URL {url!r}: {why}. Write it as scheme://host[:port][/path].")


def _canonical_host(url: str, host: str) -> str:
    if host.startswith("["):
        inner = host[1:-1]
        try:
            address = ipaddress.IPv6Address(inner)
        except ValueError:
            raise _invalid(url, f"{host} is not an IPv6 address (zone ids are not accepted)") from None
        if str(address) != inner:
            raise _invalid(url, f"write the IPv6 address as [{address}]")
        return host
    if not _HOST_NAME.match(host):
        raise _invalid(url, f"{host!r} is not a host name")
    last = host.rsplit(".", 1)[-1]
    if last.isdigit() or last.startswith("0x"):
        # A numeric last label makes the resolver read the whole name as an IPv4 address.
        try:
            ipv4 = ipaddress.IPv4Address(host)
        except ValueError:
            raise _invalid(url, f"{host!r} would be read as an IPv4 address; write it in dotted-quad form") from None
        if str(ipv4) != host:
            raise _invalid(url, f"write the address as {ipv4}")
    return host


def check_base_url(url: str) -> str:
    """``url`` in canonical form (lower-case scheme and host, no trailing slash), or ValidationError."""
    if not isinstance(url, str) or not _SAFE_CHARS.match(url) or "\\" in url:
        raise _invalid(str(url), "it holds a backslash, a space, a control or a non-ASCII character")
    try:
        theirs = parse_url(url)
        ours = urlsplit(url)
        our_port = ours.port
    except (LocationParseError, ValueError) as exc:
        raise _invalid(url, f"it does not parse ({exc})") from None
    scheme = (ours.scheme or "").lower()
    if scheme not in ("https", "http"):
        raise ValidationError(f"Unsupported URL scheme {ours.scheme!r} in {url!r}: use https://")
    if "@" in ours.netloc or theirs.auth:
        raise _invalid(url, "user info (user:password@) does not belong in the URL; use the connection's fields")
    if ours.query or ours.fragment or theirs.query or theirs.fragment or url.endswith(("?", "#")):
        raise _invalid(url, "it has a query or a fragment")
    host = (theirs.host or "").lower()
    if not host or (ours.hostname or "") != host.strip("[]"):
        raise _invalid(url, f"the host is ambiguous ({ours.hostname!r} / {theirs.host!r})")
    host = _canonical_host(url, host)
    if our_port != theirs.port:
        raise _invalid(url, "the port is ambiguous")
    netloc = f"{host}:{our_port}" if our_port is not None else host
    if ours.netloc.lower() != netloc:
        raise _invalid(url, f"write the host and port as {netloc}")
    path = ours.path.rstrip("/")
    if (theirs.path or "").rstrip("/") != path or "//" in path:
        raise _invalid(url, "the path is not in canonical form (dot segments, escapes or empty segments)")
    if our_port == 0:
        raise _invalid(url, "port 0")
    if scheme == "http" and not is_loopback_host(host):
        raise ValidationError(
            f"Refusing plain http:// for {host!r}: the API token would travel in clear text. "
            "Use https:// (plain http is allowed only for loopback hosts such as the local sandbox: "
            "127.0.0.0/8, [::1], localhost)."
        )
    return f"{scheme}://{netloc}{path}"


def resolve_base_url(
    host: str | None,
    *,
    default: str,
    port: int | None = None,
    path: str | None = None,
    scheme: str | None = None,
) -> str:
    """A base URL from a connection's fields, as Airflow fills them from the UI, JSON or a URI.

    ``host`` is empty (the vendor default), a full URL (kept as it is, its own
    path included), or a bare host with an optional ``:port`` and ``/path``
    (``https://`` and the default's path are added). ``port`` and ``path``
    (the connection's port and schema: a URI ``mensatek://u:t@host:8765/a/b``
    puts ``a/b`` in schema) fill in what the host lacks; giving one twice with
    different values is an error. ``scheme`` (the connection extra, or a URI's
    ``?scheme=http``) names the scheme of a bare host; Airflow's own
    ``mensatek://http://u:t@host:port/path`` form puts it in the host.
    Plain http only reaches loopback hosts.
    """
    if scheme not in (None, ""):
        if not isinstance(scheme, str) or scheme.strip().lower() not in ("http", "https"):
            raise ValidationError(f"Connection extra 'scheme' must be 'https' or 'http', got {scheme!r}")
        scheme = scheme.strip().lower()
    else:
        scheme = None
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise ValidationError(f"Connection port must be a whole number from 1 to 65535, got {port!r}")
    extra_path = "/" + path.strip("/") if isinstance(path, str) and path.strip("/") else ""
    if not host or not host.strip():
        if port is not None or extra_path:
            raise ValidationError("A connection with a port or a schema (path) needs a host too")
        if scheme == "http":
            raise ValidationError("Connection extra scheme='http' needs a loopback host (the default is https)")
        return check_base_url(default)
    host = host.strip()
    if "://" in host:
        given_scheme = host.split("://", 1)[0].lower()
        if scheme is not None and scheme != given_scheme:
            raise ValidationError(f"The host {host!r} says {given_scheme}:// but the extra scheme says {scheme!r}")
        url = host
    else:
        url = f"{scheme or 'https'}://{host}"
    parts = urlsplit(check_base_url(url))
    own_path = parts.path
    if extra_path and own_path:
        raise ValidationError(f"The base path is given twice: {own_path!r} in the host and {extra_path!r} in the "
                              "schema field; keep one")
    if "://" not in host and not own_path and not extra_path:
        extra_path = urlsplit(default).path.rstrip("/")
    netloc = parts.netloc
    if port is not None:
        if parts.port is not None and parts.port != port:
            raise ValidationError(f"The port is given twice: {parts.port} in the host and {port} in the port field")
        netloc = f"{parts.netloc if parts.port is None else parts.netloc.rsplit(':', 1)[0]}:{port}"
    return check_base_url(f"{parts.scheme}://{netloc}{own_path or extra_path}")
