//! `POST /api/$batch`: OData 4.01 JSON batch (OData JSON Format 4.01 §19). Each request is
//! answered as if sent alone by the same caller (its scopes decide), in order; `dependsOn`
//! holds a request back until the ones it names succeeded (else 424); an `atomicityGroup`'s
//! writes run in one transaction — all of them, or none (the refused one says why, the others
//! answer 424). Limits: 100 requests, 1 MiB in, 16 MiB of answers; nested batches, other hosts and content-ID
//! references (`$1/…`) are refused per request.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use keyway_data::{DataService, UpdateMode, WriteOp, WriteOutcome};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::caller::{ApiError, Caller};
use crate::data::{base_url, canonical, is_json, odata, service, split_segment};

/// Requests in one batch at most.
pub(crate) const MAX_BATCH_REQUESTS: usize = 100;
/// A batch's body at most.
pub(crate) const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// A batch's answer at most (its bodies as sent): 100 pages of 1,000 wide rows would hold
/// far more in memory at once. Requests after the one that would pass it are not run.
pub(crate) const MAX_BATCH_ANSWER_BYTES: usize = 16 * 1024 * 1024;
const MAX_URL: usize = 8 * 1024;

#[derive(Deserialize)]
struct Batch {
    requests: Vec<SubRequest>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct SubRequest {
    id: String,
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    atomicity_group: Option<String>,
    #[serde(default)]
    depends_on: Vec<String>,
}

impl SubRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A sub-request's answer.
struct Answer {
    status: u16,
    headers: Map<String, Value>,
    body: Option<Value>,
}

impl Answer {
    fn error(status: u16, code: &str, message: &str) -> Answer {
        Answer {
            status,
            headers: json_type(),
            body: Some(json!({ "error": { "code": code, "message": message } })),
        }
    }

    /// As the data API's OData errors are coded: `insufficient_scope`, else the status's
    /// reason in snake case.
    fn refused(err: ApiError) -> Answer {
        let status = err.status();
        let scope = matches!(err, ApiError::InsufficientScope { .. });
        let code = crate::data_errors::error_code(status, scope);
        Answer::error(status.as_u16(), &code, &err.to_string())
    }

    fn failed_dependency(message: &str) -> Answer {
        Answer::error(424, "failed_dependency", message)
    }
}

fn json_type() -> Map<String, Value> {
    let mut headers = Map::new();
    headers.insert("content-type".into(), json!("application/json"));
    headers
}

/// The whole batch is malformed: 400 before anything runs.
fn malformed(detail: String) -> ApiError {
    ApiError::BadRequest(format!("$batch: {detail}"))
}

pub(crate) async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let data = service(&state)?;
    if !is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType(
            "$batch takes the JSON batch format of OData 4.01 (application/json); multipart is not served".into(),
        ));
    }
    let batch: Batch = serde_json::from_slice(&body)
        .map_err(|e| malformed(format!("not a JSON batch {{\"requests\": […]}}: {e}")))?;
    check(&batch.requests)?;
    let scopes = caller.scopes();
    let base = base_url(&state);
    let mut answers: HashMap<String, u16> = HashMap::new();
    // Each answer is written out as it comes, so its values are dropped at once.
    let mut out = String::from("{\"responses\":[");
    let mut spent = 0;
    let mut next = 0;
    while next < batch.requests.len() {
        let request = &batch.requests[next];
        let group_end = match &request.atomicity_group {
            Some(group) => batch.requests[next..]
                .iter()
                .position(|r| r.atomicity_group.as_ref() != Some(group))
                .map_or(batch.requests.len(), |n| next + n),
            None => next + 1,
        };
        let unit = &batch.requests[next..group_end];
        let results = match blocked_by(unit, &answers) {
            _ if spent > MAX_BATCH_ANSWER_BYTES => {
                unit.iter().map(|_| over_budget("not run")).collect()
            }
            Some(why) => unit
                .iter()
                .map(|_| Answer::failed_dependency(&why))
                .collect(),
            None if request.atomicity_group.is_some() => {
                atomic(&data, unit, &scopes, &base, &caller).await
            }
            None => vec![single(&data, request, &scopes, &base, &caller).await],
        };
        for (request, answer) in unit.iter().zip(results) {
            answers.insert(request.id.clone(), answer.status);
            if let Some(group) = &request.atomicity_group {
                let failed = answers.get(group).is_some_and(|s| *s >= 400) || answer.status >= 400;
                answers.insert(group.clone(), if failed { 424 } else { 200 });
            }
            let mut item = Map::new();
            item.insert("id".into(), json!(request.id));
            if let Some(group) = &request.atomicity_group {
                item.insert("atomicityGroup".into(), json!(group));
            }
            let mut answer = answer;
            let mut body = answer.body.take().map(|b| b.to_string());
            let size = body.as_ref().map_or(0, String::len);
            // A read that would pass the budget is answered with why instead; a write's
            // answer is kept (it is small, and says what was done).
            if spent + size > MAX_BATCH_ANSWER_BYTES && request.method.eq_ignore_ascii_case("GET") {
                answer = over_budget("left out (the request ran)");
                body = answer.body.take().map(|b| b.to_string());
                spent = MAX_BATCH_ANSWER_BYTES + 1;
            } else {
                spent += size;
            }
            item.insert("status".into(), json!(answer.status));
            item.insert("headers".into(), Value::Object(answer.headers));
            let mut text = Value::Object(item).to_string();
            if let Some(body) = body {
                // `{…}` + `,"body":<body>}`: the body is spliced in as written.
                text.pop();
                text.push_str(",\"body\":");
                text.push_str(&body);
                text.push('}');
            }
            if !out.ends_with('[') {
                out.push(',');
            }
            out.push_str(&text);
        }
        next = group_end;
    }
    out.push_str("]}");
    let mut response = out.into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    Ok(odata(response))
}

