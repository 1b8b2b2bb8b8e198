"""VLESS share links as 3x-ui's subscription server writes them (sub/subService.go genVlessLink), built
locally for panels whose API has no links route (v2.x–v3.0), and parsed so tests compare links by meaning:
the panel picks a random serverName/shortId and, before v3.6, a random spiderX, so strings differ."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

VISION = "xtls-rprx-vision"


def _find(data: Any, key: str) -> Any:
    """The panel's searchKey: `key` at this level, else anywhere below (depth first)."""
    if isinstance(data, Mapping):
        if key in data:
            return data[key]
        children: list[Any] = list(data.values())
    elif isinstance(data, list):
        children = data
    else:
        return None
    for child in children:
        found = _find(child, key)
        if found is not None:
            return found
    return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _host_header(headers: Any) -> str:
    """searchHost: a Host header (any case), a string or the first of a list."""
    if not isinstance(headers, Mapping):
        return ""
    for k, v in headers.items():
        if str(k).lower() == "host":
            if isinstance(v, list):
                return _str(v[0]) if v else ""
            return _str(v)
    return ""


def _path_and_host(section: Mapping[str, Any], params: dict[str, str]) -> None:
    params["path"] = _str(section.get("path"))
    params["host"] = _str(section.get("host")) or _host_header(section.get("headers"))


def flow_allowed(stream: Mapping[str, Any]) -> bool:
    """XTLS Vision only works on TCP under tls or reality; the panel drops `flow` from links elsewhere."""
    return stream.get("network") == "tcp" and stream.get("security") in ("tls", "reality")


def spider_x(seed: str, client_key: str) -> str:
    """v3.6's per-client spiderX: stable for a client, so the same key always gives the same link."""
    return "/" + hashlib.sha256(f"{seed}|{client_key}".encode()).hexdigest()[:15]


def link_params(
    settings: Mapping[str, Any], stream: Mapping[str, Any], *, flow: str, client_key: str
) -> dict[str, str]:
    """The query of a client's link on an inbound (settings and streamSettings already decoded)."""
    network = _str(stream.get("network")) or "tcp"
    params: dict[str, str] = {"type": network}
    encryption = settings.get("encryption")
    if isinstance(encryption, str) and encryption:
        params["encryption"] = encryption
    if network == "tcp":
        header = _map(_map(stream.get("tcpSettings")).get("header"))
        if header.get("type") == "http":  # HTTP header obfuscation
            request = _map(header.get("request"))
            paths = _list(request.get("path"))
            if paths:
                params["path"] = _str(paths[0])
            params["host"] = _host_header(request.get("headers"))
            params["headerType"] = "http"
    elif network in ("ws", "httpupgrade"):
        _path_and_host(_map(stream.get(f"{network}Settings")), params)
    elif network == "grpc":
        grpc = _map(stream.get("grpcSettings"))
        params["serviceName"] = _str(grpc.get("serviceName"))
        params["authority"] = _str(grpc.get("authority"))
        if grpc.get("multiMode") is True:
            params["mode"] = "multi"
    elif network == "xhttp":
        xhttp = _map(stream.get("xhttpSettings"))
        _path_and_host(xhttp, params)
        if isinstance(xhttp.get("mode"), str):
            params["mode"] = xhttp["mode"]
    security = stream.get("security")
    if security == "tls":
        tls = _map(stream.get("tlsSettings"))
        params["security"] = "tls"
        alpn = [a for a in _list(tls.get("alpn")) if isinstance(a, str)]
        if alpn:
            params["alpn"] = ",".join(alpn)
        sni = _find(tls, "serverName")
        if sni is not None:
            params["sni"] = _str(sni)
        client_settings = tls.get("settings")
        fp = _find(client_settings, "fingerprint")
        if fp is not None:
            params["fp"] = _str(fp)
        # v2.x writes allowInsecure=1 only when the inbound asks for it (v3.6 dropped the field).
        if _find(client_settings, "allowInsecure") is True:
            params["allowInsecure"] = "1"
    elif security == "reality":
        reality = _map(stream.get("realitySettings"))
        client_settings = reality.get("settings")
        params["security"] = "reality"
        # The panel picks a random serverName and shortId; the first is as valid and keeps links stable.
        names = _list(reality.get("serverNames"))
        if names:
            params["sni"] = _str(names[0])
        pbk = _find(client_settings, "publicKey")
        if pbk is not None:
            params["pbk"] = _str(pbk)
        short_ids = _list(reality.get("shortIds"))
        if short_ids:
            params["sid"] = _str(short_ids[0])
        if fp := _str(_find(client_settings, "fingerprint")):
            params["fp"] = fp
        if pqv := _str(_find(client_settings, "mldsa65Verify")):
            params["pqv"] = pqv
        params["spx"] = spider_x(_str(_find(client_settings, "spiderX")), client_key)
    else:
        params["security"] = "none"
    if flow and flow_allowed(stream):
        params["flow"] = flow
    return params


def build_link(uuid: str, host: str, port: int, params: Mapping[str, str], remark: str) -> str:
    """Go's url.Values.Encode (keys sorted, QueryEscape) and a %20-escaped fragment, as the panel writes."""
    query = "&".join(f"{quote_plus(k, safe='')}={quote_plus(v, safe='')}" for k, v in sorted(params.items()))
    address = f"[{host}]" if ":" in host and not host.startswith("[") else host
    link = f"vless://{uuid}@{address}:{port}"
    if query:
        link += "?" + query
    if remark:
        link += "#" + quote(remark, safe="")
    return link


def client_link(
    inbound: Mapping[str, Any],
    settings: Mapping[str, Any],
    stream: Mapping[str, Any],
    client: Mapping[str, Any],
    host: str,
) -> str:
    """A client's link on a classic inbound: remark `<inbound remark>-<email>` (remarkModel "-ieo")."""
    email = _str(client.get("email"))
    params = link_params(settings, stream, flow=_str(client.get("flow")), client_key=_str(client.get("subId")) or email)
    remark = "-".join(p for p in (_str(inbound.get("remark")), email) if p)
    return build_link(_str(client.get("id")), host, int(inbound.get("port") or 0), params, remark)


@dataclass(frozen=True)
class VlessLink:
    uuid: str
    host: str
    port: int
    params: dict[str, str] = field(default_factory=dict)
    remark: str = ""

    @property
    def name(self) -> str:
        """The remark without v3.x's info segments ("|📊12.5GB|⏳29D")."""
        return self.remark.split("|", 1)[0]


def parse_link(link: str) -> VlessLink:
    """A vless:// link's parts; raises ValueError on anything else."""
    parts = urlsplit(link.strip())
    if parts.scheme != "vless" or not parts.username or parts.hostname is None or parts.port is None:
        raise ValueError("not a vless:// link")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    return VlessLink(unquote(parts.username), parts.hostname, parts.port, params, unquote(parts.fragment))
