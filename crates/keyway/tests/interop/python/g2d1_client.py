#!/usr/bin/env python3
"""A g2d1-profile client written from docs/oauth.md ("The g2d1 profile") alone.

1. Reproduces the page's test vector (both canonical strings and signatures), read from the
   page itself, so that the documentation and the hub cannot drift apart unnoticed.
2. Runs the flow against a hub: signs an authorization request with custom parameters and
   `appid`, plays the user (login, consent), verifies the signed redirect (signature,
   timestamp, custom parameters carried back), redeems the code, checks `coder` and
   `refresh_coder_token`, and refreshes with `refresh_coder_token`.

Usage: g2d1_client.py [--hub URL] [--client-id ID] [--client-secret S] [--redirect-uri URI]
                      [--username U] [--password P]   (each defaults to its KEYWAY_* variable)
       with KEYWAY_SIGNING_SECRET (the client's signing secret) and KEYWAY_DOCS (docs/oauth.md).
"""

import hashlib
import hmac
import os
import re
import secrets
import time
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import requests

from authorization_code import browse
from common import TIMEOUT, check, discover, main, settings, step

WINDOW = 300


def canonical(params):
    """Every parameter but `signature`, sorted by name (bytes), RFC 3986 unreserved kept."""
    items = sorted(((n, v) for n, v in params if n != "signature"), key=lambda p: p[0].encode())
    return "&".join(f"{quote(n, safe='-._~')}={quote(v, safe='-._~')}" for n, v in items)


def sign(secret, params):
    return hmac.new(secret.encode(), canonical(params).encode(), hashlib.sha256).hexdigest()


def documented_vector(path):
    """The test vector as docs/oauth.md states it."""
    text = open(path, encoding="utf-8").read()
    section = text[text.index("*Test vector.*"):]
    secret = re.search(r"Signing secret `([^`]+)`", section).group(1)
    decoded = section[: section.index("Canonical string:")]
    request = re.findall(r"`([a-z_]+)=([^`]*)`", decoded)
    blocks = re.findall(r"```text\n(.*?)\n```", section, re.S)
    signatures = re.findall(r"`signature=([0-9a-f]{64})`", section)
    redirect_part = section[section.index("The redirect for it"):]
    issuer = re.search(r"issuer `([^`]+)`", redirect_part).group(1)
    code = re.search(r"code\s+`([^`]+)`", redirect_part).group(1)
    stamp = re.search(r"hub timestamp `([^`]+)`", redirect_part).group(1)
    nonce = re.search(r"hub nonce `([^`]+)`", redirect_part).group(1)
    return secret, request, blocks[:2], signatures[:2], (issuer, code, stamp, nonce)


def check_vector(path):
    secret, request, (request_canon, redirect_canon), (request_sig, redirect_sig), extra = documented_vector(path)
    check(len(request) == 13, f"expected the 13 request parameters of the vector, read {request}")
    check(canonical(request) == request_canon, f"request canonical string differs:\n{canonical(request)}\n{request_canon}")
    check(sign(secret, request) == request_sig, "request signature differs from the documented one")
    issuer, code, stamp, nonce = extra
    params = dict(request)
    redirect = [("code", code), ("state", params["state"]), ("iss", issuer)]
    names = params["signature_names"].split(",")
    redirect += [(n, params[n]) for n in names]
    redirect += [("type", params["type"]), ("signature_names", params["signature_names"]), ("timestamp", stamp), ("nonce", nonce)]
    check(canonical(redirect) == redirect_canon, f"redirect canonical string differs:\n{canonical(redirect)}\n{redirect_canon}")
    check(sign(secret, redirect) == redirect_sig, "redirect signature differs from the documented one")
    step("docs/oauth.md test vector reproduced (request and redirect)")


def run():
    args = settings(__doc__, need_user=True)
    secret = os.environ["KEYWAY_SIGNING_SECRET"]
    check_vector(os.environ["KEYWAY_DOCS"])
    meta = discover(args)

    verifier = secrets.token_urlsafe(48)
    challenge = __import__("base64").urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(12)
    custom = [("order_id", "A-17"), ("note", "héllo wörld & more")]
    params = [
        ("appid", args.client_id),
        ("response_type", "code"),
        ("redirect_uri", args.redirect_uri),
        ("scope", args.scope),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        *custom,
        ("timestamp", str(int(time.time()))),
        ("nonce", secrets.token_urlsafe(12)),
        ("signature_names", ",".join(n for n, _ in custom)),
    ]
    params.append(("signature", sign(secret, params)))
    authorize_url = meta["authorization_endpoint"] + "?" + urlencode(params)

    # A tampered copy is refused before anyone signs in.
    tampered = authorize_url.replace("A-17", "A-18")
    response = requests.get(tampered, allow_redirects=False, timeout=TIMEOUT)
    check(response.status_code == 400 and "signature" in response.text, f"tampered request: {response.status_code}")
    step("a tampered request is refused")

    callback = browse(args, authorize_url)
    pairs = parse_qsl(urlsplit(callback).query, keep_blank_values=True)
    got = dict(pairs)
    check(len(got) == len(pairs), f"a parameter appears twice in {callback}")
    check(got.get("signature") == sign(secret, pairs), f"the redirect's signature does not verify: {callback}")
    check(abs(int(got["timestamp"]) - time.time()) <= WINDOW, f"stale redirect timestamp {got['timestamp']}")
    check(got.get("state") == state and got.get("iss") == args.issuer, f"state/iss: {got}")
    for name, value in custom:
        check(got.get(name) == value, f"custom parameter {name}: {got.get(name)!r}, want {value!r}")
    check(got.get("signature_names") == "order_id,note", f"signature_names {got.get('signature_names')!r}")
    step("signed redirect verified: code, state, iss, custom parameters, fresh timestamp and nonce")

    token = requests.post(
        meta["token_endpoint"],
        auth=(args.client_id, args.client_secret),
        data={"grant_type": "authorization_code", "code": got["code"], "redirect_uri": args.redirect_uri, "code_verifier": verifier},
        timeout=TIMEOUT,
    )
    check(token.status_code == 200, f"token: {token.status_code} {token.text}")
    body = token.json()
    check(body.get("coder") == body.get("access_token") and body.get("coder"), f"coder: {body}")
    check(body.get("refresh_coder_token") == body.get("refresh_token") and body.get("refresh_token"), f"refresh_coder_token: {body}")
    step("token response has coder and refresh_coder_token")
    again = requests.post(
        meta["token_endpoint"],
        auth=(args.client_id, args.client_secret),
        data={"grant_type": "refresh_token", "refresh_coder_token": body["refresh_coder_token"]},
        timeout=TIMEOUT,
    )
    check(again.status_code == 200 and again.json().get("coder"), f"refresh with refresh_coder_token: {again.status_code} {again.text}")
    step("refresh_coder_token refreshes")


if __name__ == "__main__":
    main(run)
