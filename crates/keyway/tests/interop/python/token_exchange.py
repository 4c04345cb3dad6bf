#!/usr/bin/env python3
"""RFC 8693 token exchange with Authlib's generic grant: client A, holding alice's access
token, trades it for one meant for client B, then B introspects it.

Usage: token_exchange.py [--hub URL] [--client-id A] [--client-secret S] [--redirect-uri URI]
                         [--username U] [--password P] [--scope "openid a"]
with KEYWAY_B_CLIENT_ID / KEYWAY_B_CLIENT_SECRET naming B (each option defaults to the KEYWAY_*
variable of the same name). The operator has run
    keyway client allow A --to B --for exchange --scope "read"
"""

import os

import jwt
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from authorization_code import browse, check_callback
from common import check, discover, main, settings, step

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


def run():
    args = settings(__doc__, need_user=True)
    b_id, b_secret = os.environ["KEYWAY_B_CLIENT_ID"], os.environ["KEYWAY_B_CLIENT_SECRET"]
    meta = discover(args)
    check(TOKEN_EXCHANGE in meta.get("grant_types_supported", []), f"metadata lacks the grant: {meta.get('grant_types_supported')}")
    session = OAuth2Session(
        args.client_id,
        args.client_secret,
        scope=args.scope,
        redirect_uri=args.redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(64)
    url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=generate_token(24))
    callback = browse(args, url)
    check_callback(callback, args, state)
    token = session.fetch_token(meta["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
    alice = jwt.decode(token["access_token"], options={"verify_signature": False})
    step(f"A holds alice's token (scope {alice['scope']!r})")

    # A session of its own: Authlib sends a session's scope with every grant, and the
    # sign-in's scope is not what B should get.
    exchanger = OAuth2Session(args.client_id, args.client_secret, token_endpoint_auth_method="client_secret_basic")
    exchanged = exchanger.fetch_token(
        meta["token_endpoint"],
        grant_type=TOKEN_EXCHANGE,
        subject_token=token["access_token"],
        subject_token_type=ACCESS_TOKEN,
        audience=b_id,
    )
    step(f"Authlib token exchange: {sorted(exchanged.keys())}")
    check(exchanged.get("issued_token_type") == ACCESS_TOKEN, f"issued_token_type {exchanged.get('issued_token_type')!r}")
    check(str(exchanged.get("token_type", "")).lower() == "bearer", f"token_type {exchanged.get('token_type')!r}")
    check(exchanged.get("scope") == "read", f"scope {exchanged.get('scope')!r}, want the rule's 'read'")

    # B verifies it offline as any resource server would: JWKS, typ, iss, aud = B.
    jwks = jwt.PyJWKClient(meta["jwks_uri"])
    key = jwks.get_signing_key_from_jwt(exchanged["access_token"])
    claims = jwt.decode(
        exchanged["access_token"],
        key.key,
        algorithms=[key.algorithm_name],
        audience=b_id,
        issuer=args.issuer,
    )
    check(claims["sub"] == alice["sub"], f"sub {claims['sub']!r}, want alice {alice['sub']!r}")
    check(claims.get("act") == {"sub": args.client_id}, f"act {claims.get('act')!r}, want A")
    step("B verifies it: sub is alice, act is A, aud is B")

    as_b = OAuth2Session(b_id, b_secret, token_endpoint_auth_method="client_secret_basic")
    seen = as_b.introspect_token(meta["introspection_endpoint"], token=exchanged["access_token"]).json()
    check(seen.get("active") is True and seen.get("act") == {"sub": args.client_id}, f"introspection: {seen}")
    step("B introspects it: active, act is A")

    # Asking beyond the rule is refused with RFC 8693's error, and nothing is issued.
    try:
        exchanger.fetch_token(
            meta["token_endpoint"],
            grant_type=TOKEN_EXCHANGE,
            subject_token=token["access_token"],
            subject_token_type=ACCESS_TOKEN,
            audience=b_id,
            scope="read write",
        )
    except OAuthError as error:
        check(error.error == "invalid_scope", f"beyond the rule: {error.error!r}, want invalid_scope")
        step("beyond the rule: invalid_scope")
    else:
        check(False, "an exchange beyond the rule's scopes was granted")


if __name__ == "__main__":
    main(run)
