//! `MailPort` through lettre: SMTP (`mail.smtp_url` / `SMTP_URL`) in production, `.eml` files
//! under `mail.dir` in development. Composes the account mails (plain text and HTML, links to
//! the public app URL) from their outbox events; the token in a link is derived from the
//! event's token id here, and never logged.

use crate::configuration::{MailSettings, MailTransport};
use crate::domain::AccountTokenPurpose;
use crate::services::events::{self, AccountMail};
use crate::services::AppState;
use anyhow::Context;
use castyou_actors::relay::PortFuture;
use castyou_actors::{Event, MailPort};
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

pub struct LettreMail {
    state: AppState,
    transport: Arc<Transport>,
    from: Mailbox,
    timeout: Duration,
}

impl LettreMail {
    /// The configured transport; a bad sender, SMTP URL or mail folder fails at start.
    pub fn new(state: AppState) -> anyhow::Result<LettreMail> {
        let settings: &MailSettings = &state.settings.mail;
        let from: Mailbox = settings
            .from
            .parse()
            .with_context(|| format!("mail.from `{}` is not a mailbox", settings.from))?;
        let timeout = Duration::from_secs(settings.send_timeout_secs.max(1));
        let transport = match settings.transport {
            MailTransport::Smtp => {
                let url = settings
                    .smtp_url
                    .as_ref()
                    .context("mail.smtp_url (SMTP_URL) is not set")?;
                let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .context("mail.smtp_url (SMTP_URL) is not a usable SMTP URL")?
                    .timeout(Some(timeout))
                    .build();
                Transport::Smtp(smtp)
            }
            MailTransport::File => {
                std::fs::create_dir_all(&settings.dir)
                    .with_context(|| format!("creating mail.dir {}", settings.dir))?;
                Transport::File(AsyncFileTransport::<Tokio1Executor>::new(&settings.dir))
            }
        };
        Ok(LettreMail {
            state,
            transport: Arc::new(transport),
            from,
            timeout,
        })
    }
}

impl MailPort for LettreMail {
    fn send(&self, event: Arc<Event>) -> PortFuture<()> {
        let composed = compose(&self.state, &self.from, &event);
        let transport = self.transport.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let Some((message, subject)) = composed? else {
                return Ok(());
            };
            let sent = async {
                match &*transport {
                    Transport::Smtp(smtp) => smtp
                        .send(message)
                        .await
                        .map(|_| ())
                        .map_err(anyhow::Error::new),
                    Transport::File(file) => {
                        let id = file.send(message).await.map_err(anyhow::Error::new)?;
                        tracing::info!(%subject, file = %format!("{id}.eml"), "mail written");
                        Ok(())
                    }
                }
            };
            tokio::time::timeout(timeout, sent)
                .await
                .context("the mail server did not answer in time")??;
            tracing::info!(%subject, event = %event.id, "mail sent");
            Ok(())
        })
    }
}

/// The message an event asks for, with its subject (for the log); None for events that ask for
/// no mail.
fn compose(
    state: &AppState,
    from: &Mailbox,
    event: &Event,
) -> anyhow::Result<Option<(Message, String)>> {
    let decoded = events::decode(event).context("an event of an unknown kind")?;
    let Some((purpose, mail)) = decoded.mail() else {
        return Ok(None);
    };
    let token = state.tokens.account_token(purpose, mail.token_id);
    let base = state.settings.mail.public_app_url.trim_end_matches('/');
    let (subject, text, html) = body(purpose, mail, base, &token);
    let to: Mailbox = format!("{} <{}>", quote(&mail.display_name), mail.email)
        .parse()
        .or_else(|_| mail.email.parse())
        .with_context(|| format!("event {}: not a mailbox", event.id))?;
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject.clone())
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .context("building a mail")?;
    Ok(Some((message, subject)))
}

/// Subject, plain text and HTML of an account mail.
fn body(
    purpose: AccountTokenPurpose,
    mail: &AccountMail,
    base: &str,
    token: &str,
) -> (String, String, String) {
    let until = mail.expires_at.format("%Y-%m-%d %H:%M UTC");
    let name = &mail.display_name;
    let (subject, path, ask, button, otherwise) = match purpose {
        AccountTokenPurpose::VerifyEmail => (
            "Confirm your email address for CastYou",
            "verify-email",
            format!("Please confirm that {} is your email address.", mail.email),
            "Confirm my email address",
            "If you did not sign up for CastYou, ignore this mail: nothing happens.",
        ),
        AccountTokenPurpose::ResetPassword => (
            "Reset your CastYou password",
            "reset-password",
            "Someone (hopefully you) asked to reset the password of your CastYou account."
                .to_string(),
            "Choose a new password",
            "If it was not you, ignore this mail: your password stays as it is.",
        ),
    };
    let link = format!("{base}/{path}?token={token}");
    let text = format!(
        "Hi {name},\n\n{ask}\n\n{button}:\n{link}\n\nThe link works once, until {until}.\n{otherwise}\n\nCastYou\n"
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><p>Hi {name},</p><p>{ask}</p>\
         <p><a href=\"{link}\">{button}</a></p><p>The link works once, until {until}.<br>{otherwise}</p>\
         <p>CastYou</p></body></html>",
        name = escape(name),
        ask = escape(&ask),
        link = escape(&link),
    );
    (subject.to_string(), text, html)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A display name as a quoted string of a mailbox.
fn quote(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect();
    format!("\"{clean}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mails_link_to_the_app_and_escape_what_users_wrote() {
        let mail = AccountMail {
            user_id: crate::domain::ids::UserId::generate(),
            email: "ana@example.com".into(),
            display_name: "Ana <script>".into(),
            token_id: uuid::Uuid::new_v4(),
            expires_at: chrono::Utc::now(),
        };
        let (subject, text, html) = body(
            AccountTokenPurpose::ResetPassword,
            &mail,
            "https://app.example",
            "tok",
        );
        assert_eq!(subject, "Reset your CastYou password");
        assert!(text.contains("https://app.example/reset-password?token=tok"));
        assert!(html.contains("Ana &lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }
}