/// The answer to a request the batch's answer budget left out (`what`: whether it ran).
fn over_budget(what: &str) -> Answer {
    Answer::error(
        507,
        "insufficient_storage",
        &format!(
            "{what}: the $batch answer reached {} MiB; send this request in another batch (or \
             read less: $select, $top)",
            MAX_BATCH_ANSWER_BYTES / (1024 * 1024)
        ),
    )
}

/// The batch's own rules: count, unique ids, `dependsOn` naming earlier requests or groups,
/// a group's requests side by side.
fn check(requests: &[SubRequest]) -> Result<(), ApiError> {
    if requests.is_empty() {
        return Err(malformed("no requests".into()));
    }
    if requests.len() > MAX_BATCH_REQUESTS {
        return Err(malformed(format!(
            "{} requests; a batch holds at most {MAX_BATCH_REQUESTS}",
            requests.len()
        )));
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut groups: Vec<&str> = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        if request.id.is_empty() || request.id.len() > 64 {
            return Err(malformed(format!(
                "request {} needs an id of 1 to 64 characters",
                i + 1
            )));
        }
        if seen.contains(&request.id.as_str()) {
            return Err(malformed(format!("the id {:?} is used twice", request.id)));
        }
        for dependency in &request.depends_on {
            if !seen.contains(&dependency.as_str()) && !groups.contains(&dependency.as_str()) {
                return Err(malformed(format!(
                    "request {:?} depends on {dependency:?}, which is no earlier request or group",
                    request.id
                )));
            }
        }
        if let Some(group) = &request.atomicity_group {
            // Ids and group names share one namespace (dependsOn names either).
            if requests.iter().any(|r| &r.id == group) {
                return Err(malformed(format!(
                    "{group:?} names both a request and an atomicity group"
                )));
            }
            let continues = i > 0 && requests[i - 1].atomicity_group.as_ref() == Some(group);
            if !continues && groups.contains(&group.as_str()) {
                return Err(malformed(format!(
                    "the requests of atomicity group {group:?} must be next to each other"
                )));
            }
            if !groups.contains(&group.as_str()) {
                groups.push(group);
            }
        }
        seen.push(&request.id);
    }
    Ok(())
}

/// Why `unit` cannot run: a request or group it depends on failed.
fn blocked_by(unit: &[SubRequest], answers: &HashMap<String, u16>) -> Option<String> {
    unit.iter()
        .flat_map(|r| &r.depends_on)
        .find_map(|dependency| {
            answers
                .get(dependency)
                .filter(|status| **status >= 400)
                .map(|_| format!("{dependency} failed, and this request depends on it"))
        })
}

/// Where a sub-request goes: the path below `/api/` (decoded) and its query pairs.
struct Target {
    segment: String,
    extra: Option<String>,
    pairs: Vec<(String, String)>,
}

