"""SimpleAsyncHTTPClient against dualweb's own server and scripted peers, over real sockets."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import socket
import ssl
import tempfile
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import pytest

from dualweb import gen, web
from dualweb.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from dualweb.httputil import HTTPHeaders
from dualweb.simple_httpclient import (
    HTTPStreamClosedError,
    HTTPTimeoutError,
    SimpleAsyncHTTPClient,
)
from dualweb.testing import AsyncHTTPTestCase, AsyncTestCase, gen_test
from tests.client_support import RawPeer, TinyProxy, make_ca_and_server_cert, start_peer
from tests.harness import free_port, run, serving


class Echo(web.RequestHandler):
    def get(self) -> None:
        self.write(
            {
                "method": self.request.method,
                "headers": dict(self.request.headers),
                "connection": id(self.request.connection.stream),  # type: ignore[union-attr]
            }
        )

    def post(self) -> None:
        self.write({"method": "POST", "body": self.request.body.decode(), "headers": dict(
            self.request.headers
        )})

    put = post
    head = get


class Redirect(web.RequestHandler):
    def initialize(self, code: int, target: str) -> None:
        self.code = code
        self.target = target

    def get(self) -> None:
        self.redirect(self.target, status=self.code)

    post = get
    head = get


class Gzipped(web.RequestHandler):
    def get(self) -> None:
        coding = self.get_argument("coding")
        data = b"hello compressed world " * 50
        if coding == "gzip":
            body = gzip.compress(data)
        elif coding == "deflate":
            body = zlib.compress(data)
        else:
            raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            body = raw.compress(data) + raw.flush()
            coding = "deflate"
        self.set_header("Content-Encoding", coding)
        self.write(body)


class Streamed(web.RequestHandler):
    async def get(self) -> None:
        for i in range(5):
            self.write(f"chunk{i};")
            await self.flush()


class Slow(web.RequestHandler):
    async def get(self) -> None:
        await gen.sleep(0.6)
        self.write("late")


class DigestProtected(web.RequestHandler):
    """Checks RFC 7616 Digest credentials for user "me", password "secret"."""

    def get(self) -> None:
        header = self.request.headers.get("Authorization", "")
        if not header.startswith("Digest "):
            self.set_status(401)
            self.add_header(
                "WWW-Authenticate", 'Basic realm="ignored"'
            )
            self.add_header(
                "WWW-Authenticate",
                'Digest realm="zone", nonce="abc123", qop="auth", opaque="xyz", '
                "algorithm=SHA-256",
            )
            return
        fields = urllib.request.parse_keqv_list(urllib.request.parse_http_list(header[7:]))

        def h(text: str) -> str:
            return hashlib.sha256(text.encode()).hexdigest()

        ha1 = h("me:zone:secret")
        ha2 = h(f"GET:{fields['uri']}")
        expected = h(f"{ha1}:abc123:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
        if fields["response"] != expected or fields["opaque"] != "xyz":
            raise web.HTTPError(403)
        self.write("welcome " + fields["username"])


def make_app() -> web.Application:
    return web.Application(
        [
            ("/echo", Echo),
            ("/r301", Redirect, {"code": 301, "target": "/echo"}),
            ("/r302", Redirect, {"code": 302, "target": "/echo"}),
            ("/r303", Redirect, {"code": 303, "target": "/echo"}),
            ("/r307", Redirect, {"code": 307, "target": "/echo"}),
            ("/r308", Redirect, {"code": 308, "target": "/echo"}),
            ("/loop", Redirect, {"code": 302, "target": "/loop"}),
            ("/gz", Gzipped),
            ("/stream", Streamed),
            ("/slow", Slow),
            ("/digest", DigestProtected),
        ]
    )


class ClientAgainstDualwebTest(AsyncHTTPTestCase):
    def get_app(self) -> web.Application:
        return make_app()

    def json(self, path: str, **kwargs: Any) -> Any:
        response = self.fetch(path, raise_error=True, **kwargs)
        return json.loads(response.body)

    def test_keep_alive_pool_reuses_one_connection(self) -> None:
        first = self.json("/echo")["connection"]
        for _ in range(5):
            self.assertEqual(self.json("/echo")["connection"], first)

    def test_default_headers(self) -> None:
        headers = self.json("/echo")["headers"]
        self.assertEqual(headers["Host"], f"127.0.0.1:{self.get_http_port()}")
        self.assertTrue(headers["User-Agent"].startswith("dualweb/"))
        self.assertEqual(headers["Accept-Encoding"], "gzip, deflate")

    def test_user_agent_auth_and_custom_headers(self) -> None:
        headers = self.json(
            "/echo",
            user_agent="probe/1",
            auth_username="me",
            auth_password="secret",
            headers={"X-Thing": "1"},
        )["headers"]
        self.assertEqual(headers["User-Agent"], "probe/1")
        self.assertEqual(headers["Authorization"], "Basic bWU6c2VjcmV0")
        self.assertEqual(headers["X-Thing"], "1")

    def test_digest_auth(self) -> None:
        response = self.fetch(
            "/digest?x=1", auth_username="me", auth_password="secret", auth_mode="digest"
        )
        self.assertEqual((response.code, response.body), (200, b"welcome me"))
        wrong = self.fetch(
            "/digest", auth_username="me", auth_password="nope", auth_mode="digest"
        )
        self.assertEqual(wrong.code, 403)
        self.assertEqual(self.fetch("/digest").code, 401)
        with pytest.raises(ValueError, match="auth_mode 'ntlm'"):
            self.fetch("/echo", auth_username="a", auth_password="b", auth_mode="ntlm")
        with pytest.raises(ValueError, match="proxy_auth_mode 'digest'"):
            self.fetch("/echo", proxy_host="127.0.0.1", proxy_port=1, proxy_auth_mode="digest")

    def test_post_body_and_content_type(self) -> None:
        data = self.json("/echo", method="POST", body="a=1&b=2")
        self.assertEqual(data["body"], "a=1&b=2")
        self.assertEqual(data["headers"]["Content-Length"], "7")
        self.assertEqual(data["headers"]["Content-Type"], "application/x-www-form-urlencoded")

    def test_body_rules_without_allow_nonstandard_methods(self) -> None:
        with pytest.raises(ValueError, match="Body must not be None for method POST"):
            self.fetch("/echo", method="POST")
        with pytest.raises(ValueError, match="Body must be None for method GET"):
            self.fetch("/echo", body="x")
        response = self.fetch("/echo", method="POST", allow_nonstandard_methods=True)
        self.assertEqual(response.code, 200)

    def test_body_producer_is_sent_chunked(self) -> None:
        async def producer(write: Any) -> None:
            for part in (b"one,", b"two,", b"three"):
                await write(part)

        data = self.json("/echo", method="POST", body_producer=producer)
        self.assertEqual(data["body"], "one,two,three")
        self.assertEqual(data["headers"]["Transfer-Encoding"], "chunked")

    def test_head_has_no_body_and_keeps_the_connection(self) -> None:
        response = self.fetch("/echo", method="HEAD")
        self.assertEqual((response.code, response.body), (200, b""))
        self.assertEqual(self.fetch("/echo").code, 200)

    def test_redirect_method_rules(self) -> None:
        # RFC 9110: 303 -> GET; 301/302 turn POST into GET; 307/308 keep method and body.
        for path, method in [
            ("/r301", "GET"),
            ("/r302", "GET"),
            ("/r303", "GET"),
            ("/r307", "POST"),
            ("/r308", "POST"),
        ]:
            response = self.fetch(path, method="POST", body="payload", raise_error=True)
            data = json.loads(response.body)
            self.assertEqual(data["method"], method, path)
            self.assertEqual(response.effective_url, self.get_url("/echo"))
            if method == "POST":
                self.assertEqual(data["body"], "payload")
            else:
                self.assertNotIn("Content-Length", data["headers"])

    def test_303_keeps_head(self) -> None:
        self.assertEqual(self.fetch("/r303", method="HEAD").code, 200)

    def test_redirect_limits(self) -> None:
        response = self.fetch("/loop", max_redirects=3)
        self.assertEqual(response.code, 302)
        self.assertEqual(response.headers["Location"], "/loop")
        response = self.fetch("/r302", follow_redirects=False)
        self.assertEqual((response.code, response.effective_url), (302, self.get_url("/r302")))
        with pytest.raises(HTTPClientError) as info:
            self.fetch("/loop", raise_error=True)
        self.assertEqual(info.value.code, 302)

    def test_gzip_and_deflate_are_decoded(self) -> None:
        for coding in ("gzip", "deflate", "raw-deflate"):
            response = self.fetch(f"/gz?coding={coding}")
            self.assertEqual(response.body, b"hello compressed world " * 50, coding)
            self.assertNotIn("Content-Encoding", response.headers)
            self.assertIn(response.headers["X-Consumed-Content-Encoding"], ("gzip", "deflate"))
        raw = self.fetch("/gz?coding=gzip", decompress_response=False)
        self.assertEqual(gzip.decompress(raw.body), b"hello compressed world " * 50)
        self.assertEqual(raw.headers["Content-Encoding"], "gzip")

    def test_streaming_and_header_callbacks(self) -> None:
        chunks: list[bytes] = []
        lines: list[str] = []
        response = self.fetch(
            "/stream", streaming_callback=chunks.append, header_callback=lines.append
        )
        self.assertEqual(b"".join(chunks), b"chunk0;chunk1;chunk2;chunk3;chunk4;")
        self.assertEqual(response.body, b"")
        self.assertEqual(lines[0], "HTTP/1.1 200 OK\r\n")
        self.assertEqual(lines[-1], "\r\n")
        self.assertIn("Transfer-Encoding: chunked\r\n", lines)

    def test_request_timeout_is_599_and_connection_dropped(self) -> None:
        with pytest.raises(HTTPTimeoutError) as info:
            self.fetch("/slow", request_timeout=0.2, raise_error=True)
        self.assertEqual(info.value.code, 599)
        self.assertEqual(str(info.value), "Timeout during request")
        # raise_error=False still raises: there is no HTTP response to return.
        with pytest.raises(HTTPTimeoutError):
            self.fetch("/slow", request_timeout=0.2)
        self.assertEqual(self.fetch("/echo").code, 200)
        # Let the abandoned handlers finish, so that no task outlives the test.
        self.io_loop.run_sync(lambda: gen.sleep(0.7))

    def test_max_clients_queues_and_queue_timeout(self) -> None:
        client = AsyncHTTPClient(force_instance=True, max_clients=1)
        self.addCleanup(client.close)

        async def both() -> list[Any]:
            slow = client.fetch(self.get_url("/slow"), request_timeout=5)
            queued = client.fetch(self.get_url("/echo"), request_timeout=0.3)
            return await asyncio.gather(slow, queued, return_exceptions=True)

        slow, queued = self.io_loop.run_sync(both, timeout=10)
        self.assertEqual(slow.body, b"late")
        self.assertIsInstance(queued, HTTPTimeoutError)
        self.assertEqual(str(queued), "Timeout in request queue")

    def test_concurrent_fetches_share_a_bounded_pool(self) -> None:
        async def many() -> set[int]:
            responses = await asyncio.gather(
                *[self.http_client.fetch(self.get_url("/echo")) for _ in range(30)]
            )
            return {json.loads(r.body)["connection"] for r in responses}

        connections = self.io_loop.run_sync(many)
        self.assertLessEqual(len(connections), 10)  # max_clients
        again = self.io_loop.run_sync(many)
        self.assertLessEqual(len(again | connections), 10)

    def test_response_metadata(self) -> None:
        headers = HTTPHeaders({"X-Mine": "1"})
        request = HTTPRequest(self.get_url("/r302"), headers=headers)
        response = self.io_loop.run_sync(lambda: self.http_client.fetch(request))
        self.assertIs(response.request, request)
        self.assertEqual(response.effective_url, self.get_url("/echo"))
        self.assertGreater(response.request_time, 0)
        self.assertIsNotNone(response.start_time)
        self.assertEqual(dict(headers), {"X-Mine": "1"})  # the caller's object is untouched

    def test_max_body_size(self) -> None:
        client = AsyncHTTPClient(force_instance=True, max_body_size=100)
        self.addCleanup(client.close)
        with pytest.raises(HTTPClientError, match="larger than max_body_size"):
            self.io_loop.run_sync(lambda: client.fetch(self.get_url("/gz?coding=gzip")))
        small = self.io_loop.run_sync(lambda: client.fetch(self.get_url("/stream")))
        self.assertEqual(small.code, 200)

    def test_failing_callbacks_fail_the_fetch(self) -> None:
        def explode(_: Any) -> None:
            raise RuntimeError("callback broke")

        for option in ("streaming_callback", "header_callback"):
            with pytest.raises(RuntimeError, match="callback broke"):
                self.fetch("/stream", **{option: explode})
        self.assertEqual(self.fetch("/echo").code, 200)

    def test_failing_body_producer_fails_the_fetch(self) -> None:
        async def producer(write: Any) -> None:
            await write(b"start")
            raise RuntimeError("producer broke")

        with pytest.raises(RuntimeError, match="producer broke"):
            self.fetch("/echo", method="POST", body_producer=producer)
        self.assertEqual(self.fetch("/echo").code, 200)

    def test_network_interface_and_ipv4_only(self) -> None:
        data = self.json("/echo", network_interface="127.0.0.1", allow_ipv6=False)
        self.assertEqual(data["method"], "GET")

    def test_bad_urls(self) -> None:
        cases = [("ftp://127.0.0.1/", "Unsupported url scheme"), ("http:///p", "No host")]
        for url, message in cases:
            with pytest.raises(ValueError, match=message):
                self.io_loop.run_sync(lambda url=url: self.http_client.fetch(url))


class ClientErrorsTest(AsyncTestCase):
    @gen_test
    async def test_connection_refused(self) -> None:
        port = free_port()
        client = AsyncHTTPClient()
        with pytest.raises(ConnectionRefusedError):
            await client.fetch(f"http://127.0.0.1:{port}/")
        with pytest.raises(ConnectionRefusedError):
            await client.fetch(f"http://127.0.0.1:{port}/", raise_error=False)

    @gen_test
    async def test_dns_failure_names_the_host(self) -> None:
        with pytest.raises(socket.gaierror, match=r"no-such-host\.invalid"):
            await AsyncHTTPClient().fetch("http://no-such-host.invalid/")

    @gen_test
    async def test_hostname_mapping(self) -> None:
        peer = await start_peer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        client = SimpleAsyncHTTPClient(
            force_instance=True, hostname_mapping={"example.test": "127.0.0.1"}
        )
        try:
            response = await client.fetch(f"http://example.test:{peer.port}/")
            self.assertEqual(response.body, b"ok")
            self.assertIn(b"Host: example.test:", peer.requests[0])
        finally:
            client.close()
            await peer.stop()

    @gen_test
    async def test_connect_timeout(self) -> None:
        client = AsyncHTTPClient()
        # 10.255.255.1 is not routable: the SYN gets no answer... but that needs
        # a network; a full accept backlog on loopback gives the same silence.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):
                s = socket.socket()
                s.setblocking(False)
                try:
                    s.connect(("127.0.0.1", port))
                except BlockingIOError:
                    pass
                fillers.append(s)
            try:
                await client.fetch(f"http://127.0.0.1:{port}/", connect_timeout=0.3)
            except HTTPTimeoutError as e:
                self.assertEqual(str(e), "Timeout while connecting")
            except HTTPClientError as e:  # pragma: no cover - kernel accepted after all
                self.assertEqual(e.code, 599)
        finally:
            for s in fillers:
                s.close()
            listener.close()

    @gen_test
    async def test_stale_pooled_connection_is_retried_once_for_idempotent(self) -> None:
        # Each connection answers its first request, then closes when the next
        # one arrives, as a server timing out an idle connection at that moment.
        async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await peer.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await reader.readuntil(b"\r\n\r\n")

        peer = await RawPeer(answer_once).start()
        client = AsyncHTTPClient(force_instance=True)
        try:
            self.assertEqual((await client.fetch(peer.url())).body, b"ok")
            self.assertEqual((await client.fetch(peer.url())).body, b"ok")
            self.assertEqual(peer.connections, 2)
            # A POST is not replayed: the caller learns the connection closed.
            with pytest.raises(HTTPStreamClosedError, match="Stream closed"):
                await client.fetch(peer.url(), method="POST", body="x")
            self.assertEqual(peer.connections, 2)
        finally:
            client.close()
            await peer.stop()

    @gen_test
    async def test_ipv6_loopback(self) -> None:
        if not socket.has_ipv6:
            pytest.skip("no IPv6")
        try:
            peer = await start_peer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6", host="::1")
        except OSError:
            pytest.skip("::1 not available")
        try:
            response = await AsyncHTTPClient().fetch(peer.url())
            self.assertEqual(response.body, b"v6")
            self.assertIn(f"Host: [::1]:{peer.port}".encode(), peer.requests[0])
        finally:
            await peer.stop()


# --------------------------------------------------------------------------- TLS and proxies


@pytest.fixture(scope="module")
def tls_files() -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        yield make_ca_and_server_cert(Path(tmp))


def tls_context(files: dict[str, Path], require_client_cert: bool = False) -> ssl.SSLContext:
    """The test server's TLS settings: the certificate the test CA signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(files["cert"]), str(files["key"]))
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(str(files["ca"]))
    return context


