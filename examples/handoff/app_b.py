#!/usr/bin/env python3
"""Sample app B ("Orders"): receives people handed over by app A at its transmit URL, checks
the signed answer, redeems the code, confirms that the browser is that person's
(prompt=none + id_token_hint), and serves an API that verifies the hub's tokens.

Environment: KEYWAY_HUB_URL, B_CLIENT_ID, B_CLIENT_SECRET, B_PORT.
Registered with --transmit-url http://127.0.0.1:B_PORT/from-a,
--redirect-uri http://127.0.0.1:B_PORT/confirm and --api-url http://127.0.0.1:B_PORT/api.
"""

import json

from hub import Hub, Page, esc, serve, setting

HUB = Hub(setting("KEYWAY_HUB_URL"), setting("B_CLIENT_ID"), setting("B_CLIENT_SECRET"))
PORT = setting("B_PORT")
BASE = f"http://127.0.0.1:{PORT}"
TRANSMIT_URL = f"{BASE}/from-a"
CONFIRM = f"{BASE}/confirm"
API_URL = f"{BASE}/api"


class App(Page):
    cookie_name = "orders_session"
    app_name = "Orders (app B)"

    def do_GET(self):
        path = self.path_only()
        if path == "/":
            return self.home()
        if path == "/from-a":
            return self.from_a()
        if path == "/confirm":
            return self.confirm()
        if path == "/api/whoami":
            return self.whoami()
        self.page("not found", "", 404)

    def home(self):
        user = self.session.get("user")
        if not user:
            return self.page("welcome", "<p>Nobody is signed in here.</p>")
        handed = self.session.get("handed", {})
        self.page(
            "home",
            f"<p>Signed in as <b id=user>{esc(user)}</b>, handed over from "
            f"<b id=from>{esc(handed.get('from', ''))}</b> ({esc(handed.get('type', ''))}).</p>"
            f"<p>Asked to <b id=fun>{esc(handed.get('transmit_fun', ''))}</b> with "
            f"<code id=data>{esc(handed.get('transmit_data', ''))}</code>.</p>",
        )

    def from_a(self):
        """The hub's signed answer (JARM): check it, redeem the code, then confirm."""
        try:
            answer = HUB.verify(self.query().get("response", ""), HUB.client_id)
        except Exception as error:  # a forged or tampered answer
            return self.page("refused", f"<p id=error>not a signed answer of the hub: {esc(str(error))}</p>", 400)
        if "error" in answer:
            return self.page("refused", f"<p id=error>{esc(answer['error'])}</p>", 400)
        tokens = HUB.post(
            "/oauth2/token",
            {"grant_type": "authorization_code", "code": answer["code"], "redirect_uri": TRANSMIT_URL},
        )
        if tokens.status_code != 200:
            return self.page("refused", f"<p id=error>{esc(tokens.text)}</p>", 400)
        tokens = tokens.json()
        claims = HUB.verify(tokens["id_token"], HUB.client_id)
        if claims.get("transmitted_from") != answer.get("from"):
            return self.page("refused", "<p id=error>the tokens do not come from this handover</p>", 400)
        # Not signed in yet: a handover carries no state, so ask the hub whether the browser in
        # front of us is this person's (docs/oauth.md, "Transmit", step 5).
        self.session["arriving"] = {
            "user": claims["preferred_username"],
            "sub": claims["sub"],
            "handed": {k: answer.get(k) for k in ("from", "transmit_fun", "transmit_data", "type")},
        }
        self.redirect(HUB.authorize_url(CONFIRM, "openid", self.session, prompt="none", id_token_hint=tokens["id_token"]))

    def confirm(self):
        arriving = self.session.pop("arriving", None)
        tokens, error = HUB.finish(self.query(), self.session)
        if arriving is None or error:
            return self.page("handover refused", f"<p id=error>this browser is not the person handed over ({esc(error or 'no handover')})</p>", 403)
        if HUB.verify(tokens["id_token"], HUB.client_id)["sub"] != arriving["sub"]:
            return self.page("handover refused", "<p id=error>another person</p>", 403)
        self.session.update(user=arriving["user"], handed=arriving["handed"])
        self.redirect("/")

    def whoami(self):
        """B's API: only tokens the hub minted for it (audience = its API URL)."""
        auth = self.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return self.json(401, {"error": "no bearer token"})
        try:
            claims = HUB.verify(auth[7:], API_URL, typ="at+jwt")
        except Exception as error:
            return self.json(401, {"error": str(error)})
        self.json(200, {k: claims.get(k) for k in ("sub", "username", "act", "scope", "client_id")})


if __name__ == "__main__":
    serve(App, PORT)
