#!/usr/bin/env python3
"""scim2-tester against a keyway hub's /scim/v2, every check it has.

Gets an access token for a client_credentials client with the scope `scim`, runs
scim2_tester.check_server() with no tag filter (discovery, CRUD, PATCH add/replace/remove,
attribute projections, search, random URL), prints every result, and exits 1 on any ERROR or
CRITICAL that is not one of KNOWN below: deviations that follow from keyway's model, each
with its reason (docs/scim.md, "Conformance").

Usage: scim_tester.py [--hub URL] [--client-id ID] [--client-secret S]
(each defaults to KEYWAY_HUB_URL, KEYWAY_CLIENT_ID, KEYWAY_CLIENT_SECRET).
Runs in the virtualenv scripts/install-test-deps.sh makes (scim2-tester, scim2-client, httpx2).
"""

import argparse
import os
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

TIMEOUT = 15

# (resource type, check, text in the reason) -> why keyway answers differently.
KNOWN = {
    ("User", "check_remove_attribute", "'active'"): (
        "keyway users are enabled or disabled, never neither: `remove active` is accepted and "
        "leaves the user as they were, so `active` is still returned"
    ),
    ("Group", "check_add_attribute", "'members'"): (
        "members.display is readOnly and filled by the server with the member's userName "
        "(RFC 7643 §4.2); the tester compares it with the value it sent, which had none"
    ),
    ("Group", "check_replace_attribute", "'members'"): (
        "members.display is readOnly and filled by the server with the member's userName "
        "(RFC 7643 §4.2); the tester compares it with the value it sent, which had none"
    ),
}


def settings():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, var in (("hub", "KEYWAY_HUB_URL"), ("client-id", "KEYWAY_CLIENT_ID"),
                      ("client-secret", "KEYWAY_CLIENT_SECRET")):
        value = os.environ.get(var)
        parser.add_argument(f"--{name}", default=value, required=value is None, help=f"(env {var})")
    args = parser.parse_args()
    args.hub = args.hub.rstrip("/")
    return args


def scim_token(args):
    response = Client(timeout=TIMEOUT).post(
        f"{args.hub}/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "scim"},
        auth=(args.client_id, args.client_secret),
    )
    if response.status_code != 200:
        sys.exit(f"token endpoint: {response.status_code} {response.text}")
    return response.json()["access_token"]


def known_reason(result):
    for (resource, title, text), why in KNOWN.items():
        if result.resource_type == resource and result.title == title and text in (result.reason or ""):
            return why
    return None


def main():
    args = settings()
    http = Client(
        base_url=f"{args.hub}/scim/v2",
        headers={"Authorization": f"Bearer {scim_token(args)}"},
        timeout=TIMEOUT,
    )
    results = check_server(SyncSCIMClient(http))
    counts = {}
    unexpected = []
    for result in results:
        counts[result.status.name] = counts.get(result.status.name, 0) + 1
        where = f"{result.resource_type or '-'} {result.title}"
        reason = (result.reason or "").replace("\n", " ")[:300]
        if result.status in (Status.ERROR, Status.CRITICAL):
            why = known_reason(result)
            if why:
                print(f"  KNOWN    {where}: {reason}\n           because {why}")
            else:
                print(f"  FAILED   {where}: {reason}")
                unexpected.append(where)
        else:
            print(f"  {result.status.name:<8} {where}" + (f": {reason}" if result.status != Status.SUCCESS else ""))
    print(f"scim2-tester: {len(results)} checks, " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if counts.get("SUCCESS", 0) < 50:
        sys.exit("fewer than 50 checks succeeded: the tester did not reach the resources")
    if unexpected:
        sys.exit(f"{len(unexpected)} unexpected failures: {unexpected}")


if __name__ == "__main__":
    main()
