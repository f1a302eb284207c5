//! Users of the web app and the API, their server-side sessions and their API tokens: the SQL
//! only. Rules (who may do what, lock-out, expiry, hashing) live in `app::users`. Secrets are
//! never stored: passwords as argon2id PHC strings, session and API tokens as their SHA-256.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use super::Store;
use crate::error::{Error, Result};

/// A user row's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct UserId(pub i64);

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct User {
    pub id: UserId,
    pub name: String,
    /// `viewer`, `editor`, `dpo` or `admin` (`app::Role` parses it).
    pub role: String,
    pub disabled: bool,
    /// Consecutive failed sign-ins since the last success or lock-out.
    pub failed_signins: u32,
    pub locked_until: Option<String>,
    pub created_at: String,
}

/// A live session, as a request finds it by its token's hash.
#[derive(Clone, Debug)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: String,
    pub last_seen_at: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TokenRow {
    pub id: i64,
    pub user: String,
    pub label: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

const USER_COLUMNS: &str = "u.id, u.name, u.role, u.disabled, u.failed_signins, u.locked_until, u.created_at";

fn user_at(r: &Row, at: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId(r.get(at)?),
        name: r.get(at + 1)?,
        role: r.get(at + 2)?,
        disabled: r.get(at + 3)?,
        failed_signins: r.get::<_, i64>(at + 4)? as u32,
        locked_until: r.get(at + 5)?,
        created_at: r.get(at + 6)?,
    })
}

