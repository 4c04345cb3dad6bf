#!/usr/bin/env python3
"""python-odata (an OData V4 client) against the hub's data API, unmodified.

The client reads /api/$metadata (CSDL XML) and builds its entity classes from it, then
creates, reads back, filters, orders and counts Contacts through them.

Environment: KEYWAY_API_URL (the hub's /api/), KEYWAY_TOKEN (a bearer token with
crm.readwrite).
"""

import logging
import os
import sys

import requests
from odata import ODataService


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}")
        sys.exit(1)


logging.disable(logging.CRITICAL)
session = requests.Session()
session.headers["Authorization"] = "Bearer " + os.environ["KEYWAY_TOKEN"]
service = ODataService(os.environ["KEYWAY_API_URL"], session=session, reflect_entities=True)
check("Contact" in service.entities, f"entity sets from $metadata: {list(service.entities)}")
Contact = service.entities["Contact"]
print("  - entity classes built from $metadata")

for first, score in [("Ada", 5), ("Grace", 9), ("Alan", 7)]:
    contact = Contact()
    contact.firstName = first
    contact.lastName = "Pioneer"
    contact.score = score
    service.save(contact)
    check(contact.id, f"no id for {first} after save")
print("  - three Contacts created")

found = service.query(Contact).filter(Contact.lastName == "Pioneer").order_by(Contact.score.desc())
names = [c.firstName for c in found]
check(names == ["Grace", "Alan", "Ada"], f"filtered and ordered: {names}")
print("  - $filter and $orderby through the client's expressions")

one = service.query(Contact).filter(Contact.firstName == "Ada").first()
check(one is not None and one.score == 5, f"first(): {one}")
print("  - read back with its typed properties")
