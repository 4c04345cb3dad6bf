//! Arguments of `keyway user …` and `keyway group …`: the hub's people, their groups and the
//! scopes they hold.

use clap::Subcommand;

use crate::cli::JsonFlag;

#[derive(Debug, Subcommand)]
pub(crate) enum GroupCommand {
    /// Create a group (1–64 of a–z 0–9 _ - .).
    Create {
        /// The group's name.
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete a group and its memberships (its users stay).
    Delete {
        /// The group's name.
        name: String,
    },
    /// List groups and their members.
    List(JsonFlag),
    /// Show a group and its members.
    Show {
        /// The group's name.
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Add a user to a group (keyway-admins is made on its first member).
    Add {
        /// The group's name, e.g. keyway-admins.
        group: String,
        /// The user's name.
        username: String,
    },
    /// Grant scopes to every member of a group (for user-granted scopes).
    Grant {
        /// The group's name.
        group: String,
        /// The scopes (spaces or commas separate).
        #[arg(long)]
        scope: String,
    },
    /// Take scopes from a group.
    Revoke {
        /// The group's name.
        group: String,
        /// The scopes (spaces or commas separate).
        #[arg(long)]
        scope: String,
    },
    /// Take a user out of a group.
    Remove {
        /// The group's name.
        group: String,
        /// The user's name.
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user; the password is prompted for, or read from stdin with --password-stdin.
    Create {
        /// The name the user signs in with (1–128 characters, no spaces).
        #[arg(long)]
        username: String,
        /// Read the password from standard input (first line) instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List users.
    List(JsonFlag),
    /// Set a user's password (prompted for, or --password-stdin); ends their hub sessions (as
    /// `user logout` does: tokens those sessions gave without offline_access are revoked, the
    /// clients they reached are told); --revoke-tokens revokes every token of theirs.
    SetPassword {
        /// The user's name.
        username: String,
        /// Read the password from standard input (first line) instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        /// Also revoke every access and refresh token issued for the user (after a
        /// compromise: each application must have them sign in again).
        #[arg(long)]
        revoke_tokens: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Change a user's profile: the OpenID Connect claims given out with the `email` and
    /// `profile` scopes ("" clears a value).
    Update {
        /// The user's name.
        username: String,
        /// Email address (a new address is not verified until --email-verified true).
        #[arg(long)]
        email: Option<String>,
        /// Whether the email address is verified.
        #[arg(long, value_name = "true|false")]
        email_verified: Option<bool>,
        /// Full name.
        #[arg(long)]
        name: Option<String>,
        /// Given (first) name.
        #[arg(long)]
        given_name: Option<String>,
        /// Family (last) name.
        #[arg(long)]
        family_name: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Grant scopes to a user (for scopes keyway.toml marks as user-granted:
    /// [oauth] user_granted_scopes).
    Grant {
        /// The user's name.
        username: String,
        /// The scopes (spaces or commas separate).
        #[arg(long)]
        scope: String,
    },
    /// Take scopes from a user; their next token or refresh lacks them.
    Revoke {
        /// The user's name.
        username: String,
        /// The scopes (spaces or commas separate).
        #[arg(long)]
        scope: String,
    },
    /// Disable a user: they cannot sign in, their sessions end and every token issued for
    /// them is revoked.
    Disable {
        /// The user's name.
        username: String,
    },
    /// Enable a disabled user again (they sign in anew).
    Enable {
        /// The user's name.
        username: String,
    },
    /// List a user's live hub login sessions (when they signed in, how, until when).
    Sessions {
        /// The user's name.
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// A second factor: TOTP codes from an authenticator app (RFC 6238), asked after the
    /// password at every password sign-in.
    Totp {
        #[command(subcommand)]
        command: TotpCommand,
    },
    /// Passkeys (WebAuthn): people add them at /account/passkeys after signing in, then sign
    /// in with one alone or after their password. Here an administrator lists and removes them.
    Passkey {
        #[command(subcommand)]
        command: PasskeyCommand,
    },
    /// End every hub login session of a user (they sign in again everywhere): tokens those
    /// sessions gave without offline_access are revoked, clients with a back-channel logout
    /// URI are told (failures on stderr; an unreachable one is tried for about 6 s).
    /// offline_access tokens stay valid unless --revoke-tokens.
    Logout {
        /// The user's name.
        username: String,
        /// Also revoke every access and refresh token issued for the user.
        #[arg(long)]
        revoke_tokens: bool,
    },
    /// Delete a user, their sessions and consents, and revoke their tokens.
    Delete {
        /// The user's name.
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Show a user and the upstream identities linked to them.
    Show {
        /// The user's name.
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Let a person sign in as this user through an upstream OpenID Connect provider (needed
    /// for providers with provision = "link-only").
    Link {
        /// The user's name.
        username: String,
        /// The provider's name, as in [[login.upstream]] name in keyway.toml.
        #[arg(long, value_name = "NAME")]
        upstream: String,
        /// The person's `sub` at that provider (its ID tokens' subject).
        #[arg(long, value_name = "SUB")]
        subject: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PasskeyCommand {
    /// List a user's passkeys: id, name, when added and last used.
    List {
        /// The user's name.
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Remove one of a user's passkeys (a lost or stolen device); every session of the user
    /// ends.
    Remove {
        /// The user's name.
        username: String,
        /// The passkey's id (from `keyway user passkey list`), or its name if unique.
        passkey: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TotpCommand {
    /// Enrol a user: prints the otpauth:// URI (and its QR code) for their authenticator app
    /// and 10 single-use recovery codes, once. The secret is sealed with the hub's master key.
    Enroll {
        /// The user's name.
        username: String,
        /// Replace an existing enrolment (the old secret and recovery codes stop working).
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Remove a user's enrolment: they sign in with their password alone again.
    Remove {
        /// The user's name.
        username: String,
    },
}
