//! JSON-RPC error codes (SPEC §3) and the error value every layer passes around.

use serde::Serialize;

/// Stable numeric error codes; clients switch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// -32700: the line is not JSON.
    ParseError,
    /// -32600: not a JSON-RPC request.
    InvalidRequest,
    /// -32601: no such method.
    MethodNotFound,
    /// -32602: bad params.
    InvalidParams,
    /// -32603: the daemon failed (e.g. storage).
    InternalError,
    /// -32000: a method before `peer.hello`.
    HelloRequired,
    /// -32010: the alias is held by another session.
    AliasTaken,
    /// -32011: the sid is held by another connection.
    SidInUse,
}

impl ErrorCode {
    /// The numeric JSON-RPC code.
    pub const fn code(self) -> i64 {
        match self {
            ErrorCode::ParseError => -32700,
            ErrorCode::InvalidRequest => -32600,
            ErrorCode::MethodNotFound => -32601,
            ErrorCode::InvalidParams => -32602,
            ErrorCode::InternalError => -32603,
            ErrorCode::HelloRequired => -32000,
            ErrorCode::AliasTaken => -32010,
            ErrorCode::SidInUse => -32011,
        }
    }
}

/// A JSON-RPC error object: `{code, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message} ({code})")]
pub struct RpcError {
    /// The JSON-RPC error code.
    pub code: i64,
    /// What went wrong, for people.
    pub message: String,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        RpcError {
            code: code.code(),
            message: message.into(),
        }
    }

    /// A -32602 error.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParams, message)
    }

    /// Whether this error has `code`.
    pub fn is(&self, code: ErrorCode) -> bool {
        self.code == code.code()
    }
}
