//! Second factors at sign-in: a TOTP code (RFC 6238, `totp.rs`) after the password, or a
//! single-use recovery code. A user enrolled with `keyway user totp enroll` is asked for a code
//! once the password is right; only then is a login session opened. Between the two steps the
//! browser carries a sealed ticket (who, for which form, which browser, until when): the
//! password is not asked again and nothing is stored.
//!
//! Codes go through the sign-in throttle like passwords (same budgets per username and
//! address), and each time step or recovery code is spent once, by a conditional UPDATE.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyway_store::{TotpRecord, UserRecord};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{AdminError, AuthService, AuthorizeOutcome, Entropy, OAuthError, sha256_hex, totp};

/// The login method of a password sign-in completed with a second factor: login type
/// `password`, `amr` `["pwd", "otp", "mfa"]`.
pub const PASSWORD_OTP: &str = "password+otp";
/// A password sign-in completed with a passkey: `amr` `["pwd", "hwk", "mfa"]`.
pub const PASSWORD_PASSKEY: &str = "password+passkey";
/// A passkey alone (the authenticator verified the person: a PIN or biometric on a device
/// they hold, so two factors): `amr` `["hwk", "mfa"]`, login type `password` (this hub's own
/// accounts).
pub const PASSKEY: &str = "passkey";

/// Whether a session's login method had more than one factor.
pub(crate) fn is_multi_factor(login_method: &str) -> bool {
    matches!(login_method, PASSWORD_OTP | PASSWORD_PASSKEY | PASSKEY)
}

/// How a person signed in with an account of this hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalSignIn {
    Password,
    /// A password, then a TOTP or recovery code.
    PasswordAndCode,
    /// A password, then a passkey.
    PasswordAndPasskey,
    /// A passkey alone.
    Passkey,
}

impl LocalSignIn {
    /// The login method sessions and tokens record.
    pub fn method(self) -> &'static str {
        match self {
            LocalSignIn::Password => crate::PASSWORD,
            LocalSignIn::PasswordAndCode => PASSWORD_OTP,
            LocalSignIn::PasswordAndPasskey => PASSWORD_PASSKEY,
            LocalSignIn::Passkey => PASSKEY,
        }
    }
}

/// The `acr` of a sign-in: `"2"` with a second factor, `"1"` with one (the levels
/// `acr_values_supported` lists).
pub(crate) fn acr_of(login_method: &str) -> &'static str {
    if is_multi_factor(login_method) {
        "2"
    } else {
        "1"
    }
}

/// How long the second step may take after the password.
const TICKET_TTL: i64 = 300;
/// Recovery codes made at enrolment.
const RECOVERY_CODES: usize = 10;
/// Longest ticket read.
const MAX_TICKET_LEN: usize = 1024;
const TICKET_AAD: &[u8] = b"keyway second factor v1";

/// What `keyway user totp enroll` prints once: the URI for the authenticator app (and its QR
/// code), the secret for typing in, and the recovery codes.
#[derive(Debug, Serialize)]
pub struct TotpEnrolment {
    pub username: String,
    pub otpauth_uri: String,
    pub secret: String,
    pub recovery_codes: Vec<String>,
}

/// The outcome of the second step.
#[derive(Debug)]
pub enum SecondFactor {
    Accepted(UserRecord, LocalSignIn),
    /// A wrong, reused or malformed code.
    Refused,
    /// A passkey that did not do, and why (for the person).
    PasskeyRefused(String),
    /// Too many recent failures: try again after this many milliseconds.
    Throttled {
        wait_ms: i64,
    },
    /// The ticket is not this hub's, not for this form or browser, or too old: sign in again.
    Expired,
}

/// A self-enrolment in progress: what the page shows, and the sealed form field.
#[derive(Debug)]
pub struct PendingEnrolment {
    pub ticket: String,
    pub otpauth_uri: String,
    pub secret: String,
}

/// The second factors a user can give after their password.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecondFactors {
    /// A TOTP enrolment (and so recovery codes).
    pub code: bool,
    pub passkey: bool,
}

impl SecondFactors {
    pub fn any(self) -> bool {
        self.code || self.passkey
    }
}

/// How long a person has to scan the code and confirm it.
const ENROLMENT_TTL: i64 = 600;
const ENROLMENT_AAD: &[u8] = b"keyway totp enrolment v1";

#[derive(Serialize, Deserialize)]
struct EnrolmentTicket {
    user_id: String,
    /// The new secret, base64url (sealed with the rest).
    secret: String,
    browser: String,
    expires_at: i64,
}

