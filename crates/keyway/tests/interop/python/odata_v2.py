#!/usr/bin/env python3
"""SAP's pyodata (an OData V2 client) against the hub's /api/v2/, unmodified.

The client reads /api/v2/$metadata (EDMX 1.0 with associations) and builds its model, then
creates organizations and contacts, reads one back by key, lists with a V2 $filter, counts
(/$count and $inlinecount), expands a contact's organization and an organization's contacts,
changes and deletes one.

Environment: KEYWAY_API_URL (the hub's /api/v2/), KEYWAY_TOKEN (a bearer token with
crm.readwrite).
"""

import datetime
import logging
import os
import sys

import pyodata
import requests


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}")
        sys.exit(1)


logging.disable(logging.CRITICAL)
session = requests.Session()
session.headers["Authorization"] = "Bearer " + os.environ["KEYWAY_TOKEN"]
client = pyodata.Client(os.environ["KEYWAY_API_URL"], session)
names = [s.name for s in client.schema.entity_sets]
check(sorted(names) == ["Contact", "Organization"], f"entity sets from $metadata: {names}")

acme = client.entity_sets.Organization.create_entity().set(name="Acme", employees=12).execute()
check(acme.name == "Acme" and acme.employees == 12, "the created organization")
utc = datetime.timezone.utc
met = datetime.datetime(2024, 5, 1, 8, 30, tzinfo=utc)
for first, score in [("Ann", 40), ("Bob", 55), ("Cid", 70)]:
    client.entity_sets.Contact.create_entity().set(
        firstName=first, lastName="Lee", score=score, organizationId=acme.id,
        lastContactAt=met, birthday=datetime.datetime(1990, 1, 2, tzinfo=utc),
    ).execute()

ann = client.entity_sets.Contact.get_entities().filter("firstName eq 'Ann'").execute()[0]
check(ann.score == 40, f"Int64 read back: {ann.score!r}")
check(ann.lastContactAt == met, f"DateTimeOffset read back: {ann.lastContactAt!r}")
check(ann.birthday.date() == datetime.date(1990, 1, 2), f"DateTime read back: {ann.birthday!r}")
again = client.entity_sets.Contact.get_entity(ann.id).execute()
check(again.firstName == "Ann", "get_entity by its Guid key")

found = client.entity_sets.Contact.get_entities() \
    .filter(f"organizationId eq guid'{acme.id}' and score ge 50L and substringof('i', firstName)").execute()
check([c.firstName for c in found] == ["Cid"], f"V2 filter: {[c.firstName for c in found]}")
check(client.entity_sets.Contact.get_entities().count().execute() == 3, "/$count")
born = client.entity_sets.Contact.get_entities() \
    .filter("birthday eq datetime'1990-01-02T00:00:00' and firstName eq 'Bob'").execute()
check(len(born) == 1, f"a date compared with a V2 datetime literal: {len(born)}")
page = client.entity_sets.Contact.get_entities().count(inline=True).top(2).execute()
check(page.total_count == 3 and len(page) == 2, f"$inlinecount: {page.total_count}, {len(page)}")

with_org = client.entity_sets.Contact.get_entities().filter("firstName eq 'Bob'").expand("organization").execute()[0]
check(with_org.organization.name == "Acme", "expanded organization")
org = client.entity_sets.Organization.get_entity(acme.id).expand("contacts").execute()
check(sorted(c.firstName for c in org.contacts) == ["Ann", "Bob", "Cid"], "expanded contacts")

client.entity_sets.Contact.update_entity(ann.id).set(score=41).execute()
check(client.entity_sets.Contact.get_entity(ann.id).execute().score == 41, "updated")
client.entity_sets.Contact.delete_entity(ann.id).execute()
check(client.entity_sets.Contact.get_entities().count().execute() == 2, "deleted")
print("pyodata: ok")
