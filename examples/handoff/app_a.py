#!/usr/bin/env python3
"""Sample app A ("Shop"): people sign in through the hub; its menu hands them over to app B
(POST /oauth2/transmit) and calls B's API through the hub's gateway.

Environment: KEYWAY_HUB_URL, A_CLIENT_ID, A_CLIENT_SECRET, A_PORT, B_CLIENT_ID.
"""

import json

from hub import Hub, Page, esc, serve, setting

HUB = Hub(setting("KEYWAY_HUB_URL"), setting("A_CLIENT_ID"), setting("A_CLIENT_SECRET"))
PORT = setting("A_PORT")
B = setting("B_CLIENT_ID")
CALLBACK = f"http://127.0.0.1:{PORT}/callback"


class App(Page):
    cookie_name = "shop_session"
    app_name = "Shop (app A)"

    def do_GET(self):
        path = self.path_only()
        if path == "/":
            return self.home()
        if path == "/login":
            return self.redirect(HUB.authorize_url(CALLBACK, "openid contact.read", self.session))
        if path == "/callback":
            tokens, error = HUB.finish(self.query(), self.session)
            if error:
                return self.page("sign-in failed", f"<p id=error>{esc(error)}</p>", 400)
            claims = HUB.verify(tokens["id_token"], HUB.client_id)
            self.session.update(user=claims["preferred_username"], token=tokens["access_token"])
            return self.redirect("/")
        if path == "/call-b":
            return self.call_b()
        if path == "/exchange-for-b":
            return self.exchange_for_b()
        self.page("not found", "", 404)

    def do_POST(self):
        if self.path_only() == "/open-in-b":
            return self.open_in_b()
        self.page("not found", "", 404)

    def home(self):
        user = self.session.get("user")
        if not user:
            return self.page("welcome", '<p><a id=login href="/login">Sign in</a></p>')
        self.page(
            "home",
            f"<p>Signed in as <b id=user>{esc(user)}</b>.</p>"
            '<form method=post action="/open-in-b"><button id=open-in-b>Open my orders in app B</button></form>'
            '<p><a id=call-b href="/call-b">Ask app B who I am (through the gateway)</a></p>'
            '<p><a id=exchange href="/exchange-for-b">Exchange my token for one meant for app B (RFC 8693)</a></p>',
        )

    def open_in_b(self):
        token = self.session.get("token")
        if not token:
            return self.redirect("/")
        answer = HUB.post(
            "/oauth2/transmit",
            {
                "to": B,
                "subject_token": token,
                "transmit_fun": "orders:open",
                "transmit_data": '{"cart":"42"}',
            },
        )
        if answer.status_code != 200:
            return self.page("handover refused", f"<p id=error>{esc(answer.text)}</p>", 502)
        self.redirect(answer.json()["redirect_to"])

    def call_b(self):
        token = self.session.get("token")
        if not token:
            return self.redirect("/")
        import requests

        answer = requests.get(f"{HUB.meta['global_url']}/{B}/whoami", headers={"authorization": f"Bearer {token}"}, timeout=10)
        self.page("app B says", f"<pre id=answer>{esc(answer.text)}</pre><p>status {answer.status_code}</p>")


    def exchange_for_b(self):
        """RFC 8693: the person's token at A traded for one meant for B (act = A)."""
        token = self.session.get("token")
        if not token:
            return self.redirect("/")
        answer = HUB.post(
            "/oauth2/token",
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": token,
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "audience": B,
            },
        )
        if answer.status_code != 200:
            return self.page("exchange refused", f"<p id=error>{esc(answer.text)}</p>", 502)
        claims = HUB.verify(answer.json()["access_token"], B, typ="at+jwt")
        shown = {k: claims.get(k) for k in ("sub", "username", "act", "aud", "scope", "exp")}
        self.page("a token for app B", f"<pre id=exchanged>{esc(json.dumps(shown, indent=1))}</pre>")


if __name__ == "__main__":
    serve(App, PORT)
