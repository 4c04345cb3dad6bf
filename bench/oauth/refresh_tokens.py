"""Makes refresh tokens for bench/oauth/refresh.sh: one person signs in at the hub's login page
(as a browser does: the form, then Allow), then the same session authorizes COUNT more code
flows (consent remembered), each code redeemed for a refresh token. Standard library only.

    python3 refresh_tokens.py HUB_URL CLIENT_ID CLIENT_SECRET USERNAME PASSWORD SCOPE COUNT OUT
"""

import base64
import hashlib
import http.cookiejar
import json
import re
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request

REDIRECT = "http://127.0.0.1:9/cb"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def main():
    hub, client_id, secret, username, password, scope, count, out = sys.argv[1:9]
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar), NoRedirect()
    )
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()

    def send(url, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with opener.open(urllib.request.Request(url, data=data), timeout=10) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def field(html, name):
        found = re.search(f'name="{name}" value="([^"]*)"', html)
        if not found:
            sys.exit(f"no {name} field in:\n{html}")
        return found.group(1)

    def code_flow():
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": REDIRECT,
                "scope": scope,
                "state": secrets.token_urlsafe(8),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        status, headers, body = send(f"{hub}/oauth2/authorize?{query}")
        if status == 200 and 'action="/oauth2/login"' in body:
            status, headers, body = send(
                f"{hub}/oauth2/login",
                {
                    "request_id": field(body, "request_id"),
                    "csrf": field(body, "csrf"),
                    "username": username,
                    "password": password,
                },
            )
        if status == 200 and "decision" in body:
            status, headers, body = send(
                f"{hub}/oauth2/consent",
                {
                    "request_id": field(body, "request_id"),
                    "csrf": field(body, "csrf"),
                    "decision": "allow",
                },
            )
        location = headers.get("Location", "") if headers else ""
        code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query).get("code")
        if status not in (302, 303) or not code:
            sys.exit(f"no code: HTTP {status} {location}\n{body[:2000]}")
        request = urllib.request.Request(
            f"{hub}/oauth2/token",
            data=urllib.parse.urlencode(
                {
                    "grant_type": "authorization_code",
                    "code": code[0],
                    "redirect_uri": REDIRECT,
                    "code_verifier": verifier,
                }
            ).encode(),
            headers={"Authorization": f"Basic {basic}"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            tokens = json.load(r)
        return tokens["refresh_token"], tokens["scope"]

    with open(out, "w") as f:
        for i in range(int(count)):
            token, granted = code_flow()
            if i == 0:
                print(granted)
            f.write(token + "\n")


if __name__ == "__main__":
    main()
