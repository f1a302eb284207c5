//! SQL for erasure: removing a person and everything that describes them in one transaction,
//! the journal of erasures whose other steps are not done yet (`erasure_jobs`), and what later
//! runs need to keep them erased (suppressed face regions, erased file hashes).

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
    /// Runs an erasure in one transaction, which also records the job of finishing it: `job` gets
    /// what the transaction did and returns the job's state (JSON, without personal data beyond
    /// what the remaining steps need), stored in `erasure_jobs` until [`Store::finish_erasure_job`].
    pub fn erase_person(&mut self, plan: &ErasurePlan, job: impl FnOnce(&Erased) -> String) -> Result<Erased> {
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
                // A face drawn by hand where the person was is not drawn again.
                super::forget_drawn_faces(&tx, photo.0, r)?;
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
            .prepare(
                "SELECT evidence_sha256 FROM consents WHERE person_id = ?1 AND evidence_sha256 IS NOT NULL
                 UNION SELECT answer_evidence FROM consent_requests WHERE person_id = ?1 AND answer_evidence IS NOT NULL
                 UNION SELECT withdraw_evidence FROM consent_requests WHERE person_id = ?1 AND withdraw_evidence IS NOT NULL",
            )?
            .query_map([plan.person.0], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let consents_removed = tx.execute("DELETE FROM consents WHERE person_id = ?1", [plan.person.0])?;
        let revocations_removed = tx.execute("DELETE FROM revocations WHERE person_id = ?1", [plan.person.0])?;
        // Their consent requests (the answers' snapshots hold the name they typed) go too.
        tx.execute("DELETE FROM consent_requests WHERE person_id = ?1", [plan.person.0])?;
        let mut orphaned_evidence = Vec::new();
        for sha in evidence {
            let still: i64 = tx.query_row(
                "SELECT (SELECT count(*) FROM consents WHERE evidence_sha256 = ?1)
                      + (SELECT count(*) FROM consent_requests WHERE answer_evidence = ?1 OR withdraw_evidence = ?1)",
                [&sha],
                |r| r.get(0),
            )?;
            if still == 0 {
                orphaned_evidence.push(sha);
            }
        }
        tx.execute("DELETE FROM persons WHERE id = ?1", [plan.person.0])?;
        let erased = Erased {
            erasure_id,
            at,
            faces_removed: (faces_before - faces_after) as usize,
            consents_removed,
            revocations_removed,
            orphaned_evidence,
        };
        tx.execute("INSERT INTO erasure_jobs (erasure_id, state) VALUES (?1, ?2)", params![erasure_id, job(&erased)])?;
        tx.commit()?;
        Ok(erased)
    }

    /// Unfinished erasures: (erasure id, job state), oldest first.
    pub fn erasure_jobs(&self) -> Result<Vec<(i64, String)>> {
        let mut stmt = self.conn.prepare("SELECT erasure_id, state FROM erasure_jobs ORDER BY erasure_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records the progress of an unfinished erasure.
    pub fn update_erasure_job(&mut self, erasure_id: i64, state: &str) -> Result<()> {
        self.conn.execute("UPDATE erasure_jobs SET state = ?2 WHERE erasure_id = ?1", params![erasure_id, state])?;
        Ok(())
    }

    /// Closes an erasure's job and writes its audit entry, in one transaction: the entry is
    /// written exactly once, when the erasure is complete.
    pub fn finish_erasure_job(&mut self, erasure_id: i64, actor: &str, subjects: &[String], outcome: &str, detail: Option<&str>) -> Result<()> {
        let tx = self.conn.transaction()?;
        if tx.execute("DELETE FROM erasure_jobs WHERE erasure_id = ?1", [erasure_id])? == 1 {
            super::audit::append(&tx, actor, "erase", subjects, outcome, detail)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes the WAL back into the database and truncates it, so no page of deleted data stays
    /// in the WAL file (deleted content in the database itself is zeroed by `secure_delete`).
    pub fn checkpoint(&self) -> Result<()> {
        crate::crash::point("a WAL checkpoint");
        let busy: i64 = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy != 0 {
            return Err(crate::error::Error::Invalid(format!(
                "{}: another process is reading the library, so its write-ahead log could not be truncated; run the command again",
                self.path.display()
            )));
        }
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

