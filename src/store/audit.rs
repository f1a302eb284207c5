//! The audit trail: an append-only, hash-chained table. Each entry's hash covers the previous
//! entry's hash and all of its own fields, so a changed, deleted, inserted or reordered entry
//! breaks the chain at that point. Entries name subjects by id (`person:5`, `photo:12`), never by
//! name, so erasing a person leaves the chain intact and free of their personal data.

use rusqlite::params;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{now_iso, Store};
use crate::error::Result;

/// The hash before the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub command: String,
    pub subjects: Vec<String>,
    pub outcome: String,
    pub detail: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// Which entries a listing of the trail shows: by this actor, naming this subject
/// (`person:5`), at or after `since` (a date or a timestamp).
#[derive(Clone, Debug, Default)]
pub struct AuditQuery<'a> {
    pub actor: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub since: Option<&'a str>,
}

/// What the chain check found.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Verification {
    pub entries: usize,
    pub ok: bool,
    /// The first entry that does not fit the chain, and why.
    pub first_bad: Option<BadEntry>,
}

/// An audit entry that breaks the chain.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BadEntry {
    pub id: i64,
    pub why: String,
}

/// The chain rule: an entry's hash over the previous hash and each field, length-prefixed.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(prev: &str, id: i64, at: &str, actor: &str, command: &str, subjects: &str, outcome: &str, detail: Option<&str>) -> String {
    let mut h = Sha256::new();
    for part in [prev, &id.to_string(), at, actor, command, subjects, outcome, detail.unwrap_or("\u{0}")] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

impl Store {
    /// Appends an entry to the audit trail.
    pub fn audit(&mut self, actor: &str, command: &str, subjects: &[String], outcome: &str, detail: Option<&str>) -> Result<()> {
        let tx = self.conn.transaction()?;
        append(&tx, actor, command, subjects, outcome, detail)?;
        tx.commit()?;
        Ok(())
    }

    /// Entries, oldest first, optionally only those naming `subject` or at/after `since`.
    pub fn audit_log(&self, subject: Option<&str>, since: Option<&str>) -> Result<Vec<AuditEntry>> {
        self.audit_entries(&AuditQuery { subject, since, ..AuditQuery::default() }, "ORDER BY id")
    }

    /// One page of the trail, newest first, and whether older entries pass the query too.
    pub fn audit_page(&self, q: &AuditQuery, offset: usize, limit: usize) -> Result<(Vec<AuditEntry>, bool)> {
        let mut entries = self.audit_entries(q, &format!("ORDER BY id DESC LIMIT {} OFFSET {offset}", limit + 1))?;
        let more = entries.len() > limit;
        entries.truncate(limit);
        Ok((entries, more))
    }

    fn audit_entries(&self, q: &AuditQuery, order: &str) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, at, actor, command, subjects, outcome, detail, prev_hash, hash FROM audit
             WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR actor = ?2)
               AND (?3 IS NULL OR EXISTS (SELECT 1 FROM json_each(audit.subjects) WHERE value = ?3)) {order}"
        ))?;
        let rows = stmt.query_map(params![q.since, q.actor, q.subject], |r| {
            let subjects: String = r.get(4)?;
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                command: r.get(3)?,
                subjects: serde_json::from_str(&subjects).unwrap_or_default(),
                outcome: r.get(5)?,
                detail: r.get(6)?,
                prev_hash: r.get(7)?,
                hash: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Recomputes the chain; names the first entry that does not fit.
    pub fn audit_verify(&self) -> Result<Verification> {
        let mut stmt = self.conn.prepare("SELECT id, at, actor, command, subjects, outcome, detail, prev_hash, hash FROM audit ORDER BY id")?;
        let mut rows = stmt.query([])?;
        let (mut prev, mut expected_id, mut n) = (GENESIS.to_string(), 1i64, 0usize);
        while let Some(r) = rows.next()? {
            n += 1;
            let id: i64 = r.get(0)?;
            let (at, actor, command, subjects, outcome): (String, String, String, String, String) = (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
            let detail: Option<String> = r.get(6)?;
            let (stored_prev, stored): (String, String) = (r.get(7)?, r.get(8)?);
            let problem = if id != expected_id {
                Some(format!("expected entry {expected_id} here, found {id} (an entry was deleted, inserted or moved)"))
            } else if stored_prev != prev {
                Some("does not follow the previous entry (deleted, inserted or reordered)".to_string())
            } else if entry_hash(&prev, id, &at, &actor, &command, &subjects, &outcome, detail.as_deref()) != stored {
                Some("its contents were changed".to_string())
            } else {
                None
            };
            if let Some(why) = problem {
                return Ok(Verification { entries: n, ok: false, first_bad: Some(BadEntry { id, why }) });
            }
            prev = stored;
            expected_id += 1;
        }
        Ok(Verification { entries: n, ok: true, first_bad: None })
    }
}

/// Appends an entry inside the caller's transaction (so that it is written with the change it
/// records, or not at all).
pub(super) fn append(tx: &rusqlite::Transaction, actor: &str, command: &str, subjects: &[String], outcome: &str, detail: Option<&str>) -> Result<()> {
    let (last_id, prev): (i64, String) = tx
        .query_row("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap_or((0, GENESIS.to_string()));
    let id = last_id + 1;
    let at = now_iso();
    let subjects = serde_json::to_string(subjects).expect("subjects serialise");
    let hash = entry_hash(&prev, id, &at, actor, command, &subjects, outcome, detail);
    tx.execute(
        "INSERT INTO audit (id, at, actor, command, subjects, outcome, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![id, at, actor, command, subjects, outcome, detail, prev, hash],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_entries(n: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("lib.db")).unwrap();
        for i in 0..n {
            s.audit("alice", "person name", &[format!("person:{i}")], "ok", None).unwrap();
        }
        (dir, s)
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let (_d, s) = store_with_entries(5);
        assert_eq!(s.audit_verify().unwrap(), Verification { entries: 5, ok: true, first_bad: None });
        assert_eq!(s.audit_log(Some("person:3"), None).unwrap().len(), 1);
    }

    #[test]
    fn edits_deletions_and_swaps_are_found_and_named() {
        let (_d, s) = store_with_entries(5);
        s.conn.execute("UPDATE audit SET actor = 'mallory' WHERE id = 3", []).unwrap();
        assert_eq!(s.audit_verify().unwrap().first_bad.unwrap().id, 3);

        let (_d, s) = store_with_entries(5);
        s.conn.execute("DELETE FROM audit WHERE id = 2", []).unwrap();
        assert_eq!(s.audit_verify().unwrap().first_bad.unwrap().id, 3);

        let (_d, s) = store_with_entries(5);
        // Swap the contents of entries 2 and 4 (ids stay in order).
        s.conn.execute_batch(
            "UPDATE audit SET id = 100 WHERE id = 2; UPDATE audit SET id = 2 WHERE id = 4; UPDATE audit SET id = 4 WHERE id = 100;",
        ).unwrap();
        assert_eq!(s.audit_verify().unwrap().first_bad.unwrap().id, 2);
    }
}

