#!/usr/bin/env python3
"""client_credentials against a keyway hub with Authlib, tokens checked with PyJWT and jwcrypto.

Usage: client_credentials.py [--hub URL] [--client-id ID] [--client-secret S] [--scope "a b"]
(each option defaults to KEYWAY_HUB_URL, KEYWAY_CLIENT_ID, KEYWAY_CLIENT_SECRET, KEYWAY_SCOPE).
The client must be registered with the client_credentials grant and the given scope.
"""

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from common import Failure, check, discover, main, settings, step, verify_access_token

RESOURCE = "https://api.example.test/"


def fetch(meta, args, method, **extra):
    session = OAuth2Session(
        args.client_id,
        args.client_secret,
        scope=args.scope,
        token_endpoint_auth_method=method,
    )
    token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials", **extra)
    check(str(token.get("token_type", "")).lower() == "bearer", f"token_type {token.get('token_type')!r}")
    check(isinstance(token.get("expires_in"), int) and token["expires_in"] > 0, f"expires_in {token.get('expires_in')!r}")
    check("refresh_token" not in token, "client_credentials should not issue a refresh token (RFC 6749 §4.4.3)")
    return session, token


def run():
    args = settings(__doc__)
    meta = discover(args)

    for method in ("client_secret_basic", "client_secret_post"):
        session, token = fetch(meta, args, method)
        step(f"Authlib fetch_token with {method}: scope {token.get('scope')!r}")
        claims = verify_access_token(token["access_token"], meta, args.client_id, args.scope)
        check(claims["sub"] == args.client_id, f"sub {claims['sub']!r}, want the client_id")

    # A narrower scope is granted as asked.
    first = args.scope.split()[0]
    narrow = OAuth2Session(args.client_id, args.client_secret, scope=first)
    token = narrow.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    verify_access_token(token["access_token"], meta, args.client_id, first)
    step(f"narrower scope {first!r} granted")

    # RFC 8707: the audience is the requested resource.
    _, token = fetch(meta, args, "client_secret_basic", resource=RESOURCE)
    verify_access_token(token["access_token"], meta, args.client_id, args.scope, audience=RESOURCE)
    step(f"resource indicator gives aud {RESOURCE}")

    # Introspection and revocation through Authlib's helpers.
    response = session.introspect_token(meta["introspection_endpoint"], token=token["access_token"])
    check(response.status_code == 200, f"introspect: {response.status_code} {response.text}")
    info = response.json()
    check(info.get("active") is True, f"introspection of a fresh token: {info}")
    check(info.get("client_id") == args.client_id, f"introspection client_id: {info}")
    response = session.revoke_token(meta["revocation_endpoint"], token=token["access_token"])
    check(response.status_code == 200, f"revoke: {response.status_code} {response.text}")
    info = session.introspect_token(meta["introspection_endpoint"], token=token["access_token"]).json()
    check(info == {"active": False}, f"introspection after revocation: {info}")
    step("introspect active, revoke, introspect inactive")

    # A wrong secret is refused the standard way.
    bad = OAuth2Session(args.client_id, "not-the-secret", scope=args.scope)
    try:
        bad.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    except OAuthError as error:
        check(error.error == "invalid_client", f"wrong secret gave {error.error!r}, want invalid_client")
        step("wrong secret: invalid_client")
    else:
        raise Failure("a wrong client secret was accepted")

    # A scope the client was not registered for is refused with invalid_scope.
    greedy = OAuth2Session(args.client_id, args.client_secret, scope="admin")
    try:
        greedy.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    except OAuthError as error:
        check(error.error == "invalid_scope", f"unregistered scope gave {error.error!r}, want invalid_scope")
        step("unregistered scope: invalid_scope")
    else:
        raise Failure("an unregistered scope was granted")


if __name__ == "__main__":
    main(run)
