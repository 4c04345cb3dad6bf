#!/usr/bin/env python3
"""Authorization code + PKCE (S256) + refresh against a keyway hub with Authlib.

The browser part (login and consent forms) is played by a requests.Session that reads the
hidden form fields from the HTML; the final redirect to the client's redirect URI is read from
the Location header and never followed (nobody needs to listen there). Access and ID tokens are
verified with PyJWT and jwcrypto.

Usage: authorization_code.py [--hub URL] [--client-id ID] [--client-secret S] [--scope "openid a"]
                             [--redirect-uri URI] [--username U] [--password P]
(each defaults to the KEYWAY_* variable of the same name: KEYWAY_HUB_URL, KEYWAY_CLIENT_ID, …).
The client needs the authorization_code and refresh_token grants and that redirect URI.
"""

import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from common import (
    TIMEOUT,
    Failure,
    check,
    discover,
    half_hash_matches,
    main,
    settings,
    step,
    verify_access_token,
    verify_jwcrypto,
    verify_pyjwt,
)


class Forms(HTMLParser):
    """The forms of a page: action, method, hidden/text fields, and submit buttons."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "method": attrs.get("method", "get").lower(), "fields": {}, "buttons": []})
        elif self.forms and tag == "input" and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")
        elif self.forms and tag == "button" and attrs.get("name"):
            self.forms[-1]["buttons"].append((attrs["name"], attrs.get("value", "")))


def page_message(html):
    """The error shown on a hub page (class="error"), or the start of the page."""
    found = re.search(r'<p class="error"[^>]*>(.*?)</p>', html, re.S)
    text = found.group(1) if found else html[:500]
    return unescape(re.sub(r"<[^>]+>", "", text)).strip()


def only_form(response):
    parser = Forms()
    parser.feed(response.text)
    check(len(parser.forms) == 1, f"expected one form at {response.url}, got {len(parser.forms)}:\n{response.text[:2000]}")
    form = parser.forms[0]
    check(form["method"] == "post", f"form method {form['method']!r}")
    return form


def browse(args, authorize_url):
    """Plays the user: login, consent (allow). Returns the redirect URI with code, state, iss."""
    browser = requests.Session()
    response = browser.get(authorize_url, allow_redirects=False, timeout=TIMEOUT)
    check(response.status_code == 200, f"authorize: {response.status_code} {response.text[:500]}")
    check("keyway_browser" in browser.cookies, "no keyway_browser cookie after /authorize")
    form = only_form(response)
    for field in ("request_id", "csrf", "username", "password"):
        check(field in form["fields"], f"login form lacks {field!r}: {form}")
    data = dict(form["fields"], username=args.username, password=args.password)
    url = urljoin(response.url, form["action"])
    response = browser.post(url, data=data, allow_redirects=False, timeout=TIMEOUT)
    step(f"login form posted to {form['action']}: {response.status_code}")
    for _hop in range(10):
        if response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(args.redirect_uri):
                return location
            response = browser.get(location, allow_redirects=False, timeout=TIMEOUT)
            continue
        check(response.status_code == 200, f"{response.url}: {response.status_code}: {page_message(response.text)}")
        form = only_form(response)
        check(("decision", "allow") in form["buttons"], f"no Allow button on the consent page: {form}")
        url = urljoin(response.url, form["action"])
        response = browser.post(url, data=dict(form["fields"], decision="allow"), allow_redirects=False, timeout=TIMEOUT)
        step(f"consent form posted to {form['action']}: {response.status_code}")
    raise Failure("no redirect to the redirect URI after 10 steps")


def check_callback(callback, args, state):
    params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    check("error" not in params, f"the hub redirected with an error: {params}")
    check(params.get("state") == state, f"state {params.get('state')!r}, want {state!r}")
    check(params.get("iss") == args.issuer, f"RFC 9207 iss {params.get('iss')!r}, want {args.issuer!r}")
    check(params.get("code"), f"no code in {callback}")
    step("callback has code, state and iss")
    return params


def verify_id_token(id_token, access_token, meta, args, nonce):
    claims = verify_pyjwt(id_token, meta, args.client_id, what="id_token")
    verify_jwcrypto(id_token, meta, args.client_id, what="id_token")
    check(claims.get("nonce") == nonce, f"id_token nonce {claims.get('nonce')!r}, want {nonce!r}")
    check("auth_time" in claims, f"id_token lacks auth_time: {claims}")
    if "at_hash" in claims:
        which = half_hash_matches(access_token, claims["at_hash"])
        check(which is not None, f"id_token at_hash {claims['at_hash']!r} matches no half-hash of the access token")
        # OIDC Core: the hash of the ID token's alg; for EdDSA with Ed25519 that is SHA-512
        # (OpenID connect issue #1125, Token Hash Algorithms guide). Lenient unless strict.
        want = {"EdDSA": "sha512", "ES256": "sha256"}.get(jwt.get_unverified_header(id_token)["alg"])
        check(which == want, f"id_token at_hash uses {which}, but {want} is standard for this alg")
        step(f"at_hash is the left half of {which}")
    return claims


def run():
    args = settings(__doc__, need_user=True)
    meta = discover(args)
    session = OAuth2Session(
        args.client_id,
        args.client_secret,
        scope=args.scope,
        redirect_uri=args.redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(64)
    nonce = generate_token(24)
    authorize_url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    callback = browse(args, authorize_url)
    check_callback(callback, args, state)

    token = session.fetch_token(meta["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
    step(f"Authlib fetch_token: {sorted(token.keys())}")
    check(str(token.get("token_type", "")).lower() == "bearer", f"token_type {token.get('token_type')!r}")
    for field in ("access_token", "refresh_token", "id_token", "expires_in"):
        check(field in token, f"token response lacks {field}: {sorted(token.keys())}")
    claims = verify_access_token(token["access_token"], meta, args.client_id, args.scope)
    id_claims = verify_id_token(token["id_token"], token["access_token"], meta, args, nonce)
    check(id_claims["sub"] == claims["sub"], f"id_token sub {id_claims['sub']!r} != access token sub {claims['sub']!r}")

    userinfo = session.get(meta["userinfo_endpoint"], timeout=TIMEOUT)
    check(userinfo.status_code == 200, f"userinfo: {userinfo.status_code} {userinfo.text}")
    info = userinfo.json()
    check(info.get("sub") == claims["sub"], f"userinfo sub {info.get('sub')!r}")
    check(info.get("preferred_username") == args.username, f"userinfo preferred_username {info.get('preferred_username')!r}")
    step("userinfo answers for the user")

    refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    step(f"Authlib refresh_token: {sorted(refreshed.keys())}")
    check(refreshed["access_token"] != token["access_token"], "refresh returned the same access token")
    new_claims = verify_access_token(refreshed["access_token"], meta, args.client_id, args.scope)
    check(new_claims["sub"] == claims["sub"], "the refreshed token is for another subject")
    if "id_token" in refreshed:
        # OIDC Core §12.2: same iss, sub, aud; auth_time of the original sign-in; nonce, if
        # any, the original one.
        again = verify_pyjwt(refreshed["id_token"], meta, args.client_id, what="refreshed id_token")
        for claim in ("sub", "auth_time"):
            check(again.get(claim) == id_claims.get(claim), f"refreshed id_token {claim} {again.get(claim)!r}, want {id_claims.get(claim)!r}")
        check(again.get("nonce") in (None, nonce), f"refreshed id_token nonce {again.get('nonce')!r}")
    new_refresh = refreshed.get("refresh_token", token["refresh_token"])

    # Revoking the refresh token ends the grant (RFC 7009).
    response = session.revoke_token(meta["revocation_endpoint"], token=new_refresh, token_type_hint="refresh_token")
    check(response.status_code == 200, f"revoke: {response.status_code} {response.text}")
    try:
        session.refresh_token(meta["token_endpoint"], refresh_token=new_refresh)
    except OAuthError as error:
        check(error.error == "invalid_grant", f"a revoked refresh token gave {error.error!r}, want invalid_grant")
        step("revoked refresh token: invalid_grant")
    else:
        raise Failure("a revoked refresh token still works")
    # The code is single-use (RFC 6749 §4.1.2); the replay comes last because the hub may (and
    # should) revoke what the code gave when it is replayed.
    replay = OAuth2Session(args.client_id, args.client_secret, redirect_uri=args.redirect_uri)
    try:
        replay.fetch_token(meta["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
    except OAuthError as error:
        check(error.error == "invalid_grant", f"a replayed code gave {error.error!r}, want invalid_grant")
        step("replayed code: invalid_grant")
    else:
        raise Failure("the authorization code was accepted twice")


if __name__ == "__main__":
    main(run)
