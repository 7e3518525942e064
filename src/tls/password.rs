//! A password for a key store, a trust store or an encrypted private key: kept out of
//! `Debug` output, so that printing a configuration never prints it.

use std::fmt;

/// A password, shown as `"***"` by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Password(String);

impl Password {
    pub(crate) fn new(password: impl Into<String>) -> Password {
        Password(password.into())
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let password = Password::new("hunter2");
        assert_eq!(format!("{password:?}"), "\"***\"");
        assert_eq!(password.as_str(), "hunter2");
    }
}
