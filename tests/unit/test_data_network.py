"""The network settings read without requests are the ones requests reads (proxies, NO_PROXY, CA bundle)."""

from __future__ import annotations

import itertools

import pytest
import requests

from reconciler.data.network import Network, network_for

VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)

URLS = (
    "https://acct.blob.core.windows.net",
    "https://acct.blob.core.chinacloudapi.cn",
    "http://127.0.0.1:10000/devstoreaccount1",
    "http://localhost:10000/devstoreaccount1",
    "https://10.1.2.3",
    "https://10.1.2.3:8443/acct",
    "https://[::1]:10000/devstoreaccount1",
    "https://acct.privatelink.blob.core.windows.net:443",
)

PROXIES = (
    {},
    {"HTTPS_PROXY": "http://proxy.example:3128"},
    {"https_proxy": "http://lower.example:3128", "HTTPS_PROXY": "http://upper.example:3128"},
    {"HTTP_PROXY": "http://plain.example:8080", "HTTPS_PROXY": "proxy.example:3128"},
    {"ALL_PROXY": "socks5://socks.example:1080"},
    {"all_proxy": "http://all.example:3128", "https_proxy": "http://user:p%40ss@auth.example:3128"},
)

NO_PROXY = (
    "",
    "*",
    "acct.blob.core.windows.net",
    ".core.windows.net",
    "core.windows.net",
    "windows.net:443",
    "localhost,127.0.0.1",
    "10.0.0.0/8",
    "10.1.2.0/24, 192.168.0.0/16",
    "10.1.2.3/40,10.1.2.3/abc,10.1.2.3",
    "127.0.0.0/8",
    "10.1.2.3:8443",
    "blob.core.windows.net.evil.example",
    "[::1]",
)

CA = ({}, {"REQUESTS_CA_BUNDLE": "/etc/private-ca.pem"}, {"CURL_CA_BUNDLE": "/etc/curl-ca.pem"})


def _requests_reading(url: str) -> Network:
    settings = requests.Session().merge_environment_settings(url, {}, None, None, None)
    return Network(settings["proxies"], settings["verify"])


@pytest.mark.parametrize(("proxies", "no_proxy", "ca"), list(itertools.product(PROXIES, NO_PROXY, CA[:2])))
def test_the_reading_is_requests_own(
    monkeypatch: pytest.MonkeyPatch, proxies: dict[str, str], no_proxy: str, ca: dict[str, str]
) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    env = {**proxies, **ca}
    if no_proxy:
        env["NO_PROXY" if len(no_proxy) % 2 else "no_proxy"] = no_proxy
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for url in URLS:
        ours, theirs = network_for(url), _requests_reading(url)
        assert ours == theirs, (url, env)
        session = requests.Session()
        session.proxies, session.trust_env = dict(theirs.proxies), False
        assert ours.proxy_for(url) == requests.utils.select_proxy(url, session.proxies), (url, env)


@pytest.mark.parametrize("ca", CA)
def test_the_ca_bundle_is_the_one_requests_would_use(monkeypatch: pytest.MonkeyPatch, ca: dict[str, str]) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in ca.items():
        monkeypatch.setenv(name, value)
    url = "https://acct.blob.core.windows.net"
    assert network_for(url).verify == _requests_reading(url).verify == (next(iter(ca.values())) if ca else True)


@pytest.mark.parametrize(("lower", "upper"), [("core.windows.net", "elsewhere.example"), ("", "core.windows.net")])
def test_lower_case_no_proxy_comes_first(monkeypatch: pytest.MonkeyPatch, lower: str, upper: str) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", lower)
    monkeypatch.setenv("NO_PROXY", upper)
    for url in URLS:
        assert network_for(url) == _requests_reading(url), url
