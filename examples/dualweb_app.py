"""One dualweb application, served two ways.

Under any WSGI server (async features disabled, see /async)::

    cd examples && gunicorn dualweb_app:wsgi

Natively, on dualweb's own non-blocking server::

    python examples/dualweb_app.py [port]

Routes:

* ``/``          links to everything below
* ``/api``       a JSON document
* ``/form``      GET shows a form, POST echoes the submitted fields
* ``/login``     sets a signed ``user`` cookie; ``/private`` needs it (``@authenticated``);
  ``/logout`` clears it
* ``/async``     an ``async def`` handler: works natively; under WSGI it answers 500 and the
  log names ``AsyncHandler.get`` and the fix
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from dualweb.escape import xhtml_escape
from dualweb.web import Application, RequestHandler, authenticated
from dualweb.wsgi import WSGIAdapter

# A fixed secret keeps the demo reproducible; real deployments must set their own.
COOKIE_SECRET = os.environ.get("DUALWEB_COOKIE_SECRET", "demo-secret-change-me")


class BaseHandler(RequestHandler):
    """Reads the logged-in user from the signed ``user`` cookie."""

    def get_current_user(self) -> str | None:
        value = self.get_signed_cookie("user")
        return value.decode("utf-8") if value else None


class HomeHandler(BaseHandler):
    def get(self) -> None:
        user = self.current_user
        self.write(
            "<h1>dualweb demo</h1><ul>"
            '<li><a href="/api">/api</a> (JSON)</li>'
            '<li><a href="/form">/form</a></li>'
            '<li><a href="/private">/private</a> (login required)</li>'
            '<li><a href="/async">/async</a> (native only)</li></ul>'
            + (f"<p>Logged in as {xhtml_escape(user)}. <a href='/logout'>Log out</a></p>"
               if user else "<p><a href='/login'>Log in</a></p>")
        )


class ApiHandler(RequestHandler):
    def get(self) -> None:
        name = self.get_query_argument("name", "world")
        self.write({"hello": name, "path": self.request.path, "method": self.request.method})


class FormHandler(RequestHandler):
    def get(self) -> None:
        self.write(
            '<form method="post" action="/form">'
            '<input name="name"> <input name="color"> <button>Send</button></form>'
        )

    def post(self) -> None:
        fields = {key: self.get_body_argument(key) for key in self.request.body_arguments}
        self.write({"received": fields})


class LoginHandler(BaseHandler):
    def get(self) -> None:
        next_url = xhtml_escape(self.get_query_argument("next", "/private"))
        self.write(
            f'<form method="post" action="/login?next={next_url}">'
            '<input name="name"> <button>Log in</button></form>'
        )

    def post(self) -> None:
        name = self.get_body_argument("name", "").strip()
        if not name:
            self.set_status(400)
            self.write("a name is required")
            return
        self.set_signed_cookie("user", name)
        next_url = self.get_query_argument("next", "/private")
        # Only local redirects: never bounce a user to another site.
        self.redirect(next_url if next_url.startswith("/") and not next_url.startswith("//")
                      else "/private")


class PrivateHandler(BaseHandler):
    @authenticated
    def get(self) -> None:
        self.write(f"Hello, {xhtml_escape(self.current_user or '')}! This page needs a login.")


class LogoutHandler(BaseHandler):
    def get(self) -> None:
        self.clear_cookie("user")
        self.redirect("/")


class AsyncHandler(RequestHandler):
    """Needs the native server: under WSGI this is a 500 with a precise log message."""

    async def get(self) -> None:
        await asyncio.sleep(0)
        self.write("this ran on dualweb's native server")


def make_app(**settings: Any) -> Application:
    """Build the demo application; ``settings`` override the defaults."""
    options: dict[str, Any] = {
        "cookie_secret": COOKIE_SECRET,
        "login_url": "/login",
    }
    options.update(settings)
    return Application(
        [
            (r"/", HomeHandler),
            (r"/api", ApiHandler),
            (r"/form", FormHandler),
            (r"/login", LoginHandler),
            (r"/private", PrivateHandler),
            (r"/logout", LogoutHandler),
            (r"/async", AsyncHandler),
        ],
        **options,
    )


async def main(port: int) -> None:
    """Serve the app natively on ``port`` until interrupted."""
    app = make_app()
    app.listen(port)
    print(f"dualweb native server on http://127.0.0.1:{port}/", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        import dualweb.httpserver  # noqa: F401 - checks the native server is available
    except ImportError:
        sys.exit("dualweb's native server is not available; use: gunicorn dualweb_app:wsgi")
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8888))
else:
    # The WSGI entry point: `gunicorn dualweb_app:wsgi`. Building it warns once
    # that /async needs the native server (not built when serving natively).
    wsgi = WSGIAdapter(make_app())
