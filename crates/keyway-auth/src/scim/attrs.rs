//! The attributes keyway serves, once: the `/Schemas` documents, strict body checks, `returned`
//! for projections and the filter columns all read these tables, so they cannot disagree.

/// The core schemas and message URNs.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(crate) const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub(crate) const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub(crate) const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Boolean,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returned {
    Never,
    Default,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Attr {
    pub name: &'static str,
    pub kind: Kind,
    pub multi: bool,
    pub required: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    /// `server`-unique (userName, displayName) rather than `none`.
    pub unique: bool,
    pub canonical: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub description: &'static str,
    pub sub: &'static [Attr],
}

const fn attr(name: &'static str, kind: Kind, description: &'static str) -> Attr {
    Attr {
        name,
        kind,
        multi: false,
        required: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        unique: false,
        canonical: &[],
        reference_types: &[],
        description,
        sub: &[],
    }
}

const NAME_SUB: &[Attr] = &[
    attr(
        "formatted",
        Kind::String,
        "The full name (keyway's `name` claim).",
    ),
    attr(
        "familyName",
        Kind::String,
        "The family name (`family_name`).",
    ),
    attr("givenName", Kind::String, "The given name (`given_name`)."),
];

const EMAIL_SUB: &[Attr] = &[
    attr("value", Kind::String, "An email address."),
    Attr {
        canonical: &["work", "home", "other"],
        ..attr("type", Kind::String, "What the address is for.")
    },
    attr(
        "primary",
        Kind::Boolean,
        "The address given out as the `email` claim.",
    ),
];

const USER_GROUP_SUB: &[Attr] = &[
    Attr {
        mutability: Mutability::ReadOnly,
        ..attr("value", Kind::String, "The group's id.")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        reference_types: &["Group"],
        ..attr("$ref", Kind::Reference, "The group's URI.")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        ..attr("display", Kind::String, "The group's name.")
    },
];

pub(crate) const USER_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        unique: true,
        ..attr(
            "userName",
            Kind::String,
            "The name a person signs in with: 1–128 characters without spaces, control or \
             invisible characters; unique and compared case-exactly.",
        )
    },
    Attr {
        sub: NAME_SUB,
        ..attr("name", Kind::Complex, "The person's name.")
    },
    Attr {
        multi: true,
        sub: EMAIL_SUB,
        ..attr(
            "emails",
            Kind::Complex,
            "Email addresses; the primary one (or the only one) is the `email` claim.",
        )
    },
    attr(
        "active",
        Kind::Boolean,
        "false disables the user, as `keyway user disable` does: sessions end, refresh tokens are revoked.",
    ),
    Attr {
        mutability: Mutability::WriteOnly,
        returned: Returned::Never,
        ..attr(
            "password",
            Kind::String,
            "Sets the password (at least 8 characters; stored as an Argon2id hash, never returned).",
        )
    },
    Attr {
        multi: true,
        mutability: Mutability::ReadOnly,
        sub: USER_GROUP_SUB,
        ..attr("groups", Kind::Complex, "The groups the user is in.")
    },
];

const MEMBER_SUB: &[Attr] = &[
    Attr {
        mutability: Mutability::Immutable,
        ..attr("value", Kind::String, "The member's user id.")
    },
    Attr {
        mutability: Mutability::Immutable,
        reference_types: &["User"],
        ..attr("$ref", Kind::Reference, "The member's URI.")
    },
    Attr {
        mutability: Mutability::ReadOnly,
        ..attr("display", Kind::String, "The member's userName.")
    },
    Attr {
        mutability: Mutability::Immutable,
        canonical: &["User"],
        ..attr(
            "type",
            Kind::String,
            "Always User: keyway groups hold users, not groups.",
        )
    },
];

pub(crate) const GROUP_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        unique: true,
        ..attr(
            "displayName",
            Kind::String,
            "The group's name: 1–64 of a–z 0–9 _ - ., starting with a letter or digit.",
        )
    },
    Attr {
        multi: true,
        sub: MEMBER_SUB,
        ..attr("members", Kind::Complex, "The users in the group.")
    },
];

/// The definition of `name` (case-insensitive) in `attrs`.
pub(crate) fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}
