//! Users, sign-in, sessions and API tokens: the rules. Passwords are hashed with argon2id and
//! checked with argon2's own verification (constant-time); a name nobody has is checked against
//! a dummy hash, so a wrong name takes as long as a wrong password. Five failed sign-ins in a row
//! lock the account for fifteen minutes. Session ids and API tokens are 32 bytes from the OS's
//! random source, given to the client once and stored only as their SHA-256.
//!
//! Managing users and tokens needs [`Permission::Administer`]; each change and each refusal is
//! audited under the acting user, each failed sign-in and lock-out under the name tried.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use rand::TryRngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Actor, Permission, Role};
use crate::error::{Error, Result};
use crate::store::{Store, TokenRow, User, UserId};

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Failed sign-ins in a row that lock an account.
pub const MAX_FAILED_SIGNINS: u32 = 5;
/// How long a lock-out lasts.
pub const LOCKOUT: Duration = Duration::minutes(15);
/// A session unused this long has ended.
pub const SESSION_IDLE: Duration = Duration::hours(12);
/// A session's last-seen time is written at most this often (each write is a database write).
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// API tokens start with this, so that one pasted somewhere can be recognised.
const TOKEN_PREFIX: &str = "fgt_";

/// Who a request acts as: the user's id and the actor the use cases take.
#[derive(Clone, Debug, PartialEq)]
pub struct SignedIn {
    pub user: UserId,
    pub actor: Actor,
}

/// A session just made: the secret for the cookie (shown once) and the form token.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub signed_in: SignedIn,
}

/// A live session found by its cookie.
#[derive(Clone, Debug)]
pub struct LiveSession {
    pub signed_in: SignedIn,
    pub csrf_token: String,
}

/// A token just made: its row and the secret (shown once).
#[derive(Clone, Debug, Serialize)]
pub struct NewToken {
    pub id: i64,
    pub user: String,
    pub label: Option<String>,
    pub token: String,
}

/// `now` as the store writes times.
fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// 32 random bytes from the OS, as hex.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).expect("the OS random number generator works");
    hex::encode(bytes)
}

/// What the store keeps of a secret.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.try_fill_bytes(&mut salt).expect("the OS random number generator works");
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Invalid(format!("password salt: {e}")))?;
    // Argon2::default() is argon2id, version 19, with the crate's recommended costs.
    let hash = Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|e| Error::Invalid(format!("hashing the password: {e}")))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `hash` (argon2 compares in constant time).
fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash of a password nobody knows, checked when the name is unknown.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_secret()).expect("hashing works"))
}

fn check_password_rules(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::Invalid(format!("a password needs at least {MIN_PASSWORD_CHARS} characters")));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.trim() != name || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(format!("{name:?} is not a user name: 1 to 64 characters, no control characters, no spaces around it")));
    }
    Ok(())
}

fn user_named(store: &Store, name: &str) -> Result<User> {
    store.user_credentials(name)?.map(|(u, _)| u).ok_or_else(|| Error::Invalid(format!("no user named {name:?} (`facegate user list` shows them)")))
}

fn subject(user: UserId) -> Vec<String> {
    vec![format!("user:{}", user.0)]
}

fn signed_in(user: &User) -> Result<SignedIn> {
    let role = Role::parse(&user.role).ok_or_else(|| Error::Invalid(format!("user {} has an unknown role {:?}", user.name, user.role)))?;
    Ok(SignedIn { user: user.id, actor: Actor { name: user.name.clone(), role } })
}

pub fn add_user(store: &mut Store, actor: &Actor, name: &str, role: Role, password: &str) -> Result<User> {
    actor.require(store, Permission::Administer, "user add", &[])?;
    check_name(name)?;
    check_password_rules(password)?;
    let id = store.insert_user(name, role.as_str(), &hash_password(password)?, &iso(Utc::now()))?;
    store.audit(&actor.name, "user add", &subject(id), "ok", Some(role.as_str()))?;
    user_named(store, name)
}

