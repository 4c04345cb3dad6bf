//! Three nodes serving TLS (`keyway serve --tls-cert --tls-key`) on one PostgreSQL database,
//! behind HAProxy with TLS on every hop (deploy/haproxy-tls.cfg with this test's addresses
//! and files), as docs/deploy.md "TLS" sets a cluster up.

use std::process::Command;

use serde_json::Value;

use crate::cluster::{Balancer, Database, haproxy_missing, post_form, write_master_key};
use crate::harness::{Hub, free_port, http_client, keyway, str_field};
use crate::interop::available;
use crate::tls_ca::TestCa;

#[test]
fn three_tls_nodes_behind_haproxy_with_tls_on_every_hop() {
    if !available(
        "cluster_tls::three_tls_nodes_behind_haproxy_with_tls_on_every_hop",
        haproxy_missing(),
    ) {
        return;
    }
    let Ok(base_url) = std::env::var("KEYWAY_TEST_POSTGRES_URL") else {
        keyway_kernel::report_skip(
            "cluster_tls",
            "KEYWAY_TEST_POSTGRES_URL is not set",
            "set it to a PostgreSQL server's URL (.ci/run does)",
        );
        return;
    };
    let ca = TestCa::new();
    let (cert, key) = ca.issue("node");
    let (lb_cert, lb_key) = ca.issue("balancer");
    // HAProxy takes the chain and the key in one file.
    let lb_pem = ca.dir().join("balancer-with-key.pem");
    let mut joined = std::fs::read(&lb_cert).expect("cert");
    joined.extend(std::fs::read(&lb_key).expect("key"));
    std::fs::write(&lb_pem, joined).expect("write");
    let db = Database::create("postgres", &base_url);
    let master_key = ca.dir().join("master.key");
    write_master_key(&master_key);
    let (lb_port, plain_port) = (free_port(), free_port());
    let lb = format!("https://127.0.0.1:{lb_port}");
    let shown = |p: &std::path::Path| p.display().to_string();
    let nodes: Vec<Hub> = (1..=3)
        .map(|n| {
            let args = [
                "--database".to_string(),
                db.url.clone(),
                "--issuer".into(),
                lb.clone(),
                "--master-key-file".into(),
                shown(&master_key),
                "--node-id".into(),
                format!("node{n}"),
                "--trusted-proxy".into(),
                "127.0.0.1".into(),
                "--tls-cert".into(),
                shown(&cert),
                "--tls-key".into(),
                shown(&key),
            ];
            Hub::start_tls(
                &ca.ca_pem(),
                &args.iter().map(String::as_str).collect::<Vec<_>>(),
            )
        })
        .collect();
    // HAProxy marks every node up only if its health checks pass over verified TLS.
    let _balancer = Balancer::start_from(
        "deploy/haproxy-tls.cfg",
        &[
            (
                "bind :443 ssl crt /etc/haproxy/keyway.pem",
                format!("bind 127.0.0.1:{lb_port} ssl crt {}", shown(&lb_pem)),
            ),
            ("bind :80", format!("bind 127.0.0.1:{plain_port}")),
            ("/etc/haproxy/keyway-nodes-ca.pem", shown(&ca.ca_pem())),
            // As docs/deploy.md's trial: off port 443 the redirect must name the https port.
            ("redirect scheme https", format!("redirect prefix {lb}")),
        ],
        &nodes.iter().collect::<Vec<_>>(),
        |n, address| format!("    server node{n} {address} check verifyhost localhost\n"),
        lb.clone(),
    );

    let created = keyway()
        .args([
            "client",
            "create",
            "--name",
            "svc",
            "--grant",
            "client_credentials",
        ])
        .args(["--scope", "read", "--json", "--database", &db.url])
        .arg("--master-key-file")
        .arg(&master_key)
        .arg("--data-dir")
        .arg(nodes[0].data_dir())
        .output()
        .expect("client create");
    assert!(created.status.success(), "{created:?}");
    let client: Value = serde_json::from_slice(&created.stdout).expect("JSON");
    let svc = (
        str_field(&client, "client_id"),
        str_field(&client, "client_secret"),
    );
    let https = http_client(Some(&ca.ca_pem()));
    let metadata: Value = https
        .get(format!("{lb}/.well-known/openid-configuration"))
        .send()
        .expect("discovery")
        .json()
        .expect("JSON");
    assert_eq!(metadata["issuer"], lb.as_str());
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let ready: Value = https
            .get(format!("{lb}/readyz"))
            .send()
            .expect("readyz")
            .json()
            .expect("JSON");
        seen.insert(ready["node"].as_str().unwrap_or_default().to_string());
        let token: Value = https
            .post(format!("{lb}/oauth2/token"))
            .basic_auth(svc.0, Some(svc.1))
            .form(&[("grant_type", "client_credentials"), ("scope", "read")])
            .send()
            .expect("token")
            .json()
            .expect("JSON");
        let token = str_field(&token, "access_token");
        for node in &nodes {
            let url = format!("{}/oauth2/introspect", node.url);
            let (status, body) =
                post_form(&https, &url, svc, &[("token", token)]).expect("introspection");
            assert!(status == 200 && body["active"] == true, "at {url}: {body}");
        }
    }
    assert_eq!(seen.len(), 3, "round robin over TLS reached {seen:?}");
    // Clients speak HTTP/2 to the balancer; plain http there only redirects to https.
    let out = Command::new("curl")
        .args(["-sS", "--http2", "-o", "/dev/null", "-w", "%{http_version}"])
        .arg("--cacert")
        .arg(ca.ca_pem())
        .arg(format!("{lb}/healthz"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2", "{out:?}");
    let plain = http_client(None)
        .get(format!("http://127.0.0.1:{plain_port}/healthz"))
        .send()
        .expect("plain http");
    assert_eq!(plain.status(), 301);
    assert_eq!(
        plain.headers()["location"],
        format!("{lb}/healthz").as_str()
    );
}
