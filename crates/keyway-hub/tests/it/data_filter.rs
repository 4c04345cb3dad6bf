//! `$filter`'s arithmetic, `indexof` and `has` on every backend: the same rows match on
//! SQLite, PostgreSQL and MariaDB.

use reqwest::Method;
use serde_json::json;

use crate::data_api::{call, each_backend, token};
use crate::harness::TestHub;

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn arithmetic_indexof_and_has_match_alike_everywhere() {
    each_backend(async |hub: &TestHub| {
        let rw = token(hub, "contact.readwrite").await;
        for (first, score, status) in [
            ("Ann", 10, "lead"),
            ("Joanna", 25, "customer"),
            ("Bob", 7, "lead"),
        ] {
            let body =
                json!({"firstName": first, "lastName": "L", "score": score, "status": status});
            let (code, _, created) = call(
                Method::POST,
                &hub.url("/api/Contact"),
                &rw,
                Some(body),
                None,
            )
            .await;
            assert_eq!(code, 201, "{created}");
        }
        let names = async |filter: &str| {
            let url = hub.url(&format!(
                "/api/Contact?$orderby=firstName&$filter={}",
                enc(filter)
            ));
            let (code, _, page) = call(Method::GET, &url, &rw, None, None).await;
            assert_eq!(code, 200, "{}: {filter}: {page}", hub.backend);
            page["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["firstName"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("score add 5 gt 14").await,
            ["Ann", "Joanna"],
            "{}",
            hub.backend
        );
        assert_eq!(names("score mul 2 sub 4 eq 16").await, ["Ann"]);
        assert_eq!(
            names("score div 2 eq 3").await,
            ["Bob"],
            "{}: integer division",
            hub.backend
        );
        assert_eq!(names("score mod 5 eq 0").await, ["Ann", "Joanna"]);
        assert_eq!(
            names("score div 4.0 gt 6").await,
            ["Joanna"],
            "{}",
            hub.backend
        );
        assert_eq!(
            names("indexof(firstName,'nn') eq 1").await,
            ["Ann"],
            "{}",
            hub.backend
        );
        assert_eq!(names("indexof(firstName,'nn') eq 3").await, ["Joanna"]);
        assert_eq!(
            names("indexof(firstName,'z') eq -1").await,
            ["Ann", "Bob", "Joanna"]
        );
        assert_eq!(
            names("status has keyway.Contact_status'lead'").await,
            ["Ann", "Bob"]
        );
        assert_eq!(
            names("not (status has keyway.Contact_status'lead') and score sub 20 ge 5").await,
            ["Joanna"]
        );
        let (code, _, problem) = call(
            Method::GET,
            &hub.url(&format!("/api/Contact?$filter={}", enc("score div 0 eq 1"))),
            &rw,
            None,
            None,
        )
        .await;
        assert!(
            code == 200 || code == 400,
            "{}: division by zero is no server error: {code} {problem}",
            hub.backend
        );
    })
    .await;
}