pub fn list_users(store: &mut Store, actor: &Actor) -> Result<Vec<User>> {
    actor.require(store, Permission::Administer, "user list", &[])?;
    store.users()
}

pub fn set_password(store: &mut Store, actor: &Actor, name: &str, password: &str) -> Result<()> {
    actor.require(store, Permission::Administer, "user passwd", &[])?;
    let user = user_named(store, name)?;
    check_password_rules(password)?;
    store.set_password_hash(user.id, &hash_password(password)?)?;
    store.audit(&actor.name, "user passwd", &subject(user.id), "ok", None)
}

pub fn disable_user(store: &mut Store, actor: &Actor, name: &str) -> Result<User> {
    actor.require(store, Permission::Administer, "user disable", &[])?;
    let user = user_named(store, name)?;
    store.disable_user(user.id)?;
    store.audit(&actor.name, "user disable", &subject(user.id), "ok", None)?;
    user_named(store, name)
}

pub fn create_token(store: &mut Store, actor: &Actor, user: &str, label: Option<&str>) -> Result<NewToken> {
    actor.require(store, Permission::Administer, "token create", &[])?;
    let owner = user_named(store, user)?;
    if owner.disabled {
        return Err(Error::Invalid(format!("user {} is disabled", owner.name)));
    }
    let token = format!("{TOKEN_PREFIX}{}", random_secret());
    let id = store.insert_token(owner.id, label, &secret_hash(&token), &iso(Utc::now()))?;
    store.audit(&actor.name, "token create", &[format!("token:{id}"), format!("user:{}", owner.id.0)], "ok", None)?;
    Ok(NewToken { id, user: owner.name, label: label.map(str::to_string), token })
}

pub fn list_tokens(store: &mut Store, actor: &Actor) -> Result<Vec<TokenRow>> {
    actor.require(store, Permission::Administer, "token list", &[])?;
    store.tokens()
}

pub fn revoke_token(store: &mut Store, actor: &Actor, id: i64) -> Result<()> {
    actor.require(store, Permission::Administer, "token revoke", &[format!("token:{id}")])?;
    if !store.revoke_token(id, &iso(Utc::now()))? {
        return Err(Error::Invalid(format!("no unrevoked token {id} (`facegate token list` shows them)")));
    }
    store.audit(&actor.name, "token revoke", &[format!("token:{id}")], "ok", None)
}

/// The user whose password this is. A refusal says only "wrong name or password", except for
/// a locked account (so that its owner knows to wait); each refusal is audited.
pub fn verify_password(store: &mut Store, name: &str, password: &str, now: DateTime<Utc>) -> Result<SignedIn> {
    let wrong = || Error::Denied("wrong user name or password".into());
    let Some((user, hash)) = store.user_credentials(name)? else {
        // As long as a real check, so that timing does not tell which names exist.
        password_matches(password, dummy_hash());
        store.audit("anonymous", "sign-in", &[], "denied", Some("unknown user"))?;
        return Err(wrong());
    };
    if let Some(until) = user.locked_until.as_deref().filter(|u| *u > iso(now).as_str()) {
        store.audit(&user.name, "sign-in", &subject(user.id), "denied", Some("locked"))?;
        return Err(Error::Denied(format!("too many failed sign-ins: the account is locked until {until}")));
    }
    if !password_matches(password, &hash) {
        let failed = user.failed_signins + 1;
        if failed >= MAX_FAILED_SIGNINS {
            let until = iso(now + LOCKOUT);
            store.set_signin_failures(user.id, 0, Some(&until))?;
            store.audit(&user.name, "sign-in", &subject(user.id), "denied", Some("wrong password"))?;
            store.audit(&user.name, "lock-out", &subject(user.id), "ok", Some(&format!("{failed} failed sign-ins; locked until {until}")))?;
        } else {
            store.set_signin_failures(user.id, failed, None)?;
            store.audit(&user.name, "sign-in", &subject(user.id), "denied", Some("wrong password"))?;
        }
        return Err(wrong());
    }
    if user.disabled {
        store.audit(&user.name, "sign-in", &subject(user.id), "denied", Some("disabled"))?;
        return Err(wrong());
    }
    store.set_signin_failures(user.id, 0, None)?;
    signed_in(&user)
}

