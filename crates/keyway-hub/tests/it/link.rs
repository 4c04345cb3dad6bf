//! Record linkage over HTTP on every backend: partners, streaming batches, conflicts, stats.

use keyway_link::LinkService;

use crate::harness::{TestHub, client_credentials_token, http, on_every_backend};

fn h(n: u32) -> String {
    format!("{n:08x}").repeat(8)
}

/// A client with link:submit bound to partner `code`; returns its access token.
async fn partner(hub: &TestHub, code: &str) -> String {
    let (id, secret) = hub
        .client(&["client_credentials"], "link:submit link:read", &[])
        .await;
    let link = LinkService::open(hub.auth.store().clone(), b"unused")
        .await
        .unwrap();
    link.create_partner(code, &id, 0).await.unwrap();
    client_credentials_token(hub, &id, &secret).await
}

async fn submit(hub: &TestHub, token: &str, body: String) -> (u16, String) {
    let response = http()
        .post(hub.url("/link/v1/batches"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// PATID → (UUID, FLAG, REASON) from an answer.
fn rows(text: &str) -> Vec<(String, String, String, String)> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["PATID", "UUID", "FLAG", "REASON"]
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].into(), r[1].into(), r[2].into(), r[3].into())
        })
        .collect()
}

#[tokio::test]
async fn links_across_partners_with_conflicts_collisions_and_resubmission() {
    on_every_backend(async |hub: &TestHub| {
        let a = partner(hub, "A").await;
        let b = partner(hub, "B").await;
        let batch_a = format!(
            "PATID,F_L_D_R,F_L_D_S\na1,{},{}\na2,{},\na3,,{}\na4,{},\n",
            h(1),
            h(2),
            h(3),
            h(4),
            h(1).to_uppercase()
        );
        let (status, text) = submit(hub, &a, batch_a.clone()).await;
        assert_eq!(status, 200, "{}: {text}", hub.backend);
        let ra = rows(&text);
        assert_eq!(ra.len(), 4);
        assert_eq!(ra[0].2, "NEW");
        assert_eq!(ra[3].2, "COLLISION", "{:?}", ra[3]);
        assert!(ra[3].3.contains("a1"));
        assert_ne!(ra[3].1, ra[0].1);
        // B: same person as a1; a record matching a2 by F_L_D_R and a3 by F_L_D_S (conflict).
        let batch_b = format!(
            "PATID,F_L_D_S,F_L_D_R\nb1,{},\nb2,{},{}\nb3,,zz\n,{},\nb1,{},\n",
            h(2),
            h(4),
            h(3),
            h(9),
            h(9)
        );
        let (status, text) = submit(hub, &b, batch_b.clone()).await;
        assert_eq!(status, 200, "{}: {text}", hub.backend);
        let rb = rows(&text);
        assert_eq!(rb.len(), 5, "{text}");
        assert_eq!(
            (rb[0].1.as_str(), rb[0].2.as_str()),
            (ra[0].1.as_str(), "LINKED")
        );
        assert_eq!(rb[1].2, "CONFLICT");
        assert_eq!(rb[1].1, ra[2].1, "F_L_D_S (a3) outranks F_L_D_R (a2)");
        assert_eq!(rb[2].2, "ERROR");
        assert!(rb[2].3.contains("line 4"), "{:?}", rb[2]);
        assert_eq!(rb[3].2, "ERROR");
        assert!(rb[4].3.contains("duplicate"), "{:?}", rb[4]);
        // Resubmission: same answers, nothing duplicated.
        let (_, again) = submit(hub, &a, batch_a).await;
        assert_eq!(rows(&again), ra);
        let (_, again) = submit(hub, &b, batch_b).await;
        assert_eq!(rows(&again), rb);

        let stats: serde_json::Value = http()
            .get(hub.url("/link/v1/stats"))
            .bearer_auth(&a)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stats["partners"], 2, "{stats}");
        assert_eq!(stats["records"], 6, "{stats}");
        assert_eq!(stats["persons"], 4, "{stats}");
        assert_eq!(stats["conflicts"], 1, "{stats}");
        assert_eq!(stats["per_partner"][0]["collisions"], 1, "{stats}");
        let conflicts: serde_json::Value = http()
            .get(hub.url("/link/v1/conflicts?after=0&limit=10"))
            .bearer_auth(&a)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list = conflicts["conflicts"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{conflicts}");
        assert_eq!(list[0]["patid"], "b2");
        assert_eq!(list[0]["chosen_uuid"], ra[2].1.as_str());
        assert_eq!(list[0]["candidates"]["F_L_D_R"][0], ra[1].1.as_str());
    })
    .await;
}

