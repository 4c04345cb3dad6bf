"""The same OData requests to keyway and to SAP CAP, side by side: where the standard leaves
room (paging, errors, case, ETags, literals), what each answers. Run by run.sh after both are
loaded with the same contacts; docs/data.md ("keyway and SAP CAP") records the outcome.

argv: keyway service root (…/api), CAP service root (…/odata/v4/bench), keyway bearer token,
      a contact id that exists.
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

KEYWAY, CAP, TOKEN, ID = sys.argv[1:5]
MISSING = "00000000-0000-4000-8000-000000000000"

# (what it shows, method, path relative to the service root, extra headers, body)
REQUESTS = [
    ("read by id", "GET", f"Contact({ID})", {}, None),
    ("id that does not exist", "GET", f"Contact({MISSING})", {}, None),
    ("id that is not a UUID", "GET", "Contact(42)", {}, None),
    ("$top above the page size", "GET", "Contact?$top=5000&$select=lastName", {}, None),
    ("Prefer: odata.maxpagesize=2", "GET", "Contact?$select=lastName", {"Prefer": "odata.maxpagesize=2"}, None),
    ("$count with $top=0", "GET", "Contact?$count=true&$top=0", {}, None),
    ("$select without the key", "GET", "Contact?$top=1&$select=lastName", {}, None),
    ("contains is case-sensitive?", "GET", "Contact?$filter=contains(firstName,'FIRST1')&$top=3", {}, None),
    ("eq on text is case-sensitive?", "GET", "Contact?$filter=lastName eq 'l000042'", {}, None),
    ("tolower()", "GET", "Contact?$filter=tolower(firstName) eq 'first1'", {}, None),
    ("integer division", "GET", "Contact?$filter=score div 2 eq 3&$top=3&$select=score", {}, None),
    ("null comparison", "GET", "Contact?$filter=email eq null&$top=3", {}, None),
    ("ne keeps nulls", "GET", "Contact?$filter=organizationId ne null&$top=1&$count=true", {}, None),
    ("unknown property in $filter", "GET", "Contact?$filter=nope eq 1", {}, None),
    ("syntax error in $filter", "GET", "Contact?$filter=lastName eq", {}, None),
    ("text literal for an integer", "GET", "Contact?$filter=score eq '5'", {}, None),
    ("unknown query option", "GET", "Contact?$frobnicate=1", {}, None),
    ("$search", "GET", "Contact?$search=L000042&$select=lastName", {}, None),
    ("$apply groupby", "GET", "Contact?$apply=groupby((city),aggregate($count as n))&$orderby=city&$top=2", {}, None),
    ("POST with an unknown property", "POST", "Contact", {"Content-Type": "application/json"},
     {"firstName": "A", "lastName": "B", "nope": 1}),
    ("POST without a required property", "POST", "Contact", {"Content-Type": "application/json"},
     {"lastName": "B"}),
]


def call(root, method, path, headers, body, token):
    url = root + "/" + urllib.parse.quote(path, safe="/()?&=$,'")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    for key, value in headers.items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def summary(status, headers, raw):
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        return f"{status} (not JSON)"
    parts = [str(status)]
    if isinstance(body, dict):
        if "error" in body:
            message = body["error"].get("message", "")
            parts.append(f"error {body['error'].get('code', '')!s}: {message[:70]}")
        elif "detail" in body:
            parts.append(f"problem: {str(body['detail'])[:70]}")
        if "value" in body and isinstance(body["value"], list):
            parts.append(f"{len(body['value'])} items")
            if body["value"] and isinstance(body["value"][0], dict):
                parts.append("keys " + ",".join(sorted(body["value"][0])[:4]))
        if "@odata.count" in body:
            parts.append(f"count {body['@odata.count']}")
        if "@odata.nextLink" in body:
            parts.append("nextLink " + body["@odata.nextLink"].split("?", 1)[-1][:40])
    if "ETag" in headers or "etag" in headers:
        parts.append("ETag")
    if "Preference-Applied" in headers:
        parts.append("Preference-Applied")
    return "; ".join(parts)


def main():
    print(f"{'request':34} | keyway | CAP")
    for label, method, path, headers, body in REQUESTS:
        ours = summary(*call(KEYWAY, method, path, headers, body, TOKEN))
        theirs = summary(*call(CAP, method, path, headers, body, None))
        print(f"{label:34} | {ours} | {theirs}")


main()