/// Signs in: checks the password and starts a session.
pub fn sign_in(store: &mut Store, name: &str, password: &str, now: DateTime<Utc>) -> Result<NewSession> {
    let who = verify_password(store, name, password, now)?;
    let (token, csrf_token) = (random_secret(), random_secret());
    store.insert_session(&secret_hash(&token), who.user, &csrf_token, &iso(now), &iso(now + SESSION_IDLE))?;
    store.audit(&who.actor.name, "sign-in", &subject(who.user), "ok", None)?;
    Ok(NewSession { token, csrf_token, signed_in: who })
}

/// The session of this cookie value, when it is live; its idle time starts again.
pub fn session(store: &mut Store, token: &str, now: DateTime<Utc>) -> Result<Option<LiveSession>> {
    let sha = secret_hash(token);
    let Some(s) = store.session(&sha)? else { return Ok(None) };
    if s.expires_at.as_str() <= iso(now).as_str() || s.user.disabled {
        store.delete_session(&sha, &iso(now))?;
        return Ok(None);
    }
    let seen = DateTime::parse_from_rfc3339(&s.last_seen_at).map(|t| t.with_timezone(&Utc)).unwrap_or(now - TOUCH_EVERY);
    if now - seen >= TOUCH_EVERY {
        store.touch_session(&sha, &iso(now), &iso(now + SESSION_IDLE))?;
    }
    Ok(Some(LiveSession { signed_in: signed_in(&s.user)?, csrf_token: s.csrf_token }))
}

/// Ends the session of this cookie value (and every expired one).
pub fn sign_out(store: &mut Store, token: &str, now: DateTime<Utc>) -> Result<()> {
    let sha = secret_hash(token);
    if let Some(s) = store.session(&sha)? {
        store.audit(&s.user.name, "sign-out", &subject(s.user.id), "ok", None)?;
    }
    store.delete_session(&sha, &iso(now))
}