#[tokio::test]
async fn large_batch_streams_in_chunks_and_matches_small_batches() {
    on_every_backend(async |hub: &TestHub| {
        let a = partner(hub, "A").await;
        let b = partner(hub, "B").await;
        let mut big = String::from("PATID,F_L_D_S,F_L_D_R\n");
        // 25,000 records: more than one JSON array per statement (20,000 values) on the way
        // in and, for B's first batch, on the way out.
        for i in 0..25_000u32 {
            big.push_str(&format!("p{i},{},{}\n", h(i), h(100_000 + i)));
        }
        let (status, text) = submit(hub, &a, big).await;
        assert_eq!(status, 200);
        let first = rows(&text);
        assert_eq!(first.len(), 25_000);
        assert!(first.iter().all(|r| r.2 == "NEW"));
        // The same people from B, in two batches: every one linked to A's UUID.
        for range in [0..21_000u32, 21_000..25_000] {
            let mut batch = String::from("PATID,F_L_D_R\n");
            for i in range.clone() {
                batch.push_str(&format!("q{i},{}\n", h(100_000 + i)));
            }
            let (status, text) = submit(hub, &b, batch).await;
            assert_eq!(status, 200);
            for (row, i) in rows(&text).iter().zip(range) {
                assert_eq!(row.2, "LINKED");
                assert_eq!(row.1, first[i as usize].1);
            }
        }
    })
    .await;
}

#[tokio::test]
async fn refuses_missing_tokens_scopes_partners_and_identifiers() {
    on_every_backend(async |hub: &TestHub| {
        let url = hub.url("/link/v1/batches");
        let body = format!("PATID,F_L_D_S\np1,{}\n", h(1));
        let response = http().post(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
        let response = http().post(&url).bearer_auth("a.b.c").body(body.clone()).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));

        let (id, secret) = hub.client(&["client_credentials"], "read", &[]).await;
        let token = client_credentials_token(hub, &id, &secret).await;
        let response = http().post(&url).bearer_auth(&token).body(body.clone()).send().await.unwrap();
        assert_eq!(response.status(), 403);
        let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_string();
        assert!(challenge.contains("error=\"insufficient_scope\""), "{challenge}");
        assert!(challenge.contains("scope=\"link:submit\""), "{challenge}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");

        let (id, secret) = hub.client(&["client_credentials"], "link:submit", &[]).await;
        let unbound = client_credentials_token(hub, &id, &secret).await;
        let (status, text) = submit(hub, &unbound, body.clone()).await;
        assert_eq!(status, 403, "{text}");
        assert!(text.contains("partner"), "{text}");
        let response = http().get(hub.url("/link/v1/stats")).bearer_auth(&unbound).send().await.unwrap();
        assert_eq!(response.status(), 403, "stats need link:read");

        let token = partner(hub, "A").await;
        let (status, text) = submit(hub, &token, "PATID,FIRST,LAST,DOB,F_L_D_S\n".into()).await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("identifying"), "{text}");
        let (status, _) = submit(hub, &token, String::new()).await;
        assert_eq!(status, 400, "empty batch");
        let response = http()
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/x-ndjson")
            .header("accept", "application/x-ndjson")
            .body(format!("{{\"patid\":\"n1\",\"F_L_D_S\":\"{}\"}}\n{{\"patid\":\"n2\",\"F_L_D_S\":\"bad\"}}\n", h(5)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["flag"], "NEW", "{text}");
        assert_eq!(lines[1]["flag"], "ERROR", "{text}");
    })
    .await;
}