fn target(request: &SubRequest, base: &str) -> Result<Target, Answer> {
    let bad = |message: String| Answer::error(400, "bad_request", &message);
    let url = request.url.trim();
    if url.len() > MAX_URL {
        return Err(bad(format!("the url is longer than {MAX_URL} bytes")));
    }
    let base_path = base
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("/api");
    let relative = if url.starts_with("http://") || url.starts_with("https://") {
        url.strip_prefix(base)
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(|| {
                bad(format!(
                    "the url targets another host or service; a batch reaches only {base}/…"
                ))
            })?
    } else if let Some(path) = url.strip_prefix('/') {
        path.strip_prefix(base_path.trim_start_matches('/'))
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(|| {
                bad(format!(
                    "the url is outside the data API; a batch reaches only {base_path}/…"
                ))
            })?
    } else {
        url
    };
    let (path, query) = relative.split_once('?').unwrap_or((relative, ""));
    let path: String =
        url::form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
    if path.starts_with('$') {
        let what = path.split('/').next().unwrap_or_default();
        return Err(bad(match what {
            "$batch" => "a batch cannot hold another batch".into(),
            "$metadata" => "$metadata is not served inside a batch".into(),
            _ => format!("{what}: content-ID references are not supported; use the item's URL"),
        }));
    }
    let mut parts = path.splitn(2, '/');
    let segment = parts.next().unwrap_or_default().to_string();
    let extra = parts.next().map(str::to_string);
    if segment.is_empty() {
        return Err(bad("the url names no entity set".into()));
    }
    let pairs = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    Ok(Target {
        segment,
        extra,
        pairs,
    })
}

/// An item's answer: its ETag, its location if new, and its context URL in the body (as
/// the same request sent alone gets), `…/$metadata#Entity/$entity` for `entity`.
fn item_answer(
    status: u16,
    mut item: keyway_data::Item,
    (base, entity): (&str, &str),
    location: Option<String>,
) -> Answer {
    if let Some(body) = item.body.as_object_mut() {
        body.insert(
            "@odata.context".into(),
            json!(format!("{base}/$metadata#{entity}/$entity")),
        );
    }
    let mut headers = json_type();
    headers.insert("etag".into(), json!(item.etag));
    if let Some(location) = location {
        headers.insert("location".into(), json!(location));
    }
    Answer {
        status,
        headers,
        body: Some(item.body),
    }
}

async fn single(
    data: &DataService,
    request: &SubRequest,
    scopes: &[&str],
    base: &str,
    caller: &Caller,
) -> Answer {
    let target = match target(request, base) {
        Ok(target) => target,
        Err(answer) => return answer,
    };
    let refused = |e: keyway_data::DataError| Answer::refused(caller.refusal(e));
    let (entity, id) = split_segment(&target.segment);
    let method = request.method.to_ascii_uppercase();
    match (method.as_str(), id, target.extra.as_deref()) {
        ("GET", None, Some("$count")) => match data.count(&entity, &target.pairs, scopes).await {
            Ok(n) => Answer {
                status: 200,
                headers: {
                    let mut h = Map::new();
                    h.insert("content-type".into(), json!("text/plain"));
                    h
                },
                body: Some(json!(n)),
            },
            Err(e) => refused(e),
        },
        (_, _, Some(extra)) => Answer::error(
            404,
            "not_found",
            &format!("no resource {extra:?} under {entity}"),
        ),
        ("GET", None, None) => {
            let prefer = request
                .header("prefer")
                .and_then(crate::data::page_size_preference);
            match data
                .list(&entity, &target.pairs, scopes, base, prefer)
                .await
            {
                Ok(page) => {
                    let mut headers = json_type();
                    if let Some(size) = page.max_page_size_applied {
                        headers.insert(
                            "preference-applied".into(),
                            json!(format!("odata.maxpagesize={size}")),
                        );
                    }
                    Answer {
                        status: 200,
                        headers,
                        body: Some(page.body),
                    }
                }
                Err(e) => refused(e),
            }
        }
        ("GET", Some(id), None) => {
            match data.get(&entity, &id, &target.pairs, scopes, base).await {
                Ok(item)
                    if request
                        .header("if-none-match")
                        .is_some_and(|tags| crate::data::tags_match(tags, &item.etag)) =>
                {
                    let mut headers = Map::new();
                    headers.insert("etag".into(), json!(item.etag));
                    Answer {
                        status: 304,
                        headers,
                        body: None,
                    }
                }
                Ok(item) => item_answer(200, item, (base, &canonical(data, &entity)), None),
                Err(e) => refused(e),
            }
        }
        _ => match write_op(request, &target) {
            Ok(WriteOp::Create { entity, body }) => {
                match data.create_at(&entity, &body, scopes, base).await {
                    Ok(item) => {
                        let name = canonical(data, &entity);
                        let location = format!("{base}/{name}({})", item.id);
                        item_answer(201, item, (base, &name), Some(location))
                    }
                    Err(e) => refused(e),
                }
            }
            Ok(WriteOp::Update {
                entity,
                id,
                body,
                if_match,
                mode,
            }) => {
                match data
                    .update(&entity, &id, &body, if_match.as_deref(), scopes, mode)
                    .await
                {
                    Ok(item) => item_answer(200, item, (base, &canonical(data, &entity)), None),
                    Err(e) => refused(e),
                }
            }
            Ok(WriteOp::Delete {
                entity,
                id,
                if_match,
            }) => match data.delete(&entity, &id, if_match.as_deref(), scopes).await {
                Ok(()) => Answer {
                    status: 204,
                    headers: Map::new(),
                    body: None,
                },
                Err(e) => refused(e),
            },
            Err(answer) => answer,
        },
    }
}