#[derive(Serialize, Deserialize)]
struct Ticket {
    user_id: String,
    /// SHA-256 (hex) of the form it continues: an authorization request id (a sealed one is
    /// long), or `hub:login`.
    purpose: String,
    /// SHA-256 (hex) of the browser cookie.
    browser: String,
    /// A digest of the password hash and the enrolment's time: a new password or a new
    /// enrolment voids tickets issued before.
    credentials: String,
    expires_at: i64,
}

pub(crate) struct TicketSeal(pub(crate) crate::sealed_box::SealKey);

impl TicketSeal {
    pub(crate) fn new(csrf_key: &hmac::Key) -> Option<TicketSeal> {
        crate::sealed_box::SealKey::derived(csrf_key, b"keyway second factor seal v1")
            .map(TicketSeal)
    }
}

/// Sealing context of a user's TOTP secret under the master key.
pub(crate) fn totp_context(user_id: &str) -> String {
    format!("totp:{user_id}")
}

/// A recovery code as stored: its digest, whatever case and dashes it was typed with.
fn recovery_digest(code: &str) -> Option<String> {
    let normal: String = code
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (normal.len() == RECOVERY_CODE_CHARS && normal.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| sha256_hex(&normal))
}

/// Characters of a recovery code: 16 of base32, 80 bits, so that their unsalted digests in a
/// stolen database cannot be searched (2^80), whatever the number of users.
const RECOVERY_CODE_CHARS: usize = 16;

/// A new recovery code: 16 base32 characters (80 bits), shown as `XXXX-XXXX-XXXX-XXXX`.
fn new_recovery_code(entropy: &dyn Entropy) -> String {
    let mut bytes = [0u8; 10];
    entropy.fill(&mut bytes);
    let text = totp::base32(&bytes);
    format!(
        "{}-{}-{}-{}",
        &text[..4],
        &text[4..8],
        &text[8..12],
        &text[12..16]
    )
}

/// Wrong codes one account may get in [`FAILURE_WINDOW`], from all addresses together and
/// whatever passwords came between: the sign-in throttle counts per address and a correct
/// password resets it, which would let someone holding the password spread guesses.
pub(crate) const MAX_CODE_FAILURES: u32 = 10;
pub(crate) const FAILURE_WINDOW: i64 = 900;
/// Accounts tracked at most (the oldest windows go first).
const MAX_TRACKED: usize = 100_000;

/// Wrong second-factor codes per account (in memory: a restart forgets, as the sign-in
/// throttle does).
#[derive(Default)]
pub(crate) struct CodeFailures(std::sync::Mutex<std::collections::HashMap<String, (i64, u32)>>);

impl CodeFailures {
    /// Seconds until codes are taken again for `user_id`, if it is locked.
    pub(crate) fn locked_for(&self, user_id: &str, now: i64) -> Option<i64> {
        let map = self.0.lock().ok()?;
        let (start, count) = map.get(user_id)?;
        (*count >= MAX_CODE_FAILURES && now < start + FAILURE_WINDOW)
            .then(|| start + FAILURE_WINDOW - now)
    }

    pub(crate) fn record(&self, user_id: &str, now: i64) {
        let Ok(mut map) = self.0.lock() else {
            return;
        };
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (start, _)| now < *start + FAILURE_WINDOW);
        }
        let entry = map.entry(user_id.to_string()).or_insert((now, 0));
        if now >= entry.0 + FAILURE_WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