#[tokio::test]
async fn overlong_lines_and_fields_are_refused_by_number_without_echo() {
    on_every_backend(async |hub: &TestHub| {
        let token = partner(hub, "LONG").await;
        // A few MB without a newline: the parse used to be quadratic in the line and the
        // answer echoed the line back as a patid.
        let long = "X".repeat(3 << 20);
        let cases = [
            (format!("PATID,F_L_D_S\n{long}"), "line 2"),
            (
                format!("PATID,F_L_D_S\np1,{}\n{long},{}\n", h(1), h(2)),
                "line 3",
            ),
            (long.clone(), "line 1"),
            // One field over the field limit inside a line under the line limit.
            (
                format!("PATID,F_L_D_S\n{},{}\n", "Y".repeat(300), h(3)),
                "line 2",
            ),
        ];
        for (body, line) in cases {
            let (status, text) = submit(hub, &token, body).await;
            assert_eq!(status, 413, "{}: {line}: {text:.300}", hub.backend);
            assert!(
                text.len() < 1000,
                "{line}: the answer is {} bytes",
                text.len()
            );
            assert!(
                !text.contains("XXXX") && !text.contains("YYYY"),
                "{line}: {text}"
            );
            assert!(
                text.contains(line) && text.contains("bytes"),
                "{line}: {text}"
            );
        }
        let response = http()
            .post(hub.url("/link/v1/batches"))
            .bearer_auth(&token)
            .header("content-type", "application/x-ndjson")
            .body(format!("{{\"patid\":\"{long}\"}}\n"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413);
        let text = response.text().await.unwrap();
        assert!(!text.contains("XXXX") && text.contains("line 1"), "{text}");
        // Nothing of a refused batch was linked.
        let (status, text) = submit(hub, &token, format!("PATID,F_L_D_S\np1,{}\n", h(1))).await;
        assert_eq!(status, 200);
        assert_eq!(rows(&text)[0].2, "NEW", "{text}");
    })
    .await;
}

#[tokio::test]
async fn formula_patids_are_neutralised_in_answers_and_read_back_exactly() {
    on_every_backend(async |hub: &TestHub| {
        let token = partner(hub, "CSV").await;
        // Raw, quoted, and already guarded by a keyway writer ("'-8" is patid -8).
        let body = format!(
            "PATID,F_L_D_S\n=cmd|' /C calc'!A0,{}\n-7,{}\n\"'-8\",{}\n\"@x\",bad\n",
            h(1),
            h(2),
            h(3)
        );
        let (status, text) = submit(hub, &token, body).await;
        assert_eq!(status, 200, "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("\"'=cmd|' /C calc'!A0\","), "{text}");
        assert!(lines[2].starts_with("\"'-7\","), "{text}");
        assert!(lines[3].starts_with("\"'-8\","), "{text}");
        assert!(lines[4].starts_with("\"'@x\",,ERROR,"), "{text}");
        // The guard is not part of the patid: -8 sent as NDJSON is the same record.
        let response = http()
            .post(hub.url("/link/v1/batches"))
            .bearer_auth(&token)
            .header("content-type", "application/x-ndjson")
            .header("accept", "application/x-ndjson")
            .body(format!("{{\"patid\":\"-8\",\"F_L_D_S\":\"{}\"}}\n", h(3)))
            .send()
            .await
            .unwrap();
        let answer: serde_json::Value =
            serde_json::from_str(response.text().await.unwrap().trim()).unwrap();
        assert_eq!(answer["patid"], "-8");
        assert_eq!(answer["uuid"], rows(&text)[2].1.as_str(), "{answer}");
    })
    .await;
}

/// The statistics refresh the linker runs as its tables grow is valid SQL on every backend,
/// also while the tables hold rows.
#[tokio::test]
async fn link_tables_can_be_analysed_on_every_backend() {
    on_every_backend(async |hub: &TestHub| {
        let token = partner(hub, "ANA").await;
        let (status, _) = submit(hub, &token, format!("PATID,F_L_D_S\np1,{}\n", h(1))).await;
        assert_eq!(status, 200);
        hub.auth.store().analyze_link_tables().await.unwrap();
    })
    .await;
}
