#!/usr/bin/env python3
"""A keyway hub over native TLS with Python requests, trusting a private CA.

Environment: KEYWAY_HUB_URL (https://…), KEYWAY_CA_FILE (the CA's PEM certificate),
KEYWAY_CLIENT_ID, KEYWAY_CLIENT_SECRET (a client_credentials client with scope "read").
Discovery, a token, its introspection; without the CA, requests refuses the hub.
"""

import os
import sys

import requests


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}")
        sys.exit(1)


hub = os.environ["KEYWAY_HUB_URL"].rstrip("/")
ca = os.environ["KEYWAY_CA_FILE"]
auth = (os.environ["KEYWAY_CLIENT_ID"], os.environ["KEYWAY_CLIENT_SECRET"])

meta = requests.get(f"{hub}/.well-known/openid-configuration", verify=ca, timeout=10)
check(meta.status_code == 200, f"discovery: HTTP {meta.status_code}")
check(meta.json()["issuer"] == hub, f"issuer {meta.json()['issuer']!r}, expected {hub!r}")
# A loopback issuer (this test's) gets no HSTS header: browsers would pin localhost.
check("Strict-Transport-Security" not in meta.headers, "HSTS on a loopback issuer")
endpoints = meta.json()
check(endpoints["token_endpoint"].startswith("https://"), "the token endpoint is not https")
print("  - discovery over https")

token = requests.post(
    endpoints["token_endpoint"],
    data={"grant_type": "client_credentials", "scope": "read"},
    auth=auth,
    verify=ca,
    timeout=10,
)
check(token.status_code == 200, f"token: HTTP {token.status_code} {token.text}")
access = token.json()["access_token"]
print("  - client_credentials token")

seen = requests.post(
    endpoints["introspection_endpoint"],
    data={"token": access},
    auth=auth,
    verify=ca,
    timeout=10,
)
check(seen.status_code == 200 and seen.json().get("active") is True, f"introspection {seen.text}")
print("  - introspection")

try:
    requests.get(f"{hub}/healthz", timeout=10)
    check(False, "requests trusted the hub without its CA")
except requests.exceptions.SSLError:
    print("  - refused without the CA")
