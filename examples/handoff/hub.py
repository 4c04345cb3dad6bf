"""What both sample apps need of the keyway hub: discovery, verifying the hub's JWTs with its
JWKS, the code flow's PKCE and state, a tiny cookie session, and HTML pages.

Only the Python standard library, `requests` and PyJWT (`pip install requests pyjwt[crypto]`).
"""

import base64
import hashlib
import html
import json
import os
import secrets
import sys
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import requests

TIMEOUT = 10


def setting(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"set {name} (see examples/handoff/README.md)")
    return value


class Hub:
    """The hub as a client sees it: metadata, keys, and the token endpoint."""

    def __init__(self, url, client_id, client_secret):
        self.url = url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.meta = requests.get(f"{self.url}/.well-known/openid-configuration", timeout=TIMEOUT).json()
        self.keys = jwt.PyJWKClient(self.meta["jwks_uri"])

    def verify(self, token, audience, typ=None):
        """A JWT the hub signed, for `audience`: its claims (raises on anything wrong)."""
        key = self.keys.get_signing_key_from_jwt(token)
        if typ is not None and jwt.get_unverified_header(token).get("typ") != typ:
            raise jwt.InvalidTokenError(f"typ is not {typ}")
        return jwt.decode(token, key.key, algorithms=[key.algorithm_name], audience=audience, issuer=self.meta["issuer"])

    def post(self, path_or_url, fields, bearer=None):
        url = path_or_url if path_or_url.startswith("http") else f"{self.url}{path_or_url}"
        auth = None if bearer else (self.client_id, self.client_secret)
        headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
        return requests.post(url, data=fields, auth=auth, headers=headers, timeout=TIMEOUT)

    def authorize_url(self, redirect_uri, scope, session, **extra):
        """A code-flow request with state and PKCE, remembered in `session`."""
        verifier = secrets.token_urlsafe(48)
        state = secrets.token_urlsafe(16)
        session["pending"] = {"state": state, "verifier": verifier, "redirect_uri": redirect_uri}
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        return f"{self.meta['authorization_endpoint']}?{urlencode(query)}"

    def finish(self, query, session):
        """The callback of a request made by authorize_url: the token response, or the error."""
        pending = session.pop("pending", None)
        if not pending or query.get("state") != pending["state"]:
            return None, "this answer does not belong to a sign-in this browser started"
        if "error" in query:
            return None, query["error"]
        answer = self.post(
            "/oauth2/token",
            {
                "grant_type": "authorization_code",
                "code": query.get("code", ""),
                "redirect_uri": pending["redirect_uri"],
                "code_verifier": pending["verifier"],
            },
        )
        if answer.status_code != 200:
            return None, answer.text
        return answer.json(), None


SESSIONS = {}


class Page(BaseHTTPRequestHandler):
    """A request handler with a cookie session and small HTML pages."""

    app_name = "app"
    # Cookies are per host, not per port: apps on one host need names of their own.
    cookie_name = "sid"

    def log_message(self, *args):
        pass

    @property
    def session(self):
        if not hasattr(self, "_session"):
            cookie = SimpleCookie(self.headers.get("cookie", ""))
            name = self.cookie_name
            sid = cookie[name].value if name in cookie else None
            if sid not in SESSIONS:
                sid = secrets.token_urlsafe(24)
                SESSIONS[sid] = {}
            self._sid = sid
            self._session = SESSIONS[sid]
        return self._session

    def query(self):
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def path_only(self):
        return urlsplit(self.path).path

    def send(self, status, body, content_type="text/html; charset=utf-8", headers=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.send_header("cache-control", "no-store")
        if hasattr(self, "_sid"):
            self.send_header("set-cookie", f"{self.cookie_name}={self._sid}; Path=/; HttpOnly; SameSite=Lax")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def redirect(self, location):
        self.send(303, "", headers=[("location", location)])

    def page(self, title, body, status=200):
        self.send(
            status,
            f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)} · {self.app_name}</title></head>"
            f"<body><h1>{html.escape(self.app_name)}: {html.escape(title)}</h1>{body}</body></html>",
        )

    def json(self, status, value):
        self.send(status, json.dumps(value), content_type="application/json")


def serve(handler, port):
    server = ThreadingHTTPServer(("127.0.0.1", int(port)), handler)
    print(f"{handler.app_name} on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


esc = html.escape
