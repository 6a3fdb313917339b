//! The small, stable set of error codes segflow reports to the page.

#[allow(unused_imports)]
use crate::prelude::*;

/// A stable machine-readable error code; the JS `Error` thrown carries it as `code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// An argument has the wrong type or value.
    InvalidArgument,
    /// A single message would exceed Segment's 32 KB limit.
    PayloadTooLarge,
    /// A method was called before `init`.
    NotInitialized,
    /// `init` was called a second time.
    AlreadyInitialized,
    /// Events were dropped (the `error` listeners' payload, never thrown).
    DeliveryFailure,
    /// The page did not let segflow create its UI (no shadow root, or no place in
    /// `<body>`), so a flow step or checklist was not shown (the `error`
    /// listeners' payload, never thrown).
    UiUnavailable,
}

impl ErrorCode {
    /// The code as the page sees it (`err.code`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::NotInitialized => "not_initialized",
            ErrorCode::AlreadyInitialized => "already_initialized",
            ErrorCode::DeliveryFailure => "delivery_failure",
            ErrorCode::UiUnavailable => "ui_unavailable",
        }
    }
}

/// An error with a stable code and a human-readable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// What kind of failure; stable across versions.
    pub code: ErrorCode,
    /// A sentence for the developer; may change between versions. The page sees
    /// it after `segflow: `, which the boundary adds to every coded `Error`.
    pub message: String,
}

impl Error {
    /// An `invalid_argument` error with the given message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error {
            code: ErrorCode::InvalidArgument,
            message: message.into(),
        }
    }

    /// The `payload_too_large` error of a message over Segment's 32 KB limit.
    pub fn too_large() -> Self {
        Error {
            code: ErrorCode::PayloadTooLarge,
            message: String::from("the message is over Segment's 32 KB limit"),
        }
    }
}
