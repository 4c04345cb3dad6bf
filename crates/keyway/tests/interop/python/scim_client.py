#!/usr/bin/env python3
"""scim2-client provisions a user (with a password) and a group at a keyway hub.

Discovers the server, creates the user and a group holding them, finds the user by
`userName eq`, renames them with PATCH, checks the group shows them as a member and the
user shows the group, and prints `USER_ID=<id>` for the caller. authorization_code.py then
signs that user in with the password set here.

Usage: scim_client.py [--hub URL] [--client-id ID] [--client-secret S] [--username U]
                      [--password P]   (KEYWAY_HUB_URL, KEYWAY_CLIENT_ID, … as defaults)
"""

import argparse
import os
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import Email, Group, GroupMember, Name, PatchOp, PatchOperation, SearchRequest, User

TIMEOUT = 15


def check(condition, message):
    if not condition:
        sys.exit(f"FAILED: {message}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, var in (("hub", "KEYWAY_HUB_URL"), ("client-id", "KEYWAY_CLIENT_ID"),
                      ("client-secret", "KEYWAY_CLIENT_SECRET"), ("username", "KEYWAY_USERNAME"),
                      ("password", "KEYWAY_PASSWORD")):
        value = os.environ.get(var)
        parser.add_argument(f"--{name}", default=value, required=value is None, help=f"(env {var})")
    args = parser.parse_args()
    hub = args.hub.rstrip("/")

    token = Client(timeout=TIMEOUT).post(
        f"{hub}/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "scim"},
        auth=(args.client_id, args.client_secret),
    )
    check(token.status_code == 200, f"token: {token.status_code} {token.text}")
    http = Client(
        base_url=f"{hub}/scim/v2",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        timeout=TIMEOUT,
    )
    scim = SyncSCIMClient(http)
    scim.discover()
    print("  - discovered", [t.name for t in scim.provider.resource_types])

    created = scim.create(User(
        user_name=args.username,
        password=args.password,
        name=Name(given_name="Grace", family_name="Hopper"),
        emails=[Email(value="grace@example.com", type="work", primary=True)],
        active=True,
    ))
    check(created.id and created.user_name == args.username, f"created {created}")
    check(created.password is None, "the password came back")
    print(f"  - created user {created.id}")

    group = scim.create(Group(display_name=f"team-{args.username}", members=[GroupMember(value=created.id)]))
    check([m.value for m in group.members or []] == [created.id], f"group members {group.members}")
    print(f"  - created group {group.id}")

    found = scim.query(User, query_parameters=SearchRequest(filter=f'userName eq "{args.username}"'))
    check(found.total_results == 1 and found.resources[0].id == created.id, f"query {found}")
    print("  - found by userName eq")

    patch = PatchOp[User](operations=[PatchOperation(
        op=PatchOperation.Op.replace_, path="name.givenName", value="Amazing Grace")])
    patched = scim.modify(User, created.id, patch)
    check(patched.name.given_name == "Amazing Grace", f"patched {patched.name}")
    user = scim.query(User, created.id)
    check([g.value for g in user.groups or []] == [group.id], f"user groups {user.groups}")
    check(user.meta.version and user.meta.version.startswith('W/"'), f"meta.version {user.meta.version}")
    print("  - patched; the user lists the group")
    print(f"USER_ID={created.id}")


if __name__ == "__main__":
    main()
