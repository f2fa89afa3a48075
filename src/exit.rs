//! How a command ends: the error type `main` maps to an exit status.

/// A failed command, mapped to the exit status.
#[derive(Debug)]
pub enum ExitError {
    /// Runtime failure (exit 1): the message was already printed or is here.
    Runtime(String),
    /// Usage or configuration error (exit 2).
    Usage(String),
}

impl ExitError {
    /// Process exit status.
    pub fn code(&self) -> u8 {
        match self {
            Self::Runtime(_) => 1,
            Self::Usage(_) => 2,
        }
    }
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Self::Runtime(m) | Self::Usage(m) => m,
        }
    }
}
