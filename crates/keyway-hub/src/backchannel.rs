//! Back-channel logout delivery (OpenID Connect Back-Channel Logout 1.0 §2.5): each logout
//! token is POSTed as the form field `logout_token` to its client's `backchannel_logout_uri`.
//! Three tries (at once, after 1 s, after 5 s) while the client cannot be reached or answers
//! 5xx; a 4xx answer is final (the client refused this token). 5 s timeout, no redirects
//! followed. Outcomes are logged and counted (`keyway_backchannel_logout_total{result}`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use keyway_auth::{LogoutDelivery, LogoutNotice};

/// Pauses before the second and third tries.
const RETRY_AFTER: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(5)];
/// Deliveries under way at once; more wait their turn (each may take ~21 s at worst).
const CONCURRENT_DELIVERIES: usize = 64;

/// Delivers logout tokens over HTTP: the hub in background tasks (a sign-out page never
/// waits for a client), an admin command in the foreground (it ends once all are answered).
#[derive(Clone)]
pub struct HttpLogoutDelivery {
    client: reqwest::Client,
    background: bool,
    slots: std::sync::Arc<tokio::sync::Semaphore>,
}

impl HttpLogoutDelivery {
    /// `background`: deliver from spawned tasks (the hub) instead of before returning.
    /// `private_ca`: certificates trusted besides the public roots (`--ca-file`).
    pub fn new(
        background: bool,
        private_ca: &[rustls::pki_types::CertificateDer<'static>],
    ) -> Result<HttpLogoutDelivery, reqwest::Error> {
        Ok(HttpLogoutDelivery {
            client: crate::jwks_fetch::outbound_client(private_ca)?,
            background,
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENT_DELIVERIES)),
        })
    }
}

impl LogoutDelivery for HttpLogoutDelivery {
    fn deliver(&self, notices: Vec<LogoutNotice>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let client = self.client.clone();
        // An admin command says on stderr what each client answered (its log is quiet).
        let report = !self.background;
        let slots = self.slots.clone();
        let work = async move {
            let mut tasks = tokio::task::JoinSet::new();
            for notice in notices {
                let (client, slots) = (client.clone(), slots.clone());
                tasks.spawn(async move {
                    // Closed only if the semaphore is dropped, which it never is while held.
                    let _slot = slots.acquire_owned().await;
                    deliver_one(client, notice, report).await;
                });
            }
            while tasks.join_next().await.is_some() {}
        };
        if self.background {
            tokio::spawn(work);
            Box::pin(async {})
        } else {
            Box::pin(work)
        }
    }
}

/// What one try came to.
enum Outcome {
    Delivered(u16),
    Refused(u16),
    Retry(String),
}

async fn deliver_one(client: reqwest::Client, notice: LogoutNotice, report: bool) {
    let mut last = String::new();
    for attempt in 0..=RETRY_AFTER.len() {
        if attempt > 0 {
            tokio::time::sleep(RETRY_AFTER[attempt - 1]).await;
        }
        match try_once(&client, &notice).await {
            Outcome::Delivered(status) => {
                tracing::info!(client_id = %notice.client_id, status, "back-channel logout delivered");
                if report {
                    eprintln!(
                        "back-channel logout: client {} told ({} answered {status})",
                        notice.client_id, notice.uri
                    );
                }
                ::metrics::counter!("keyway_backchannel_logout_total", "result" => "delivered")
                    .increment(1);
                return;
            }
            Outcome::Refused(status) => {
                tracing::warn!(client_id = %notice.client_id, uri = %notice.uri, status, "back-channel logout refused by the client");
                if report {
                    eprintln!(
                        "back-channel logout: client {} refused the logout token ({} answered \
                         {status})",
                        notice.client_id, notice.uri
                    );
                }
                ::metrics::counter!("keyway_backchannel_logout_total", "result" => "refused")
                    .increment(1);
                return;
            }
            Outcome::Retry(why) => last = why,
        }
    }
    tracing::warn!(client_id = %notice.client_id, uri = %notice.uri, error = %last, "back-channel logout not delivered after 3 tries");
    if report {
        eprintln!(
            "back-channel logout: client {} not told after 3 tries ({}: {last})",
            notice.client_id, notice.uri
        );
    }
    ::metrics::counter!("keyway_backchannel_logout_total", "result" => "failed").increment(1);
}

async fn try_once(client: &reqwest::Client, notice: &LogoutNotice) -> Outcome {
    let sent = client
        .post(&notice.uri)
        .form(&[("logout_token", notice.logout_token.as_str())])
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                Outcome::Delivered(status.as_u16())
            } else if status.is_server_error() {
                Outcome::Retry(format!("HTTP {}", status.as_u16()))
            } else {
                Outcome::Refused(status.as_u16())
            }
        }
        Err(err) if err.is_timeout() => Outcome::Retry("no answer within 5 seconds".into()),
        Err(err) if err.is_connect() => Outcome::Retry("connection refused or unreachable".into()),
        Err(err) => Outcome::Retry(err.to_string()),
    }
}