def test_https_validates_against_the_test_ca(tls_files: dict[str, Path]) -> None:
    async def main() -> None:
        client = AsyncHTTPClient(force_instance=True)
        async with serving(make_app(), ssl_options=tls_context(tls_files)) as (_, port):
            url = f"https://localhost:{port}/echo"
            try:
                response = await client.fetch(url, ca_certs=str(tls_files["ca"]))
                assert json.loads(response.body)["method"] == "GET"
                ip_url = f"https://127.0.0.1:{port}/echo"
                assert (await client.fetch(ip_url, ca_certs=str(tls_files["ca"]))).code == 200
                with pytest.raises(ssl.SSLCertVerificationError):
                    await client.fetch(url, ca_certs=str(tls_files["other_ca"]))
                with pytest.raises(ssl.SSLCertVerificationError):
                    await client.fetch(url)  # the system CAs do not know the test CA
                assert (await client.fetch(url, validate_cert=False)).code == 200
                context = ssl.create_default_context(cafile=str(tls_files["ca"]))
                assert (await client.fetch(url, ssl_options=context)).code == 200
            finally:
                client.close()

    run(main)


def test_https_client_certificate(tls_files: dict[str, Path]) -> None:
    async def main() -> None:
        client = AsyncHTTPClient(force_instance=True)
        options = tls_context(tls_files, require_client_cert=True)
        async with serving(make_app(), ssl_options=options) as (_, port):
            url = f"https://localhost:{port}/echo"
            try:
                response = await client.fetch(
                    url,
                    ca_certs=str(tls_files["ca"]),
                    client_cert=str(tls_files["client_cert"]),
                    client_key=str(tls_files["client_key"]),
                )
                assert response.code == 200
                # Without the certificate the server ends the handshake.
                with pytest.raises((ssl.SSLError, OSError, HTTPClientError)):
                    await client.fetch(url, ca_certs=str(tls_files["ca"]))
            finally:
                client.close()

    run(main)