impl Store {
    /// Adds a user; a name taken already (names are not case-sensitive) is an error.
    pub fn insert_user(&mut self, name: &str, role: &str, password_hash: &str, now: &str) -> Result<UserId> {
        let added = self.conn.execute(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, role, password_hash, now],
        );
        match added {
            Ok(_) => Ok(UserId(self.conn.last_insert_rowid())),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                Err(Error::Invalid(format!("a user named {name:?} exists already (names are not case-sensitive)")))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn users(&self) -> Result<Vec<User>> {
        let mut stmt = self.conn.prepare(&format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.id"))?;
        let rows = stmt.query_map([], |r| user_at(r, 0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The user of this name (not case-sensitive) and their password hash.
    pub fn user_credentials(&self, name: &str) -> Result<Option<(User, String)>> {
        Ok(self
            .conn
            .query_row(&format!("SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.name = ?1"), [name], |r| {
                Ok((user_at(r, 0)?, r.get(7)?))
            })
            .optional()?)
    }

    /// Replaces the password hash, clears failed sign-ins and the lock, and ends every session
    /// of the user (whoever knew the old password is signed out).
    pub fn set_password_hash(&mut self, user: UserId, password_hash: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE users SET password_hash = ?2, failed_signins = 0, locked_until = NULL WHERE id = ?1",
            params![user.0, password_hash],
        )?;
        tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user.0])?;
        tx.commit()?;
        Ok(())
    }

    /// Disables a user and ends their sessions; their API tokens stop working with them.
    pub fn disable_user(&mut self, user: UserId) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("UPDATE users SET disabled = 1 WHERE id = ?1", [user.0])?;
        tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user.0])?;
        tx.commit()?;
        Ok(())
    }

    /// Records the count of consecutive failed sign-ins and, when reached, the lock.
    pub fn set_signin_failures(&mut self, user: UserId, failed: u32, locked_until: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE users SET failed_signins = ?2, locked_until = ?3 WHERE id = ?1",
            params![user.0, failed, locked_until],
        )?;
        Ok(())
    }

    pub fn insert_session(&mut self, token_sha256: &str, user: UserId, csrf_token: &str, now: &str, expires_at: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO sessions (token_sha256, user_id, csrf_token, created_at, expires_at, last_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?4)",
            params![token_sha256, user.0, csrf_token, now, expires_at],
        )?;
        Ok(())
    }

    /// The session with this token hash, whatever its expiry (the caller decides).
    pub fn session(&self, token_sha256: &str) -> Result<Option<Session>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {USER_COLUMNS}, s.csrf_token, s.expires_at, s.last_seen_at
                     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_sha256 = ?1"
                ),
                [token_sha256],
                |r| Ok(Session { user: user_at(r, 0)?, csrf_token: r.get(7)?, expires_at: r.get(8)?, last_seen_at: r.get(9)? }),
            )
            .optional()?)
    }

    pub fn touch_session(&mut self, token_sha256: &str, now: &str, expires_at: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE sessions SET last_seen_at = ?2, expires_at = ?3 WHERE token_sha256 = ?1",
            params![token_sha256, now, expires_at],
        )?;
        Ok(())
    }

    /// Deletes the session with this token hash and every expired one.
    pub fn delete_session(&mut self, token_sha256: &str, now: &str) -> Result<()> {
        self.conn.execute("DELETE FROM sessions WHERE token_sha256 = ?1 OR expires_at <= ?2", params![token_sha256, now])?;
        Ok(())
    }

    pub fn insert_token(&mut self, user: UserId, label: Option<&str>, token_sha256: &str, now: &str) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO api_tokens (user_id, label, token_sha256, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![user.0, label, token_sha256, now],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn tokens(&self) -> Result<Vec<TokenRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT t.id, u.name, t.label, t.created_at, t.last_used_at, t.revoked_at
             FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(TokenRow { id: r.get(0)?, user: r.get(1)?, label: r.get(2)?, created_at: r.get(3)?, last_used_at: r.get(4)?, revoked_at: r.get(5)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Revokes a token; false when there is no such token or it was revoked already.
    pub fn revoke_token(&mut self, id: i64, now: &str) -> Result<bool> {
        Ok(self.conn.execute("UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", params![id, now])? == 1)
    }

    /// The unrevoked token with this hash and its user; records the use.
    pub fn use_token(&mut self, token_sha256: &str, now: &str) -> Result<Option<(i64, User)>> {
        let found = self
            .conn
            .query_row(
                &format!(
                    "SELECT t.id, {USER_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id
                     WHERE t.token_sha256 = ?1 AND t.revoked_at IS NULL"
                ),
                [token_sha256],
                |r| Ok((r.get::<_, i64>(0)?, user_at(r, 1)?)),
            )
            .optional()?;
        if let Some((id, _)) = &found {
            self.conn.execute("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1", params![id, now])?;
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        crate::store::temp_store()
    }

    #[test]
    fn names_are_unique_whatever_their_case() {
        let (_d, mut s) = store();
        s.insert_user("Alice", "admin", "h", "2026-01-01T00:00:00Z").unwrap();
        let again = s.insert_user("alice", "viewer", "h", "2026-01-01T00:00:00Z").unwrap_err();
        assert!(again.to_string().contains("exists already"), "{again}");
        assert_eq!(s.user_credentials("ALICE").unwrap().unwrap().0.name, "Alice");
        assert!(s.insert_user("bob", "root", "h", "now").is_err(), "the schema refuses unknown roles");
    }

    #[test]
    fn a_new_password_or_disabling_ends_the_sessions() {
        let (_d, mut s) = store();
        let u = s.insert_user("alice", "editor", "h", "t").unwrap();
        s.insert_session("s1", u, "c", "t", "z").unwrap();
        assert!(s.session("s1").unwrap().is_some());
        s.set_password_hash(u, "h2").unwrap();
        assert!(s.session("s1").unwrap().is_none());
        s.insert_session("s2", u, "c", "t", "z").unwrap();
        s.disable_user(u).unwrap();
        assert!(s.session("s2").unwrap().is_none());
        assert!(s.user_credentials("alice").unwrap().unwrap().0.disabled);
    }

    #[test]
    fn revoked_tokens_find_nobody() {
        let (_d, mut s) = store();
        let u = s.insert_user("alice", "viewer", "h", "t").unwrap();
        let id = s.insert_token(u, Some("cms"), "sha", "t").unwrap();
        assert_eq!(s.use_token("sha", "t2").unwrap().unwrap().1.id, u);
        assert_eq!(s.tokens().unwrap()[0].last_used_at.as_deref(), Some("t2"));
        assert!(s.revoke_token(id, "t3").unwrap());
        assert!(!s.revoke_token(id, "t4").unwrap());
        assert!(s.use_token("sha", "t5").unwrap().is_none());
    }
}
