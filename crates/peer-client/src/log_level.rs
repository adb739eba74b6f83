//! The `--log-level` both binaries take, defined once with its mapping to
//! tracing's levels.

/// How much a binary logs (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum LogLevel {
    /// Everything, including each request.
    Debug,
    /// Start-up, connections, and what went wrong.
    Info,
    /// Only what went wrong.
    Warning,
    /// Only failures.
    Error,
}

impl From<LogLevel> for tracing::Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warning => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        }
    }
}
