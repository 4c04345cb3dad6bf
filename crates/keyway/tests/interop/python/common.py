"""Shared helpers for keyway's Python interop scripts: settings, discovery, JWT checks.

Every check failure raises Failure; main() turns it into a clear message and exit status 1.
"""

import argparse
import base64
import hashlib
import json
import os
import sys
import time
import traceback

import jwt  # PyJWT
import requests
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt

TIMEOUT = 15


class Failure(Exception):
    """A check that did not hold."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def step(message):
    print(f"  - {message}", flush=True)


def settings(description, need_secret=True, need_user=False):
    """Command-line options, each defaulting to a KEYWAY_* environment variable."""
    parser = argparse.ArgumentParser(description=description)

    def option(name, var, required=True, default=None):
        value = os.environ.get(var, default)
        parser.add_argument(
            f"--{name}",
            default=value,
            required=required and value is None,
            help=f"(env {var})",
        )

    option("hub", "KEYWAY_HUB_URL")
    option("issuer", "KEYWAY_ISSUER", required=False)
    option("client-id", "KEYWAY_CLIENT_ID")
    option("client-secret", "KEYWAY_CLIENT_SECRET", required=need_secret)
    option("scope", "KEYWAY_SCOPE", required=False, default="read")
    if need_user:
        option("redirect-uri", "KEYWAY_REDIRECT_URI")
        option("username", "KEYWAY_USERNAME")
        option("password", "KEYWAY_PASSWORD")
    args = parser.parse_args()
    args.hub = args.hub.rstrip("/")
    args.issuer = (args.issuer or args.hub).rstrip("/")
    return args


def discover(args):
    """Fetches and checks both metadata documents; returns the OpenID one."""
    docs = {}
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        response = requests.get(args.hub + path, timeout=TIMEOUT)
        check(response.status_code == 200, f"GET {path}: {response.status_code} {response.text}")
        doc = response.json()
        check(doc.get("issuer") == args.issuer, f"{path}: issuer {doc.get('issuer')!r}, want {args.issuer!r}")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            check(str(doc.get(key, "")).startswith(args.issuer), f"{path}: bad {key} {doc.get(key)!r}")
        docs[path] = doc
    meta = docs["/.well-known/openid-configuration"]
    check("S256" in meta.get("code_challenge_methods_supported", []), "S256 not advertised")
    step(f"discovery OK: issuer {meta['issuer']}")
    return meta


def b64url_json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def verify_pyjwt(token, meta, audience, typ=None, what="token"):
    """Verifies signature, iss, aud and exp with PyJWT and the hub's JWKS; returns the claims."""
    header = jwt.get_unverified_header(token)
    check(header.get("alg") == "EdDSA", f"{what}: alg {header.get('alg')!r}, want EdDSA")
    if typ is not None:
        check(header.get("typ") == typ, f"{what}: typ header {header.get('typ')!r}, want {typ!r}")
    client = jwt.PyJWKClient(meta["jwks_uri"], cache_jwk_set=False)
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["EdDSA"],
        audience=audience,
        issuer=meta["issuer"],
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    step(f"PyJWT verified {what} (kid {header.get('kid')})")
    return claims


def verify_jwcrypto(token, meta, audience, typ=None, what="token"):
    """The same checks with jwcrypto, an independent JOSE implementation."""
    keyset_text = requests.get(meta["jwks_uri"], timeout=TIMEOUT).text
    keyset = jwcrypto_jwk.JWKSet.from_json(keyset_text)
    parsed = jwcrypto_jwt.JWT(
        jwt=token,
        key=keyset,
        algs=["EdDSA"],
        check_claims={"iss": meta["issuer"], "aud": audience, "exp": None, "iat": None},
        expected_type="JWS",
    )
    header = json.loads(parsed.header)
    claims = json.loads(parsed.claims)
    if typ is not None:
        check(header.get("typ") == typ, f"{what} (jwcrypto): typ {header.get('typ')!r}, want {typ!r}")
    check(claims["exp"] > time.time(), f"{what}: already expired")
    step(f"jwcrypto verified {what}")
    return claims


def verify_access_token(token, meta, client_id, scope, audience=None):
    """RFC 9068 checks of a JWT access token with both libraries."""
    audience = audience or meta["issuer"]
    a = verify_pyjwt(token, meta, audience, typ="at+jwt", what="access token")
    b = verify_jwcrypto(token, meta, audience, typ="at+jwt", what="access token")
    check(a == b, f"PyJWT and jwcrypto disagree on the claims: {a} vs {b}")
    for claim in ("iss", "exp", "aud", "sub", "client_id", "iat", "jti"):
        check(claim in a, f"access token lacks RFC 9068 claim {claim!r}: {a}")
    check(a["client_id"] == client_id, f"access token client_id {a['client_id']!r}, want {client_id!r}")
    check(set(a.get("scope", "").split()) == set(scope.split()), f"access token scope {a.get('scope')!r}, want {scope!r}")
    return a


def half_hash_matches(value, claim):
    """Whether `claim` is the left half of a SHA-512 or SHA-256 digest of `value` (at_hash)."""
    for name in ("sha512", "sha256"):
        digest = hashlib.new(name, value.encode()).digest()
        half = base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()
        if half == claim:
            return name
    return None


def main(run):
    """Runs `run()`; any failure ends the process with status 1 and a clear message."""
    name = os.path.basename(sys.argv[0])
    try:
        run()
    except Failure as failure:
        print(f"FAIL ({name}): {failure}", file=sys.stderr)
        sys.exit(1)
    except Exception as error:  # a library refused something: show what and where
        traceback.print_exc()
        detail = getattr(error, "description", "") or ""
        print(f"FAIL ({name}): {type(error).__name__}: {error} {detail}".rstrip(), file=sys.stderr)
        sys.exit(1)
    print(f"OK ({name})")
