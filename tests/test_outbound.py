"""The outbound guard (SPEC §7 "Outbound safety"): refused at config time and at send time."""

from __future__ import annotations

import pytest

from alertworker.delivery.channels.base import PermanentError, RetryableError
from alertworker.delivery.outbound import (
    UnsafeURLError,
    check_url,
    parse_retry_after,
    post_json,
    raise_for_status,
)

PRIVATE_URLS = [
    "https://127.0.0.1/hook",
    "https://127.5.6.7/",
    "https://10.1.2.3/",
    "https://172.16.0.1/",
    "https://172.31.255.254/",
    "https://192.168.1.10/",
    "https://169.254.169.254/latest/meta-data/",
    "https://169.254.1.1/",
    "https://100.64.0.1/",  # CGNAT
    "https://100.127.255.254/",
    "https://224.0.0.251/",  # multicast
    "https://239.1.2.3/",
    "https://0.0.0.0/",
    "https://0.1.2.3/",
    "https://240.0.0.1/",  # reserved
    "https://255.255.255.255/",
    "https://198.18.0.1/",  # benchmarking
    "https://192.0.2.1/",  # documentation
    "https://[::1]/",
    "https://[::]/",
    "https://[fc00::1]/",
    "https://[fd12:3456::1]/",
    "https://[fe80::1]/",
    "https://[ff02::1]/",
    "https://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "https://[::ffff:7f00:1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[::ffff:10.0.0.1]/",
    "https://[::127.0.0.1]/",  # IPv4-compatible
    "https://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    "https://[2002:7f00:1::1]/",  # 6to4 of 127.0.0.1
    "https://2130706433/",  # decimal 127.0.0.1
    "https://0177.0.0.1/",  # octal
    "https://0x7f000001/",  # hex
    "https://0x7f.0.0.1/",
    "https://127.1/",  # short form
    "https://017700000001/",
    "https://3232235777/",  # decimal 192.168.1.1
]

MALFORMED_URLS = [
    "http://example.com/hook",  # http only for allow-listed hosts
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://example.com/",
    "https://user:pass@example.com/",
    "https://user@example.com/",
    "https://example.com:0/",
    "https://example.com:99999/",
    "https://example.com:abc/",
    "https:///path-without-host",
    "not a url",
    "https://exa mple.com/",
]


@pytest.fixture
def strict(settings):
    """Nothing allow-listed: loopback is refused like any private address."""
    return settings.replace(outbound_allowlist=())


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_addresses_refused_at_config_time(url, strict):
    with pytest.raises(UnsafeURLError):
        check_url(url, strict, resolve=False)
    with pytest.raises(UnsafeURLError):
        check_url(url, strict)


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_malformed_or_unsafe_urls_refused(url, settings):
    with pytest.raises(UnsafeURLError):
        check_url(url, settings, resolve=False)


def test_hostname_resolving_to_loopback_refused(strict):
    check_url("https://localhost/hook", strict, resolve=False)  # no DNS: nothing to refuse yet
    with pytest.raises(UnsafeURLError, match="non-public"):
        check_url("https://localhost/hook", strict)


@pytest.mark.parametrize(
    "url",
    ["https://93.184.215.14/hook", "https://[2606:4700:4700::1111]/", "https://8.8.8.8:8443/x?y=1"],
)
def test_public_addresses_accepted(url, strict):
    check_url(url, strict)


def test_hostnames_accepted_without_resolution(strict):
    check_url("https://hooks.slack.com/services/T0/B0/XYZ", strict, resolve=False)
    check_url("https://Example.COM./hook", strict, resolve=False)


def test_allowlisted_hosts_exempt_and_may_use_http(settings):
    check_url("http://127.0.0.1:8080/hook", settings)
    check_url("http://localhost:8080/hook", settings)
    with pytest.raises(UnsafeURLError):  # the allow-list names hosts, not what they spell
        check_url("http://2130706433:8080/hook", settings)
    with pytest.raises(UnsafeURLError):
        check_url("http://user:pw@127.0.0.1:8080/hook", settings)


