//! Users and authentication: `me`, `user`, sign-up and sign-in, tokens, two-factor set-up.

use super::loaders::load_error;
use super::{loaders, meta, state, viewer};
use crate::db::models::{ProducerProfile, TalentProfile, User};
use crate::domain::ids::*;
use crate::domain::{AuthProvider, Role};
use crate::errors::AppResult;
use crate::services::{self, accounts, audit, auth, two_factor};
use async_graphql::{Context, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

/// A user as GraphQL shows it. `signed_in_as` marks the user a sign-in just authenticated, who
/// sees their own email before any token is sent with a request.
pub struct UserNode {
    user: User,
    signed_in_as: bool,
}

impl From<User> for UserNode {
    fn from(user: User) -> Self {
        UserNode {
            user,
            signed_in_as: false,
        }
    }
}

impl std::ops::Deref for UserNode {
    type Target = User;
    fn deref(&self) -> &User {
        &self.user
    }
}

#[Object(name = "User")]
impl UserNode {
    async fn id(&self) -> UserId {
        self.id
    }

    /// Visible to the user itself and to admins; anyone else gets FORBIDDEN.
    async fn email(&self, ctx: &Context<'_>) -> Result<String> {
        if self.signed_in_as {
            return Ok(self.email.clone());
        }
        Ok(services::users::email_of(viewer(ctx).as_ref(), &self.user)?)
    }

    async fn role(&self) -> Role {
        self.role
    }

    async fn display_name(&self) -> &str {
        &self.display_name
    }

    /// Visible to the user itself and to admins; anyone else gets FORBIDDEN.
    async fn two_factor_enabled(&self, ctx: &Context<'_>) -> Result<bool> {
        if !self.signed_in_as {
            services::users::owner_only(viewer(ctx).as_ref(), &self.user, "two-factor state")?;
        }
        Ok(self.totp_enabled)
    }

    /// Whether the owner of the address proved it. Visible to the user itself and to admins;
    /// anyone else gets FORBIDDEN.
    async fn email_verified(&self, ctx: &Context<'_>) -> Result<bool> {
        if !self.signed_in_as {
            services::users::owner_only(viewer(ctx).as_ref(), &self.user, "email verification")?;
        }
        Ok(self.email_verified_at.is_some())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    async fn talent_profile(&self, ctx: &Context<'_>) -> Result<Option<TalentProfile>> {
        if self.role == Role::Producer {
            return Ok(None);
        }
        loaders(ctx)
            .talents
            .load_one(self.id)
            .await
            .map_err(load_error)
    }

    async fn producer_profile(&self, ctx: &Context<'_>) -> Result<Option<ProducerProfile>> {
        if self.role == Role::Talent {
            return Ok(None);
        }
        loaders(ctx)
            .producers
            .load_one(self.id)
            .await
            .map_err(load_error)
    }
}

#[Object]
impl auth::AuthPayload {
    async fn access_token(&self) -> &str {
        &self.access_token
    }

    /// Exchange it with `refreshToken` for a new pair; each one works once.
    async fn refresh_token(&self) -> &str {
        &self.refresh_token
    }

    async fn access_token_expires_at(&self) -> DateTime<Utc> {
        self.access_token_expires_at
    }

    async fn user(&self) -> UserNode {
        UserNode {
            user: self.user.clone(),
            signed_in_as: true,
        }
    }
}

#[derive(SimpleObject)]
pub struct TwoFactorSetup {
    /// Base32 secret for authenticator apps.
    pub secret: String,
    pub otpauth_url: String,
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The signed-in user, or null without a token.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<UserNode>> {
        match viewer(ctx) {
            None => Ok(None),
            Some(v) => Ok(loaders(ctx)
                .users
                .load_one(v.user_id)
                .await
                .map_err(load_error)?
                .map(Into::into)),
        }
    }

    async fn user(&self, ctx: &Context<'_>, id: UserId) -> Result<Option<UserNode>> {
        services::signed_in(viewer(ctx))?;
        Ok(loaders(ctx)
            .users
            .load_one(id)
            .await
            .map_err(load_error)?
            .map(Into::into))
    }

    /// The id of this request as it appears in the server's logs (and the `x-request-id`
    /// header); quote it when reporting a problem.
    async fn request_id(&self, ctx: &Context<'_>) -> Option<ID> {
        meta(ctx).request_id.clone().map(ID)
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates an account (TALENT or PRODUCER) and signs it in.
    async fn register(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        role: Role,
        display_name: String,
    ) -> Result<auth::AuthPayload> {
        let result = auth::register(
            state(ctx),
            &meta(ctx),
            &email,
            &password,
            role,
            &display_name,
        )
        .await;
        let summary = format!("email={email} role={role}");
        signed(
            ctx,
            result,
            "REGISTERED",
            "REGISTER_FAILED",
            &email,
            summary,
        )
        .await
    }

    /// Signs in; with two-factor authentication on, `totpCode` is required.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        totp_code: Option<String>,
    ) -> Result<auth::AuthPayload> {
        let result = auth::login(
            state(ctx),
            &meta(ctx),
            &email,
            &password,
            totp_code.as_deref(),
        )
        .await;
        let summary = format!("email={email}");
        signed(
            ctx,
            result,
            "LOGIN_SUCCEEDED",
            "LOGIN_FAILED",
            &email,
            summary,
        )
        .await
    }

    /// Rotates: returns a new pair, and the presented refresh token stops working. Presenting
    /// it again revokes the whole session.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> Result<auth::AuthPayload> {
        let result = auth::refresh(state(ctx), &meta(ctx), &refresh_token).await;
        let summary = "refresh token rotated".to_string();
        signed(
            ctx,
            result,
            "TOKEN_REFRESHED",
            "TOKEN_REFRESH_FAILED",
            "",
            summary,
        )
        .await
    }

    /// Marks the email verified with the token from the verification mail (single use).
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> Result<bool> {
        Ok(accounts::verify_email(state(ctx), &meta(ctx), &token).await?)
    }

    /// Sends the verification mail again: signed in, email not yet verified; a few an hour.
    async fn resend_verification_email(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(accounts::resend_verification(state(ctx), &meta(ctx), viewer(ctx)).await?)
    }

    /// Mails a password reset link when the address has an account. Always true: the answer
    /// never tells whether it does.
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        Ok(accounts::request_password_reset(state(ctx), &meta(ctx), &email).await?)
    }

    /// Sets a new password with the token from the reset mail (single use); the email counts
    /// as verified and every session of the account ends.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> Result<bool> {
        Ok(accounts::reset_password(state(ctx), &meta(ctx), &token, &new_password).await?)
    }

    /// Ends the session of this refresh token (its access tokens stop working too).
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        let result = auth::logout(state(ctx), &refresh_token).await;
        let (action, summary) = match &result {
            Ok(true) => ("LOGGED_OUT", "session ended".to_string()),
            Ok(false) => ("LOGOUT_FAILED", "unknown refresh token".to_string()),
            Err(e) => ("LOGOUT_FAILED", e.code().to_string()),
        };
        record(ctx, viewer(ctx), action, "Session", String::new(), summary).await;
        Ok(result?)
    }

    /// Signs in with a Google, Facebook or LinkedIn ID token (through Firebase or Auth0). A new
    /// account needs `role`.
    async fn login_with_provider(
        &self,
        ctx: &Context<'_>,
        provider: AuthProvider,
        id_token: String,
        role: Option<Role>,
        #[graphql(desc = "With 2FA on: the current code (TWO_FACTOR_REQUIRED asks for it).")]
        totp_code: Option<String>,
    ) -> Result<auth::AuthPayload> {
        let result = auth::login_with_provider(
            state(ctx),
            &meta(ctx),
            provider,
            &id_token,
            role,
            totp_code.as_deref(),
        )
        .await;
        let summary = format!("provider={provider}");
        signed(
            ctx,
            result,
            "PROVIDER_LOGIN_SUCCEEDED",
            "PROVIDER_LOGIN_FAILED",
            "",
            summary,
        )
        .await
    }

    /// Starts two-factor set-up; confirm with a code from the authenticator. Needs the
    /// account's password, or a sign-in within the last `auth.reauth_window_secs`.
    async fn begin_two_factor_setup(
        &self,
        ctx: &Context<'_>,
        password: Option<String>,
    ) -> Result<TwoFactorSetup> {
        let result =
            two_factor::begin_two_factor(state(ctx), &meta(ctx), viewer(ctx), password.as_deref())
                .await;
        let action = match &result {
            Ok(_) => "TWO_FACTOR_SETUP_STARTED",
            Err(_) => "TWO_FACTOR_SETUP_FAILED",
        };
        let summary = result
            .as_ref()
            .err()
            .map(|e| e.code())
            .unwrap_or("")
            .to_string();
        record(ctx, viewer(ctx), action, "User", own_id(ctx), summary).await;
        let setup = result?;
        Ok(TwoFactorSetup {
            secret: setup.secret,
            otpauth_url: setup.otpauth_url,
        })
    }

    async fn confirm_two_factor(&self, ctx: &Context<'_>, code: String) -> Result<bool> {
        let result =
            two_factor::confirm_two_factor(state(ctx), &meta(ctx), viewer(ctx), &code).await;
        two_factor(
            ctx,
            result,
            "TWO_FACTOR_ENABLED",
            "TWO_FACTOR_CONFIRM_FAILED",
        )
        .await
    }

    /// Switches two-factor authentication off: a current code, and the account's password or
    /// a sign-in within the last `auth.reauth_window_secs`.
    async fn disable_two_factor(
        &self,
        ctx: &Context<'_>,
        code: String,
        password: Option<String>,
    ) -> Result<bool> {
        let result = two_factor::disable_two_factor(
            state(ctx),
            &meta(ctx),
            viewer(ctx),
            &code,
            password.as_deref(),
        )
        .await;
        two_factor(
            ctx,
            result,
            "TWO_FACTOR_DISABLED",
            "TWO_FACTOR_DISABLE_FAILED",
        )
        .await
    }
}

