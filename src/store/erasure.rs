//! SQL for erasure: removing a person and everything that describes them in one transaction,
//! and what later runs need to keep them erased (suppressed face regions, erased file hashes).

use std::collections::HashMap;

use rusqlite::params;
use serde::Serialize;

use super::{now_iso, FaceId, PersonId, PhotoId, Store};
use crate::error::Result;
use crate::vision::Rect;

/// What an erasure removes from the library.
#[derive(Clone, Debug)]
pub struct ErasurePlan {
    pub person: PersonId,
    pub reason: String,
    pub mode: String,
    pub actor: String,
    /// Photos whose rows go (their files are deleted or quarantined): (photo, content sha256).
    pub remove_photos: Vec<(PhotoId, String)>,
    /// Photos kept but blocked for every purpose, with the person's faces in them.
    pub keep_photos: Vec<(PhotoId, Vec<(FaceId, Rect)>)>,
    pub summary: serde_json::Value,
}

#[derive(Clone, Debug, Serialize)]
pub struct Erased {
    pub erasure_id: i64,
    pub at: String,
    pub faces_removed: usize,
    pub consents_removed: usize,
    pub revocations_removed: usize,
    /// Evidence files no longer referenced by any consent: to delete from the evidence store.
    pub orphaned_evidence: Vec<String>,
}

impl Store {
    /// Runs an erasure in one transaction.
    pub fn erase_person(&mut self, plan: &ErasurePlan) -> Result<Erased> {
        let tx = self.conn.transaction()?;
        let at = now_iso();
        tx.execute(
            "INSERT INTO erasures (at, actor, reason, mode, summary) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![at, plan.actor, plan.reason, plan.mode, plan.summary.to_string()],
        )?;
        let erasure_id = tx.last_insert_rowid();
        let faces_before: i64 = tx.query_row("SELECT count(*) FROM faces", [], |r| r.get(0))?;
        for (photo, sha) in &plan.remove_photos {
            tx.execute("DELETE FROM photos WHERE id = ?1", [photo.0])?;
            tx.execute("INSERT OR IGNORE INTO erased_files (sha256, erasure_id) VALUES (?1, ?2)", params![sha, erasure_id])?;
        }
        for (photo, faces) in &plan.keep_photos {
            for (face, r) in faces {
                tx.execute(
                    "INSERT INTO suppressions (photo_id, x0, y0, x1, y1, erasure_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![photo.0, r.x0, r.y0, r.x1, r.y1, erasure_id],
                )?;
                tx.execute("DELETE FROM faces WHERE id = ?1", [face.0])?;
            }
            tx.execute(
                "UPDATE photos SET blocked = ?2 WHERE id = ?1",
                params![photo.0, format!("shows a person erased by erasure {erasure_id}")],
            )?;
        }
        // Any face still linked to the person (the plan covers them all; this is the safety net).
        tx.execute("DELETE FROM faces WHERE person_id = ?1", [plan.person.0])?;
        let faces_after: i64 = tx.query_row("SELECT count(*) FROM faces", [], |r| r.get(0))?;
        let evidence: Vec<String> = tx
            .prepare("SELECT DISTINCT evidence_sha256 FROM consents WHERE person_id = ?1 AND evidence_sha256 IS NOT NULL")?
            .query_map([plan.person.0], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let consents_removed = tx.execute("DELETE FROM consents WHERE person_id = ?1", [plan.person.0])?;
        let revocations_removed = tx.execute("DELETE FROM revocations WHERE person_id = ?1", [plan.person.0])?;
        let mut orphaned_evidence = Vec::new();
        for sha in evidence {
            let still: i64 = tx.query_row("SELECT count(*) FROM consents WHERE evidence_sha256 = ?1", [&sha], |r| r.get(0))?;
            if still == 0 {
                orphaned_evidence.push(sha);
            }
        }
        tx.execute("DELETE FROM persons WHERE id = ?1", [plan.person.0])?;
        tx.commit()?;
        Ok(Erased {
            erasure_id,
            at,
            faces_removed: (faces_before - faces_after) as usize,
            consents_removed,
            revocations_removed,
            orphaned_evidence,
        })
    }

    /// Writes the WAL back into the database and truncates it, so no page of deleted data stays
    /// in the WAL file (deleted content in the database itself is zeroed by `secure_delete`).
    pub fn checkpoint(&self) -> Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// sha256 of every file an erasure deleted or quarantined → the erasure and its date.
    pub fn erased_files(&self) -> Result<HashMap<String, (i64, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT f.sha256, e.id, e.at FROM erased_files f JOIN erasures e ON e.id = f.erasure_id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Face regions of a photo where an erased person was.
pub(super) fn suppressed(tx: &rusqlite::Transaction, photo: i64) -> Result<Vec<Rect>> {
    let mut stmt = tx.prepare_cached("SELECT x0, y0, x1, y1 FROM suppressions WHERE photo_id = ?1")?;
    let rows = stmt.query_map([photo], |r| Ok(Rect { x0: r.get(0)?, y0: r.get(1)?, x1: r.get(2)?, y1: r.get(3)? }))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
