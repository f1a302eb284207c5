//! Outgoing mail, when the server has SMTP settings (`FACEGATE_SMTP_URL`, lettre's URL form:
//! `smtps://user:password@mail.example.org`, or `smtp://host:25` for a relay on the local
//! network, which sends in the clear). Messages are built elsewhere (RFC 5322 bytes); this only
//! hands them to the server. Without settings nothing is sent and the app offers `.eml` files.

use lettre::address::Envelope;
use lettre::{Address, SmtpTransport, Transport};

use crate::error::{Error, Result};

#[derive(Clone)]
pub struct Mailer {
    transport: SmtpTransport,
    /// The sender, in the envelope and the `From` header.
    pub from: String,
}

impl std::fmt::Debug for Mailer {
    // The URL may hold a password: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn new(url: &str, from: &str) -> Result<Mailer> {
        from.parse::<Address>().map_err(|e| Error::Invalid(format!("--mail-from {from:?}: not an e-mail address: {e}")))?;
        let transport = SmtpTransport::from_url(url)
            .map_err(|e| Error::Invalid(format!("FACEGATE_SMTP_URL: not an SMTP address (smtps://user:password@host, smtp://host:port): {e}")))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        Ok(Mailer { transport, from: from.to_string() })
    }

    /// Sends `message` to `to`; the error says why the server refused or could not be reached.
    pub fn send(&self, to: &str, message: &[u8]) -> std::result::Result<(), String> {
        let from: Address = self.from.parse().map_err(|e| format!("sender {}: {e}", self.from))?;
        let to: Address = to.parse().map_err(|e| format!("not an e-mail address: {e}"))?;
        let envelope = Envelope::new(Some(from), vec![to]).map_err(|e| e.to_string())?;
        self.transport.send_raw(&envelope, message).map(|_| ()).map_err(|e| e.to_string())
    }
}
