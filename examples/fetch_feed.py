"""The Tornado notes' three ways to fetch a feed from a handler, plus a blocking one.

Natively: ``python examples/fetch_feed.py --port 8888 --feed-url URL``; then

* ``/coroutine`` uses ``@gen.coroutine`` and ``response = yield http.fetch(...)``;
* ``/callback`` uses ``@web.asynchronous`` and ``http.fetch(url, callback=...)``;
* ``/await`` uses ``async def`` and ``await http.fetch(...)``;
* ``/blocking`` uses the blocking ``HTTPClient`` (for WSGI; natively it refuses
  to block the event loop and answers 500).

Under WSGI (``FEED_URL=... gunicorn fetch_feed:wsgi``) only ``/blocking`` and
``/`` work; the async routes answer 500 with a message saying they need the
native server. ``URL`` must answer JSON with an ``entries`` list (the notes
used ``http://friendfeed-api.com/v2/feed/bret``, long gone).
"""

from __future__ import annotations

import argparse
import asyncio
import os

import dualweb.escape
import dualweb.gen
import dualweb.httpclient
import dualweb.web
from dualweb.wsgi import WSGIAdapter

FEED_URL = os.environ.get("FEED_URL", "http://friendfeed-api.com/v2/feed/bret")


class CoroutineHandler(dualweb.web.RequestHandler):
    @dualweb.gen.coroutine
    def get(self):  # type: ignore[no-untyped-def]
        http = dualweb.httpclient.AsyncHTTPClient()
        response = yield http.fetch(FEED_URL)
        json = dualweb.escape.json_decode(response.body)
        self.write("Fetched " + str(len(json["entries"])) + " entries from the FriendFeed API")


class CallbackHandler(dualweb.web.RequestHandler):
    @dualweb.web.asynchronous
    def get(self) -> None:
        http = dualweb.httpclient.AsyncHTTPClient()
        http.fetch(FEED_URL, callback=self.on_response)

    def on_response(self, response: dualweb.httpclient.HTTPResponse) -> None:
        if response.error:
            raise dualweb.web.HTTPError(500)
        json = dualweb.escape.json_decode(response.body)
        self.write("Fetched " + str(len(json["entries"])) + " entries from the FriendFeed API")
        self.finish()


class AwaitHandler(dualweb.web.RequestHandler):
    async def get(self) -> None:
        http = dualweb.httpclient.AsyncHTTPClient()
        response = await http.fetch(FEED_URL)
        json = dualweb.escape.json_decode(response.body)
        self.write("Fetched " + str(len(json["entries"])) + " entries from the FriendFeed API")


class BlockingHandler(dualweb.web.RequestHandler):
    def get(self) -> None:
        http = dualweb.httpclient.HTTPClient()
        try:
            response = http.fetch(FEED_URL)
        finally:
            http.close()
        json = dualweb.escape.json_decode(response.body)
        self.write("Fetched " + str(len(json["entries"])) + " entries (blocking client)")


class MainHandler(dualweb.web.RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


def make_app() -> dualweb.web.Application:
    return dualweb.web.Application(
        [
            (r"/", MainHandler),
            (r"/coroutine", CoroutineHandler),
            (r"/callback", CallbackHandler),
            (r"/await", AwaitHandler),
            (r"/blocking", BlockingHandler),
        ]
    )


wsgi = WSGIAdapter(make_app())


async def main(port: int) -> None:
    app = make_app()
    app.listen(port)
    print(f"Listening on http://127.0.0.1:{port}/ (feed: {FEED_URL})", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--feed-url", default=FEED_URL)
    arguments = parser.parse_args()
    FEED_URL = arguments.feed_url
    asyncio.run(main(arguments.port))