impl AuthService {
    /// Enrols a user in TOTP (`keyway user totp enroll`): a new secret, sealed with the master
    /// key, and new recovery codes. An enrolled user is refused unless `replace`.
    pub async fn enroll_totp(
        &self,
        username: &str,
        replace: bool,
    ) -> Result<TotpEnrolment, AdminError> {
        let user = self
            .store
            .user_by_name(username)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("user {username}")))?;
        if !replace && self.store.totp(&user.user_id).await?.is_some() {
            return Err(AdminError::Invalid(format!(
                "{username} is enrolled already: --replace makes a new secret (the old one and \
                 the old recovery codes stop working)"
            )));
        }
        let mut secret = Zeroizing::new([0u8; totp::SECRET_BYTES]);
        self.entropy.fill(secret.as_mut());
        let codes = self.store_totp(&user.user_id, secret.as_ref(), 0).await?;
        Ok(TotpEnrolment {
            username: user.username.clone(),
            otpauth_uri: self.otpauth_uri(&user.username, secret.as_ref()),
            secret: totp::base32(secret.as_ref()),
            recovery_codes: codes,
        })
    }

    /// Stores a user's TOTP secret (sealed) with new recovery codes; the codes, to show once.
    /// `last_step`: a step already used (self-enrolment confirms with a code).
    async fn store_totp(
        &self,
        user_id: &str,
        secret: &[u8],
        last_step: i64,
    ) -> Result<Vec<String>, AdminError> {
        let sealed =
            self.master_key()?
                .seal(&totp_context(user_id), secret, self.entropy.as_ref())?;
        let codes: Vec<String> = (0..RECOVERY_CODES)
            .map(|_| new_recovery_code(self.entropy.as_ref()))
            .collect();
        let digests: Vec<String> = codes.iter().filter_map(|c| recovery_digest(c)).collect();
        self.store
            .set_totp(
                &TotpRecord {
                    user_id: user_id.to_string(),
                    secret: sealed,
                    last_step,
                    created_at: self.clock.now_secs(),
                },
                &digests,
            )
            .await?;
        // Sessions opened before (with the password alone, or with a replaced factor) end:
        // one stolen before enrolment must not outlive it. The person signs in again.
        self.end_all_sessions(user_id, false).await?;
        Ok(codes)
    }

    /// The otpauth URI an authenticator app reads: issuer `keyway HOST`, the username.
    fn otpauth_uri(&self, username: &str, secret: &[u8]) -> String {
        let issuer = url::Url::parse(&self.config.issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| self.config.issuer.clone());
        totp::otpauth_uri(&format!("keyway {issuer}"), username, secret)
    }

    /// Self-enrolment, first step (a signed-in user on the hub's page): a new secret to show
    /// as a QR code, carried sealed in the form (bound to user and browser, 10 minutes) until
    /// a code from it confirms the app has it. `None` when the user is enrolled already.
    pub async fn begin_totp_enrolment(
        &self,
        user_id: &str,
        browser: &str,
    ) -> Result<Option<PendingEnrolment>, OAuthError> {
        let Some(user) = self.store.user_by_id(user_id).await? else {
            return Ok(None);
        };
        if self.store.totp(user_id).await?.is_some() {
            return Ok(None);
        }
        let mut secret = Zeroizing::new([0u8; totp::SECRET_BYTES]);
        self.entropy.fill(secret.as_mut());
        let pending = EnrolmentTicket {
            user_id: user.user_id.clone(),
            secret: URL_SAFE_NO_PAD.encode(secret.as_ref()),
            browser: sha256_hex(browser),
            expires_at: self.clock.now_secs() + ENROLMENT_TTL,
        };
        let plain = Zeroizing::new(serde_json::to_vec(&pending).map_err(OAuthError::server_error)?);
        let sealed = self
            .second_factor_seal
            .0
            .seal(ENROLMENT_AAD, &plain, self.entropy.as_ref())
            .ok_or_else(|| OAuthError::server_error("sealing the enrolment failed"))?;
        Ok(Some(PendingEnrolment {
            ticket: URL_SAFE_NO_PAD.encode(sealed),
            otpauth_uri: self.otpauth_uri(&user.username, secret.as_ref()),
            secret: totp::base32(secret.as_ref()),
        }))
    }

    /// Self-enrolment, second step: a code from the new secret stores it (and that code's
    /// step is spent); the recovery codes, to show once. `None` for a wrong code, a ticket that
    /// is not this user's and browser's, or a user enrolled meanwhile.
    pub async fn finish_totp_enrolment(
        &self,
        user_id: &str,
        ticket: &str,
        browser: &str,
        code: &str,
    ) -> Result<Option<Vec<String>>, OAuthError> {
        let now = self.clock.now_secs();
        let Some(pending) = self.open_enrolment(ticket, browser, now) else {
            return Ok(None);
        };
        if pending.user_id != user_id || self.store.totp(user_id).await?.is_some() {
            return Ok(None);
        }
        let secret = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(&pending.secret)
                .map_err(OAuthError::server_error)?,
        );
        let Some(step) = totp::verify(&secret, code.trim(), now, 0) else {
            return Ok(None);
        };
        self.store_totp(user_id, &secret, step)
            .await
            .map(Some)
            .map_err(|e| OAuthError::server_error(e.to_string()))
    }

    fn open_enrolment(&self, text: &str, browser: &str, now: i64) -> Option<EnrolmentTicket> {
        if text.len() > MAX_TICKET_LEN {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
        let plain = Zeroizing::new(self.second_factor_seal.0.open(ENROLMENT_AAD, &raw)?);
        let pending: EnrolmentTicket = serde_json::from_slice(&plain).ok()?;
        (pending.expires_at > now && pending.browser == sha256_hex(browser)).then_some(pending)
    }

    /// Whether a user is enrolled in TOTP: `Some(unused recovery codes)` or `None`.
    pub async fn totp_status(&self, username: &str) -> Result<Option<i64>, AdminError> {
        let user = self
            .store
            .user_by_name(username)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("user {username}")))?;
        if self.store.totp(&user.user_id).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(self.store.unused_recovery_codes(&user.user_id).await?))
    }

    /// Removes a user's TOTP enrolment and recovery codes (`keyway user totp remove`).
    pub async fn remove_totp(&self, username: &str) -> Result<(), AdminError> {
        let user = self
            .store
            .user_by_name(username)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("user {username}")))?;
        if !self.store.delete_totp(&user.user_id).await? {
            return Err(AdminError::NotFound(format!(
                "a TOTP enrolment of {username}"
            )));
        }
        // Sessions signed in with the factor removed end (their clients are told), as after a
        // new password: they would otherwise go on passing for two-factor sessions.
        self.end_all_sessions(&user.user_id, false).await?;
        self.audit_change("user.totp-remove", username, None).await;
        Ok(())
    }

    /// Whether a hub session counts for the hub's own pages (the activity map): under
    /// `[login] require_mfa` only one with a second factor does.
    pub fn session_meets_hub_policy(&self, session: &crate::SessionUser) -> bool {
        !self.config.require_mfa || session.login_method.as_deref().is_some_and(is_multi_factor)
    }

    /// Whether `client`'s users need a second factor (its policy, or the hub's).
    pub fn requires_mfa(&self, client: &crate::Client) -> bool {
        self.config.require_mfa || client.policy.require_mfa
    }

    /// Whether a user must give a second factor after their password: they have a TOTP
    /// enrolment or a passkey.
    pub async fn needs_second_factor(&self, user_id: &str) -> Result<bool, OAuthError> {
        Ok(self.second_factors(user_id).await?.any())
    }

    /// Which second factors a user has.
    pub async fn second_factors(&self, user_id: &str) -> Result<SecondFactors, OAuthError> {
        let (totp, passkeys) =
            tokio::try_join!(self.store.totp(user_id), self.store.has_passkeys(user_id))?;
        Ok(SecondFactors {
            code: totp.is_some(),
            passkey: passkeys,
        })
    }

    /// The second factors of the user a second-step ticket carries (`None`: the ticket does
    /// not open for this form and browser, or is too old).
    pub async fn ticket_factors(
        &self,
        ticket: &str,
        purpose: &str,
        browser: &str,
    ) -> Result<Option<SecondFactors>, OAuthError> {
        match self
            .ticket_user(ticket, purpose, browser, self.clock.now_secs())
            .await?
        {
            Some(user) => Ok(Some(self.second_factors(&user.user_id).await?)),
            None => Ok(None),
        }
    }

    /// The ticket that carries a password-checked user to the second step of the form
    /// `purpose` in the browser `browser` (its cookie).
    pub async fn second_factor_ticket(
        &self,
        user: &UserRecord,
        purpose: &str,
        browser: &str,
    ) -> Result<String, OAuthError> {
        let ticket = Ticket {
            user_id: user.user_id.clone(),
            purpose: sha256_hex(purpose),
            browser: sha256_hex(browser),
            credentials: self.credentials_digest(user).await?,
            expires_at: self.clock.now_secs() + TICKET_TTL,
        };
        let plain = serde_json::to_vec(&ticket).map_err(OAuthError::server_error)?;
        let sealed = self
            .second_factor_seal
            .0
            .seal(TICKET_AAD, &plain, self.entropy.as_ref())
            .ok_or_else(|| OAuthError::server_error("sealing the second-factor ticket failed"))?;
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The user a second-step ticket carries, if it opens for this form and browser, is not
    /// too old and still fits the account: a new password or enrolment since the first step,
    /// or a disabled account, voids it.
    pub(crate) async fn ticket_user(
        &self,
        ticket: &str,
        purpose: &str,
        browser: &str,
        now: i64,
    ) -> Result<Option<UserRecord>, OAuthError> {
        let Some(ticket) = self.open_ticket(ticket, purpose, browser, now) else {
            return Ok(None);
        };
        let Some(user) = self.store.user_by_id(&ticket.user_id).await? else {
            return Ok(None);
        };
        if user.disabled_at.is_some()
            || ticket.credentials != self.credentials_digest(&user).await?
        {
            return Ok(None);
        }
        Ok(Some(user))
    }

    /// The second step: the ticket from the first, and a TOTP or recovery code. Throttled
    /// like passwords (per username and address); an accepted code is spent.
    pub async fn check_second_factor(
        &self,
        ticket: &str,
        purpose: &str,
        browser: &str,
        code: &str,
        address: &str,
    ) -> Result<SecondFactor, OAuthError> {
        let now = self.clock.now_secs();
        let Some(user) = self.ticket_user(ticket, purpose, browser, now).await? else {
            return Ok(SecondFactor::Expired);
        };
        if let Some(wait_s) = self.codes_locked_for(&user.user_id, now).await? {
            return Ok(SecondFactor::Throttled {
                wait_ms: wait_s * 1000,
            });
        }
        let attempt = match self.begin_attempt(&user.username, address).await? {
            Ok(attempt) => attempt,
            Err(wait_ms) => return Ok(SecondFactor::Throttled { wait_ms }),
        };
        let accepted = self.spend_code(&user.user_id, code.trim(), now).await?;
        self.settle_attempt(attempt, accepted).await?;
        if !accepted {
            self.record_code_failure(&user.user_id, now).await?;
            tracing::info!(username = %user.username, %address, "sign-in refused: wrong second-factor code");
        }
        Ok(if accepted {
            SecondFactor::Accepted(user, LocalSignIn::PasswordAndCode)
        } else {
            SecondFactor::Refused
        })
    }

    /// After an authorization's login form: as [`AuthService::login`], recording how the
    /// person signed in (which factors).
    pub async fn login_by(
        &self,
        request_id: &str,
        user: &UserRecord,
        how: LocalSignIn,
    ) -> Result<(String, AuthorizeOutcome), OAuthError> {
        let now = self.clock.now_secs();
        self.login_with(request_id, user, how.method(), now).await
    }

    /// After the hub's own sign-in page: as [`AuthService::start_session`], recording how the
    /// person signed in.
    pub async fn start_session_by(
        &self,
        user: &UserRecord,
        how: LocalSignIn,
    ) -> Result<String, OAuthError> {
        let now = self.clock.now_secs();
        Ok(self.start_session_with(user, how.method(), now).await?.0)
    }

    /// What a ticket is bound to besides form and browser: the password and the enrolment.
    async fn credentials_digest(&self, user: &UserRecord) -> Result<String, OAuthError> {
        let enrolled_at = match self.store.totp(&user.user_id).await? {
            Some(totp) => totp.created_at,
            None => 0,
        };
        Ok(sha256_hex(&format!(
            "{}\n{enrolled_at}",
            user.password_hash
        )))
    }

    fn open_ticket(&self, text: &str, purpose: &str, browser: &str, now: i64) -> Option<Ticket> {
        if text.len() > MAX_TICKET_LEN {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
        let plain = self.second_factor_seal.0.open(TICKET_AAD, &raw)?;
        let ticket: Ticket = serde_json::from_slice(&plain).ok()?;
        (ticket.expires_at > now
            && ticket.purpose == sha256_hex(purpose)
            && ticket.browser == sha256_hex(browser))
        .then_some(ticket)
    }

    /// Checks and spends a TOTP code (six digits) or a recovery code (ten characters).
    async fn spend_code(&self, user_id: &str, code: &str, now: i64) -> Result<bool, OAuthError> {
        let Some(enrolment) = self.store.totp(user_id).await? else {
            return Ok(false);
        };
        if code.len() == totp::DIGITS as usize {
            let secret = self
                .master_key()
                .and_then(|key| key.open(&totp_context(user_id), &enrolment.secret))
                .map_err(|e| OAuthError::server_error(e.to_string()))?;
            return Ok(
                match totp::verify(&secret, code, now, enrolment.last_step) {
                    Some(step) => self.store.spend_totp_step(user_id, step).await?,
                    None => false,
                },
            );
        }
        match recovery_digest(code) {
            Some(digest) => Ok(self
                .store
                .spend_recovery_code(user_id, &digest, now)
                .await?),
            None => Ok(false),
        }
    }
}
