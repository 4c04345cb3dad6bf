//! The TLS edge of the accept loop: connections that never finish a handshake and HTTP/2
//! connections that go quiet are closed, so they cannot hold the hub's connection slots.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// A CA (`ca.pem`) and a certificate for 127.0.0.1 it signed (`hub.pem`, `hub.key`).
fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "1", "-subj", "/CN=test CA"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, &ca);
    let mut csr = vec![
        "req", "-subj", "/CN=hub", "-keyout", "hub.key", "-out", "hub.csr",
    ];
    csr.extend(ec);
    openssl(dir, &csr);
    std::fs::write(dir.join("hub.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "hub.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "hub.ext",
            "-out",
            "hub.pem",
        ],
    );
}

/// A rustls client for the test CA, offering `alpn`.
fn connector(dir: &Path, alpn: &[u8]) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Reads until the server closes; whether it did within 10 s.
async fn closed_by_server(mut stream: impl tokio::io::AsyncRead + Unpin) -> bool {
    let mut buf = [0u8; 4096];
    let until_closed = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), until_closed)
        .await
        .is_ok()
}

#[tokio::test]
async fn stalled_handshakes_and_quiet_http2_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = keyway_hub::HubOptions {
        tls: Some(keyway_hub::TlsFiles {
            cert: dir.path().join("hub.pem"),
            key: dir.path().join("hub.key"),
        }),
        connections: keyway_hub::ConnectionLimits {
            header_read_timeout: Duration::from_secs(1),
            max_connections: 20,
            max_connections_per_address: 64,
            drain_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            ..keyway_hub::ConnectionLimits::default()
        },
        ..crate::harness::plain_options(
            &dir.path().join("data"),
            &format!("sqlite://{}", dir.path().join("data/keyway.db").display()),
            keyway_auth::AuthConfig::new(&format!("https://{addr}")),
        )
    };
    let hub = keyway_hub::Hub::open(&options).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hub.serve(listener, async {
        let _ = stopped.await;
    }));

    // Every slot taken by sockets that say nothing, or start a handshake and stop.
    let mut silent = Vec::new();
    for i in 0..20 {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i % 2 == 0 {
            socket
                .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
                .await
                .unwrap();
        }
        silent.push(socket);
    }
    for socket in silent.iter_mut().take(4) {
        assert!(
            closed_by_server(socket).await,
            "a stalled handshake kept its slot"
        );
    }

    // An HTTP/2 connection that sends its preface and then nothing is shut down.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut h2 = connector(dir.path(), b"h2")
        .connect(name.clone(), tcp)
        .await
        .expect("TLS with the hub");
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    assert!(
        closed_by_server(h2).await,
        "a quiet HTTP/2 connection stayed open"
    );

    // A real client is served once the stalled ones are gone.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut h1 = connector(dir.path(), b"http/1.1")
        .connect(name, tcp)
        .await
        .expect("TLS with the hub");
    h1.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), h1.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = stop.send(());
    let _ = server.await;
}