/// A write sub-request as a [`WriteOp`] (for a group: GETs and bad shapes are refused).
fn write_op(request: &SubRequest, target: &Target) -> Result<WriteOp, Answer> {
    let (entity, id) = split_segment(&target.segment);
    let method = request.method.to_ascii_uppercase();
    let if_match = request.header("if-match").map(str::to_string);
    let body = || {
        request.body.clone().ok_or_else(|| {
            Answer::error(400, "bad_request", &format!("{method} needs a JSON body"))
        })
    };
    if target.extra.is_some() || !target.pairs.is_empty() && method != "GET" {
        return Err(Answer::error(
            400,
            "bad_request",
            &format!("{method} takes no query options or sub-paths in a batch"),
        ));
    }
    match (method.as_str(), id) {
        ("POST", None) => Ok(WriteOp::Create {
            entity,
            body: body()?,
        }),
        ("PATCH" | "PUT", Some(id)) => Ok(WriteOp::Update {
            entity,
            id,
            body: body()?,
            if_match,
            mode: if method == "PUT" {
                UpdateMode::Replace
            } else {
                UpdateMode::Merge
            },
        }),
        ("DELETE", Some(id)) => Ok(WriteOp::Delete {
            entity,
            id,
            if_match,
        }),
        ("GET", _) => Err(Answer::error(
            400,
            "bad_request",
            "an atomicity group holds only changes (POST, PUT, PATCH, DELETE), not GET",
        )),
        ("POST" | "PATCH" | "PUT" | "DELETE", _) => Err(Answer::error(
            405,
            "method_not_allowed",
            &format!("{method} does not apply to {}", target.segment),
        )),
        _ => Err(Answer::error(
            405,
            "method_not_allowed",
            &format!("{method:?} is not GET, POST, PUT, PATCH or DELETE"),
        )),
    }
}

/// An atomicity group: every write in one transaction.
async fn atomic(
    data: &DataService,
    unit: &[SubRequest],
    scopes: &[&str],
    base: &str,
    caller: &Caller,
) -> Vec<Answer> {
    let mut ops = Vec::with_capacity(unit.len());
    for (index, request) in unit.iter().enumerate() {
        let op = target(request, base).and_then(|t| write_op(request, &t));
        match op {
            Ok(op) => ops.push(op),
            Err(answer) => return group_failed(unit, index, answer),
        }
    }
    match data.write_atomically(&ops, scopes, base).await {
        Ok(outcomes) => outcomes
            .into_iter()
            .zip(&ops)
            .map(|(outcome, op)| match (outcome, op) {
                (WriteOutcome::Item { entity, item }, WriteOp::Create { .. }) => {
                    let location = format!("{base}/{entity}({})", item.id);
                    item_answer(201, item, (base, &entity), Some(location))
                }
                (WriteOutcome::Item { entity, item }, _) => {
                    item_answer(200, item, (base, &entity), None)
                }
                (WriteOutcome::Deleted, _) => Answer {
                    status: 204,
                    headers: Map::new(),
                    body: None,
                },
            })
            .collect(),
        Err((index, e)) => group_failed(unit, index, Answer::refused(caller.refusal(e))),
    }
}

/// The group's answers when request `index` was refused with `answer`: nothing was written.
fn group_failed(unit: &[SubRequest], index: usize, answer: Answer) -> Vec<Answer> {
    let failed = unit.get(index).map_or("", |r| r.id.as_str());
    let mut answers: Vec<Answer> = unit
        .iter()
        .map(|_| {
            Answer::failed_dependency(&format!(
                "not applied: request {failed} of the same atomicity group was refused, and the \
                 group was rolled back"
            ))
        })
        .collect();
    if let Some(slot) = answers.get_mut(index) {
        *slot = answer;
    }
    answers
}

/// `Allow` for a GET of the batch resource.
/// (Authenticated like every data API route: a stranger learns nothing about it.)
pub(crate) async fn batch_get(_caller: Caller) -> ApiError {
    ApiError::MethodNotAllowed {
        allow: "POST",
        detail: "POST a JSON batch to $batch".into(),
    }
}