/// Records an audit entry for a sign-in or account mutation.
async fn record(
    ctx: &Context<'_>,
    actor: Option<services::Viewer>,
    action: &str,
    object_type: &str,
    object_id: String,
    summary: String,
) {
    let entry = audit::Entry {
        actor: audit::Entry::by(actor.as_ref()),
        action: action.to_string(),
        object_type: object_type.to_string(),
        object_id,
        summary,
    };
    audit::record(state(ctx), &meta(ctx), entry).await;
}

fn own_id(ctx: &Context<'_>) -> String {
    viewer(ctx)
        .map(|v| v.user_id.to_string())
        .unwrap_or_default()
}

/// Audits a mutation that signs someone in: the user on success; on failure, no actor, what
/// was tried (an email, never a secret) and the error's code.
async fn signed(
    ctx: &Context<'_>,
    result: AppResult<auth::AuthPayload>,
    succeeded: &str,
    failed: &str,
    tried: &str,
    summary: String,
) -> Result<auth::AuthPayload> {
    let tried: String = tried.chars().take(200).collect();
    let entry = match &result {
        Ok(payload) => audit::Entry {
            actor: Some((payload.user.id, payload.user.role)),
            action: succeeded.to_string(),
            object_type: "User".into(),
            object_id: payload.user.id.to_string(),
            summary,
        },
        Err(e) => audit::Entry {
            actor: None,
            action: failed.to_string(),
            object_type: "User".into(),
            object_id: tried,
            summary: format!(
                "{} -> {}",
                summary.chars().take(300).collect::<String>(),
                e.code()
            ),
        },
    };
    audit::record(state(ctx), &meta(ctx), entry).await;
    Ok(result?)
}

async fn two_factor(
    ctx: &Context<'_>,
    result: AppResult<bool>,
    succeeded: &str,
    failed: &str,
) -> Result<bool> {
    let (action, summary) = match &result {
        Ok(_) => (succeeded, String::new()),
        Err(e) => (failed, e.code().to_string()),
    };
    record(ctx, viewer(ctx), action, "User", own_id(ctx), summary).await;
    Ok(result?)
}
