//! What checking one DPoP proof costs (RFC 9449; issue target ≤ 60 µs): parsing, the Ed25519
//! signature, htm/htu/iat/ath and the key's thumbprint — everything but the replay cache, a
//! map insert. Proofs are made in advance, each checked once per iteration.
//!
//! `cargo bench -p keyway-auth --bench dpop`

use aws_lc_rs::digest;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use keyway_auth::verify_dpop_proof;

const URL: &str = "https://hub.example/link/v1/stats";
const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
const NOW: i64 = 1_800_000_000;

fn proof(pair: &Ed25519KeyPair, jti: usize) -> String {
    let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let header = format!(
        r#"{{"typ":"dpop+jwt","alg":"EdDSA","jwk":{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}}}"#
    );
    let ath = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, TOKEN.as_bytes()));
    let claims =
        format!(r#"{{"htm":"GET","htu":"{URL}","iat":{NOW},"jti":"proof-{jti}","ath":"{ath}"}}"#);
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = pair.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

fn bench(c: &mut Criterion) {
    let Ok(pair) = Ed25519KeyPair::generate() else {
        return;
    };
    let proofs: Vec<String> = (0..1024).map(|n| proof(&pair, n)).collect();
    // Measure the whole check, not an early refusal.
    let checked = verify_dpop_proof(&proofs[0], "GET", URL, Some(TOKEN), NOW);
    assert!(checked.is_ok(), "the sample proof must verify: {checked:?}");
    let mut next = 0usize;
    c.bench_function("dpop_proof_check_ed25519", |b| {
        b.iter(|| {
            next = (next + 1) % proofs.len();
            verify_dpop_proof(&proofs[next], "GET", URL, Some(TOKEN), NOW)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
