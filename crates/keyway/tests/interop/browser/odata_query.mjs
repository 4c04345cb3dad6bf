// A second OData client library against the data API: npm's odata-query builds the query
// strings (filters from objects, expand with nested options, lambdas, in-lists, count, paging)
// and each answer is checked against the OData JSON Format 4.01 rules a client relies on.
//
//   node odata_query.mjs <service root …/api> <bearer token>
//
// Expects examples/crm with: organization "Acme" with contacts Ann (lead, score 10) and Bob
// (customer, 70); "Globex" with Cid (customer, 90); "Initech" with none.
import buildQuery from "odata-query";

const [root, token] = process.argv.slice(2);
const problems = [];
const check = (ok, what) => {
  if (!ok) problems.push(what);
};

async function get(path) {
  const response = await fetch(root + path, {
    headers: { authorization: `Bearer ${token}`, accept: "application/json", "odata-maxversion": "4.01" },
  });
  const body = await response.json();
  check(response.headers.get("odata-version") === "4.01", `${path}: OData-Version is ${response.headers.get("odata-version")}`);
  check((response.headers.get("content-type") || "").startsWith("application/json"), `${path}: content-type`);
  return { status: response.status, body, headers: response.headers };
}

/// JSON Format 4.01 §10 and §12: a collection has a context URL into $metadata, an array
/// `value`, a number `@odata.count` when asked, an absolute or relative `@odata.nextLink`.
function collection(path, body, entitySet) {
  check(typeof body["@odata.context"] === "string" && body["@odata.context"].includes(`$metadata#${entitySet}`),
    `${path}: @odata.context ${body["@odata.context"]}`);
  check(Array.isArray(body.value), `${path}: value is not an array`);
  if ("@odata.count" in body) check(Number.isInteger(body["@odata.count"]), `${path}: @odata.count is not an integer`);
  if ("@odata.nextLink" in body) check(typeof body["@odata.nextLink"] === "string", `${path}: nextLink`);
  for (const item of body.value || []) {
    check(typeof item.id === "string", `${path}: an item without its key`);
    for (const key of Object.keys(item)) {
      // Control information is `@odata.…` or `property@odata.…`; nothing else has an `@`.
      if (key.includes("@")) check(/^[A-Za-z]\w*@odata\.(count|nextLink)$/.test(key), `${path}: annotation ${key}`);
    }
  }
}

const names = (body, field) => (body.value || []).map((item) => item[field]).sort();

// Filters as objects: equality, in-lists, comparisons, functions.
{
  const path = "/Contact" + buildQuery({ filter: { lastName: "S", status: { in: ["lead", "customer"] } }, orderBy: "firstName", count: true });
  const { status, body } = await get(path);
  check(status === 200, `${path}: ${status} ${JSON.stringify(body)}`);
  collection(path, body, "Contact");
  check(JSON.stringify(names(body, "firstName")) === '["Ann","Bob","Cid"]', `${path}: ${JSON.stringify(body)}`);
  check(body["@odata.count"] === 3, `${path}: count ${body["@odata.count"]}`);
}
{
  const path = "/Contact" + buildQuery({ filter: { score: { gt: 20 }, "tolower(firstName)": { startswith: "b" } } });
  const { body } = await get(path);
  collection(path, body, "Contact");
  check(JSON.stringify(names(body, "firstName")) === '["Bob"]', `${path}: ${JSON.stringify(body)}`);
}
// Lambdas over a navigation collection, and a path through a to-one relation.
{
  const path = "/Organization" + buildQuery({ filter: { contacts: { any: { status: "lead" } } }, select: ["name"] });
  const { status, body } = await get(path);
  check(status === 200, `${path}: ${status} ${JSON.stringify(body)}`);
  collection(path, body, "Organization");
  check(JSON.stringify(names(body, "name")) === '["Acme"]', `${path}: ${JSON.stringify(body)}`);
}
{
  const path = "/Organization" + buildQuery({ filter: { contacts: { all: { score: { gt: 50 } } } } });
  const { body } = await get(path);
  check(JSON.stringify(names(body, "name")) === '["Globex","Initech"]', `${path}: ${JSON.stringify(body)}`);
}
{
  const path = "/Contact" + buildQuery({ filter: { "organization/name": "Globex" } });
  const { body } = await get(path);
  check(JSON.stringify(names(body, "firstName")) === '["Cid"]', `${path}: ${JSON.stringify(body)}`);
}
// Expansion with nested options: the navigation property holds the items inline.
{
  const path = "/Organization" + buildQuery({
    filter: { name: "Acme" },
    expand: { contacts: { select: ["firstName"], orderBy: "firstName desc", top: 1, count: true } },
  });
  const { status, body } = await get(path);
  check(status === 200, `${path}: ${status} ${JSON.stringify(body)}`);
  collection(path, body, "Organization");
  const acme = (body.value || [])[0] || {};
  check(Array.isArray(acme.contacts) && acme.contacts.length === 1 && acme.contacts[0].firstName === "Bob",
    `${path}: ${JSON.stringify(acme)}`);
  check(acme["contacts@odata.count"] === 2, `${path}: contacts@odata.count ${acme["contacts@odata.count"]}`);
  // The client's $top is all it wants: no next link beyond it.
  check(!("contacts@odata.nextLink" in acme), `${path}: a nested next link past $top`);
}
// Server-driven paging: following @odata.nextLink reads every row once.
{
  const seen = [];
  let path = "/Contact" + buildQuery({ orderBy: "firstName", select: ["firstName"] });
  let url = root + path;
  let pages = 0;
  while (url && pages < 10) {
    const response = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: "application/json", prefer: "odata.maxpagesize=2" },
    });
    const body = await response.json();
    collection(url, body, "Contact");
    check(response.headers.get("preference-applied") === "odata.maxpagesize=2", `${url}: Preference-Applied`);
    seen.push(...body.value.map((c) => c.firstName));
    const next = body["@odata.nextLink"];
    url = next ? new URL(next, root + "/").toString() : null;
    pages += 1;
  }
  check(JSON.stringify(seen) === '["Ann","Bob","Cid","Eve"]', `paging: ${JSON.stringify(seen)} in ${pages} pages`);
}
// An item: its own context URL (…/$entity), the key, an ETag; an error is an OData error.
{
  const { body: list } = await get("/Contact" + buildQuery({ filter: { firstName: "Ann" } }));
  const id = list.value[0].id;
  const path = "/Contact" + buildQuery({ key: id, select: ["firstName"] });
  const { status, body, headers } = await get(path);
  check(status === 200, `${path}: ${status} ${JSON.stringify(body)}`);
  check(typeof body["@odata.context"] === "string" && body["@odata.context"].endsWith("$metadata#Contact/$entity"),
    `${path}: @odata.context ${body["@odata.context"]}`);
  check(body.id === id && body.firstName === "Ann", `${path}: ${JSON.stringify(body)}`);
  check(/^(W\/)?".*"$/.test(headers.get("etag") || ""), `${path}: ETag ${headers.get("etag")}`);
  const bad = "/Contact" + buildQuery({ filter: { nope: 1 } });
  const refused = await get(bad);
  check(refused.status === 400 && typeof refused.body.error?.code === "string" && typeof refused.body.error?.message === "string",
    `${bad}: ${refused.status} ${JSON.stringify(refused.body)}`);
}

if (problems.length > 0) {
  console.log(problems.join("\n"));
  process.exit(1);
}
console.log("odata-query: every answer follows OData JSON 4.01");