def test_error_message_does_not_leak_path(strict):
    with pytest.raises(UnsafeURLError) as info:
        check_url("https://10.0.0.1/services/T0/B0/SECRETTOKEN", strict)
    assert "SECRETTOKEN" not in str(info.value)


# --- send time ------------------------------------------------------------------------------


def test_post_to_allowlisted_receiver(http_receiver, settings):
    http_receiver.reply(201, "created", headers={"X-Reply": "yes"})
    resp = post_json(http_receiver.url("/hook?a=1"), b'{"x":1}', {"X-Test": "1"}, settings)
    assert (resp.status, resp.text, resp.headers["x-reply"]) == (201, "created", "yes")
    [req] = http_receiver.requests
    assert (req.method, req.path, req.body) == ("POST", "/hook?a=1", b'{"x":1}')
    assert req.headers["X-Test"] == "1"
    assert req.headers["Host"] == f"127.0.0.1:{http_receiver.port}"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_post_refused_at_send_time_when_not_allowlisted(http_receiver, strict, host):
    url = http_receiver.url(host=host).replace("http://", "https://")
    with pytest.raises(PermanentError, match="refused"):
        post_json(url, b"{}", {}, strict)
    assert http_receiver.requests == []


def test_post_http_refused_for_public_host(settings):
    with pytest.raises(PermanentError, match="https"):
        post_json("http://93.184.215.14/hook", b"{}", {}, settings)


def test_response_body_is_capped(http_receiver, settings):
    http_receiver.reply(200, "x" * 200_000)
    assert len(post_json(http_receiver.url(), b"{}", {}, settings).text) == 64 * 1024


def test_redirect_not_followed(http_receiver, settings):
    http_receiver.reply(302, "", redirect="http://169.254.169.254/latest/meta-data/")
    resp = post_json(http_receiver.url(), b"{}", {}, settings)
    assert len(http_receiver.requests) == 1
    with pytest.raises(PermanentError, match="redirect not followed") as info:
        raise_for_status(resp, "127.0.0.1")
    assert info.value.status_code == 302


def test_read_timeout_is_retryable(http_receiver, settings):
    http_receiver.reply(200, delay=2)
    with pytest.raises(RetryableError, match="timed out"):
        post_json(http_receiver.url(), b"{}", {}, settings.replace(http_timeout_seconds=0.5))


def test_connection_refused_is_retryable(closed_port, settings):
    with pytest.raises(RetryableError, match="connection failed"):
        post_json(f"http://127.0.0.1:{closed_port}/hook", b"{}", {}, settings)


def test_header_with_newline_is_permanent(http_receiver, settings):
    with pytest.raises(PermanentError, match="control character in a header") as info:
        post_json(http_receiver.url(), b"{}", {"X-Evil": "a\r\nX-Injected: 1"}, settings)
    assert "Injected" not in str(info.value)


def test_https_connects_to_vetted_ip_with_hostname_for_tls(
    https_receiver, settings, trust_test_cert
):
    """The connection goes to the resolved address; SNI, certificate and Host name the host."""
    resp = post_json(https_receiver.url(host="localhost"), b"{}", {}, settings)
    assert resp.status == 200
    assert https_receiver.requests[0].headers["Host"] == f"localhost:{https_receiver.port}"


def test_https_certificate_must_match_hostname(https_receiver, settings, trust_test_cert):
    # the test certificate names "localhost" only, so https://127.0.0.1 fails verification
    with pytest.raises(RetryableError, match="SSLError"):
        post_json(https_receiver.url(host="127.0.0.1"), b"{}", {}, settings)
    assert https_receiver.requests == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("120", 120.0), (" 7 ", 7.0), ("soon", None), ("-3", None)],
)
def test_parse_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 85 <= parse_retry_after(when) <= 90
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_consecutive_posts_reuse_one_connection(settings, http_receiver):
    from tests.receivers import Reply

    http_receiver.default = Reply(200, keep_alive=True)
    for _ in range(3):
        assert post_json(http_receiver.url(), b"{}", {}, settings).status == 200
    assert len({r.client for r in http_receiver.requests}) == 1
