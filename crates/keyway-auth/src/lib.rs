//! The OAuth 2.0 domain of keyway: clients, users, grants, tokens, signing keys and consent.
//!
//! Nothing here knows about HTTP. The hub parses a request into the types of this crate, calls
//! [`AuthService`], and maps the typed [`OAuthError`] to a response in one place. Time and
//! randomness come in through [`Clock`] and [`Entropy`] so tests can cover expiry, skew and
//! replay windows without sleeping.

mod api_url_key;
mod audit;
mod authorize;
mod backup;
mod client_auth;
mod client_rules;
mod client_urls;
mod clients;
mod config;
mod dpop;
mod dpop_nonce;
mod entropy;
mod error;
mod g2d1;
mod gateway;
mod grants;
mod groups;
mod hub_secrets;
mod introspect;
mod jarm;
pub mod jose;
mod keys;
mod lenient_path;
mod logout;
mod master_key;
mod par;
mod passkeys;
mod pending_seal;
mod remote_jwks;
mod request_object;
mod revocation;
pub mod scim;
mod scope;
mod scope_grants;
mod sealed_box;
mod second_factor;
mod service;
mod sign_in;
mod throttle;
mod throttle_shared;
mod tokens;
mod toki_peers;
pub mod totp;
mod transmit;
mod upstream;
mod users;
mod verified;

pub use audit::{Decision, Outcome};
pub use authorize::{
    AuthorizationRequest, AuthorizeOutcome, PendingAuthorization, Redirect, SessionUser,
};
pub use backup::{
    BACKUP_CHUNK, BACKUP_MAGIC, BackupError, BackupHeader, open_backup, read_backup_header,
    seal_backup,
};
pub use client_auth::ClientCredentials;
pub use client_rules::{ClientRule, RulePurpose};
pub use clients::{
    AuthMethod, Client, ClientInfo, ClientPolicy, ClientProfile, ClientUpdate, GrantType,
    MIN_SIGNING_SECRET_LEN, NewClient, RegisteredClient,
};
pub use config::{AuthConfig, Clock, SystemClock};
pub use dpop::{
    Confirmation, DpopKey, Presentation, UnrecordedProof, VerifiedProof, access_token_hash,
    verify_dpop_proof,
};
pub use entropy::{Entropy, SecretString, SystemEntropy, random_hex, random_token, sha256_hex};
pub use error::{AdminError, ErrorCode, OAuthError};
pub use g2d1::{canonical_string, g2d1_signature};
pub use gateway::{GatewayCaller, GatewayRefusal, GatewayTicket};
pub use grants::{ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE, TokenRequest, TokenResponse};
pub use groups::{ADMINS, GroupInfo};
pub use hub_secrets::{CSRF_KEY, LINK_KEY, TOKI_KEY};
pub use introspect::Introspection;
pub use keys::{KeyRing, KeySummary, SigningAlg, create_data_dir, write_private_file};
pub use lenient_path::{has_dot_segment, lenient_reading};
pub use logout::{
    BACKCHANNEL_LOGOUT_EVENT, EndSession, EndSessionRequest, LOGOUT_TOKEN_TYPE, LogoutDelivery,
    LogoutNotice,
};
pub use master_key::MasterKey;
pub use par::{PushedRequest, REQUEST_URI_PREFIX};
pub use passkeys::{PasskeyInfo, PasskeyOptions};
pub use remote_jwks::JwksSource;
pub use scope::ScopeSet;
pub use second_factor::{
    LocalSignIn, PASSKEY, PASSWORD_OTP, PASSWORD_PASSKEY, PendingEnrolment, SecondFactor,
    SecondFactors, TotpEnrolment,
};
pub use service::AuthService;
pub use throttle::LoginThrottle;
pub use tokens::{AccessTokenClaims, Actor, Audience};
pub use toki_peers::TokiPeer;
pub use transmit::{
    MAX_TRANSMIT_DATA, MAX_TRANSMIT_FUN, TRANSMIT_PATH, TRANSMIT_TTL, TransmitLink, TransmitOpened,
};
pub use upstream::{
    CALLBACK_PATH as UPSTREAM_CALLBACK_PATH, FormResponse, IdTokenError, LoginMethod, PASSWORD,
    Provision, UpstreamCallback, UpstreamHttp, UpstreamIdentity, UpstreamProvider, UpstreamStart,
    valid_login_type_name,
};
pub use users::{NewUser, ProfileUpdate, SessionInfo, SignIn, UserInfo};