/// The user of an API token, when it is unrevoked and its user is enabled.
pub fn token_user(store: &mut Store, token: &str, now: DateTime<Utc>) -> Result<Option<SignedIn>> {
    match store.use_token(&secret_hash(token), &iso(now))? {
        Some((_, user)) if !user.disabled => Ok(Some(signed_in(&user)?)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        crate::store::temp_store()
    }

    fn outcomes(store: &Store, command: &str) -> Vec<String> {
        store.audit_log(None, None).unwrap().into_iter().filter(|e| e.command == command).map(|e| e.outcome).collect()
    }

    #[test]
    fn only_admins_manage_users_and_a_refusal_is_audited() {
        let (_d, mut s) = store();
        let owner = Actor::owner("root");
        add_user(&mut s, &owner, "vera", Role::Viewer, "a long password").unwrap();
        let vera = Actor { name: "vera".into(), role: Role::Viewer };
        let e = add_user(&mut s, &vera, "mallory", Role::Admin, "a long password").unwrap_err();
        assert!(matches!(e, Error::Denied(_)), "{e}");
        let denied = s.audit_log(None, None).unwrap().into_iter().find(|e| e.outcome == "denied").unwrap();
        assert_eq!((denied.actor.as_str(), denied.command.as_str()), ("vera", "user add"));
        assert!(s.user_credentials("mallory").unwrap().is_none());
        assert!(create_token(&mut s, &vera, "vera", None).is_err());
        assert!(add_user(&mut s, &owner, "ed", Role::Editor, "short").unwrap_err().to_string().contains("at least 10"));
    }

    #[test]
    fn passwords_are_stored_as_argon2id_and_verified() {
        let (_d, mut s) = store();
        add_user(&mut s, &Actor::owner("root"), "ada", Role::Editor, "correct horse").unwrap();
        let (_, hash) = s.user_credentials("ada").unwrap().unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        let who = verify_password(&mut s, "ada", "correct horse", Utc::now()).unwrap();
        assert_eq!(who.actor, Actor { name: "ada".into(), role: Role::Editor });
        assert!(verify_password(&mut s, "ada", "wrong horse!", Utc::now()).is_err());
        assert!(verify_password(&mut s, "nobody", "correct horse", Utc::now()).is_err());
        set_password(&mut s, &Actor::owner("root"), "ada", "battery staple").unwrap();
        assert!(verify_password(&mut s, "ada", "correct horse", Utc::now()).is_err());
        assert!(verify_password(&mut s, "ada", "battery staple", Utc::now()).is_ok());
    }

    #[test]
    fn five_failures_lock_the_account_for_fifteen_minutes() {
        let (_d, mut s) = store();
        add_user(&mut s, &Actor::owner("root"), "ada", Role::Viewer, "correct horse").unwrap();
        let t0 = Utc::now();
        for _ in 0..4 {
            assert!(verify_password(&mut s, "ada", "guess guess", t0).is_err());
        }
        assert!(verify_password(&mut s, "ada", "correct horse", t0).is_ok(), "four failures do not lock");
        for _ in 0..5 {
            assert!(verify_password(&mut s, "ada", "guess guess", t0).is_err());
        }
        let locked = verify_password(&mut s, "ada", "correct horse", t0 + Duration::minutes(14)).unwrap_err();
        assert!(locked.to_string().contains("locked until"), "{locked}");
        assert_eq!(outcomes(&s, "lock-out"), ["ok"]);
        assert!(verify_password(&mut s, "ada", "correct horse", t0 + Duration::minutes(16)).is_ok());
        assert_eq!(outcomes(&s, "sign-in").iter().filter(|o| *o == "denied").count(), 4 + 5 + 1);
    }

    #[test]
    fn sessions_expire_when_idle_and_end_at_sign_out() {
        let (_d, mut s) = store();
        add_user(&mut s, &Actor::owner("root"), "ada", Role::Dpo, "correct horse").unwrap();
        let t0 = Utc::now();
        let new = sign_in(&mut s, "ada", "correct horse", t0).unwrap();
        assert_eq!(new.token.len(), 64);
        let live = session(&mut s, &new.token, t0 + Duration::hours(11)).unwrap().unwrap();
        assert_eq!(live.csrf_token, new.csrf_token);
        // Used at 11 h, so still live 11 h later, and gone 12 h after that.
        assert!(session(&mut s, &new.token, t0 + Duration::hours(22)).unwrap().is_some());
        assert!(session(&mut s, &new.token, t0 + Duration::hours(35)).unwrap().is_none());
        assert!(session(&mut s, "not a token", t0).unwrap().is_none());
        let again = sign_in(&mut s, "ada", "correct horse", t0).unwrap();
        sign_out(&mut s, &again.token, t0).unwrap();
        assert!(session(&mut s, &again.token, t0).unwrap().is_none());
    }

    #[test]
    fn tokens_act_as_their_user_until_revoked_or_disabled() {
        let (_d, mut s) = store();
        let owner = Actor::owner("root");
        add_user(&mut s, &owner, "cms", Role::Viewer, "correct horse").unwrap();
        let t = create_token(&mut s, &owner, "cms", Some("publishing")).unwrap();
        assert!(t.token.starts_with(TOKEN_PREFIX));
        assert!(!format!("{:?}", s.tokens().unwrap()).contains(&t.token), "the secret is not stored");
        assert_eq!(token_user(&mut s, &t.token, Utc::now()).unwrap().unwrap().actor.role, Role::Viewer);
        revoke_token(&mut s, &owner, t.id).unwrap();
        assert!(token_user(&mut s, &t.token, Utc::now()).unwrap().is_none());
        let t2 = create_token(&mut s, &owner, "cms", None).unwrap();
        disable_user(&mut s, &owner, "cms").unwrap();
        assert!(token_user(&mut s, &t2.token, Utc::now()).unwrap().is_none());
    }
}