def test_http_proxy_uses_absolute_form(tls_files: dict[str, Path]) -> None:
    async def main() -> None:
        proxy = await TinyProxy().start()
        origin = await start_peer(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nproxied")
        client = AsyncHTTPClient(force_instance=True)
        try:
            response = await client.fetch(
                origin.url("/path?q=1"),
                proxy_host="127.0.0.1",
                proxy_port=proxy.port,
                proxy_username="u",
                proxy_password="p",
            )
            assert response.body == b"proxied"
            assert proxy.lines == [f"GET http://127.0.0.1:{origin.port}/path?q=1 HTTP/1.1"]
            assert proxy.auth == ["Basic dTpw"]
            assert b"Proxy-Authorization" not in origin.requests[0]
        finally:
            client.close()
            await proxy.stop()
            await origin.stop()

    run(main)


def test_https_through_proxy_uses_connect(tls_files: dict[str, Path]) -> None:
    async def main() -> None:
        proxy = await TinyProxy().start()
        client = AsyncHTTPClient(force_instance=True)
        async with serving(make_app(), ssl_options=tls_context(tls_files)) as (_, port):
            try:
                response = await client.fetch(
                    f"https://localhost:{port}/echo",
                    proxy_host="127.0.0.1",
                    proxy_port=proxy.port,
                    proxy_username="u",
                    proxy_password="p",
                    ca_certs=str(tls_files["ca"]),
                )
                assert json.loads(response.body)["method"] == "GET"
                assert proxy.lines == [f"CONNECT localhost:{port} HTTP/1.1"]
                assert proxy.auth == ["Basic dTpw"]
            finally:
                client.close()
                await proxy.stop()

    run(main)


def test_request_object_and_options_are_exclusive() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="can't be combined"):
            AsyncHTTPClient().fetch(HTTPRequest("http://127.0.0.1/"), method="POST")

    run(main)
