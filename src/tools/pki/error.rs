//! The error of a `pki` command: what failed, naming the file, serial or value concerned.

use std::fmt::Display;

/// A `pki` command failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A refusal or failure in words, naming the file, serial or value concerned.
    #[error("{0}")]
    Message(String),
    /// Generating or signing a key, certificate or CRL failed.
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The state file could not be encoded.
    #[error("cannot encode the CA state: {0}")]
    State(#[from] toml::ser::Error),
    /// A file operation failed outside a named context.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A `pki` result.
pub type Result<T> = std::result::Result<T, PkiError>;

/// Put a lower error under a message that names what was being done, anyhow-style.
pub trait Context<T> {
    /// `message: cause` on error.
    fn context(self, message: impl Display) -> Result<T>;
    /// Like [`Context::context`], the message built only on error.
    fn with_context<M: Display>(self, message: impl FnOnce() -> M) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn context(self, message: impl Display) -> Result<T> {
        self.map_err(|e| PkiError::Message(format!("{message}: {e}")))
    }

    fn with_context<M: Display>(self, message: impl FnOnce() -> M) -> Result<T> {
        self.map_err(|e| PkiError::Message(format!("{}: {e}", message())))
    }
}

/// A [`PkiError`] from a format string.
macro_rules! pki_err {
    ($($t:tt)*) => { $crate::tools::pki::error::PkiError::Message(format!($($t)*)) };
}

/// Return a [`PkiError`] from a format string.
macro_rules! bail {
    ($($t:tt)*) => { return Err($crate::tools::pki::error::pki_err!($($t)*)) };
}

pub(crate) use {bail, pki_err};
