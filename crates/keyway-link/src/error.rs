use thiserror::Error;

/// Why one field of one row could not be used.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum FieldError {
    #[error("unparseable date of birth {0:?}")]
    BadDate(String),
    #[error("ambiguous two-digit year in date of birth {0:?}")]
    TwoDigitYear(String),
    #[error("unknown sex code {0:?} (PCORnet: A F M NI UN OT)")]
    UnknownSex(String),
    #[error("unknown race code {0:?} (PCORnet: 01-07 NI UN OT)")]
    UnknownRace(String),
}

/// Why a hashing run stopped.
#[derive(Debug, Error)]
pub enum LinkError {
    #[error("the input is empty (no header row)")]
    Empty,
    #[error(
        "the input has no column {column:?} for field {field} (map it with --column {field}=HEADER)"
    )]
    MissingColumn { field: &'static str, column: String },
    #[error("unknown rule {0:?}: use F_L_D_S, F_L_D_R, F_L_D_S_FOLD or F_L_D_R_FOLD")]
    UnknownRule(String),
    #[error("line {line}: {reason}")]
    BadRow { line: u64, reason: String },
    #[error("CSV error: {0}")]
    Csv(#[from] csv::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
