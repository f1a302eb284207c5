//! SQL for consent requests answered online and for the library's settings. A request's two
//! secrets are looked up by their SHA-256; the rules (expiry, single use, what an answer
//! records) live in `app::requests`.

use chrono::NaiveDate;
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use super::{FaceId, PersonId, PhotoId, Store};
use crate::error::Result;

/// A request to store: who is asked, for what, over which period, about which photos.
#[derive(Clone, Debug)]
pub struct NewRequest<'a> {
    pub person: PersonId,
    pub answer_sha256: &'a str,
    pub withdraw_sha256: &'a str,
    pub purposes: &'a [i64],
    pub project: Option<i64>,
    pub from: NaiveDate,
    pub months: u32,
    pub photos: &'a [PhotoId],
    pub language: &'a str,
    pub organisation: &'a str,
    pub contact: Option<&'a str>,
    pub created_by: &'a str,
    pub created_at: &'a str,
    pub expires_at: &'a str,
}

/// A stored request and what became of it.
#[derive(Clone, Debug, Serialize)]
pub struct RequestRow {
    pub id: i64,
    pub person: PersonId,
    /// Purpose ids.
    pub purposes: Vec<i64>,
    pub project: Option<i64>,
    pub valid_from: NaiveDate,
    pub months: u32,
    pub photos: Vec<PhotoId>,
    pub language: String,
    pub organisation: String,
    pub contact: Option<String>,
    pub created_by: String,
    pub created_at: String,
    /// The answer link works until then (RFC 3339, UTC).
    pub expires_at: String,
    pub answered_at: Option<String>,
    /// The sha256 of the answer's evidence snapshot.
    pub answer_evidence: Option<String>,
    pub withdrawn_at: Option<String>,
    pub withdraw_evidence: Option<String>,
}

const REQUEST_SELECT: &str = "SELECT id, person_id, purposes, project_id, valid_from, months, photos, language, organisation,
    contact, created_by, created_at, expires_at, answered_at, answer_evidence, withdrawn_at, withdraw_evidence FROM consent_requests";

fn json_ids<T: serde::de::DeserializeOwned>(text: String) -> rusqlite::Result<Vec<T>> {
    serde_json::from_str(&text).map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn request_row(r: &Row) -> rusqlite::Result<RequestRow> {
    let from: String = r.get(4)?;
    Ok(RequestRow {
        id: r.get(0)?,
        person: PersonId(r.get(1)?),
        purposes: json_ids(r.get(2)?)?,
        project: r.get(3)?,
        valid_from: from.parse().map_err(|e| rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e)))?,
        months: r.get(5)?,
        photos: json_ids::<i64>(r.get(6)?)?.into_iter().map(PhotoId).collect(),
        language: r.get(7)?,
        organisation: r.get(8)?,
        contact: r.get(9)?,
        created_by: r.get(10)?,
        created_at: r.get(11)?,
        expires_at: r.get(12)?,
        answered_at: r.get(13)?,
        answer_evidence: r.get(14)?,
        withdrawn_at: r.get(15)?,
        withdraw_evidence: r.get(16)?,
    })
}

impl Store {
    pub fn add_consent_request(&mut self, r: &NewRequest) -> Result<i64> {
        let photos: Vec<i64> = r.photos.iter().map(|p| p.0).collect();
        self.conn.execute(
            "INSERT INTO consent_requests (person_id, answer_sha256, withdraw_sha256, purposes, project_id, valid_from, months,
                 photos, language, organisation, contact, created_by, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                r.person.0,
                r.answer_sha256,
                r.withdraw_sha256,
                serde_json::to_string(r.purposes)?,
                r.project,
                r.from.to_string(),
                r.months,
                serde_json::to_string(&photos)?,
                r.language,
                r.organisation,
                r.contact,
                r.created_by,
                r.created_at,
                r.expires_at
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The request whose answer secret (`column` = `answer_sha256`) or withdrawal secret
    /// (`withdraw_sha256`) hashes to `sha256`.
    pub fn consent_request_by_secret(&self, withdrawal: bool, sha256: &str) -> Result<Option<RequestRow>> {
        let column = if withdrawal { "withdraw_sha256" } else { "answer_sha256" };
        Ok(self.conn.query_row(&format!("{REQUEST_SELECT} WHERE {column} = ?1"), [sha256], request_row).optional()?)
    }

    /// Requests, newest first: of one person, or of everyone.
    pub fn consent_requests(&self, person: Option<PersonId>, limit: usize) -> Result<Vec<RequestRow>> {
        let mut stmt = self.conn.prepare_cached(&format!("{REQUEST_SELECT} WHERE ?1 IS NULL OR person_id = ?1 ORDER BY id DESC LIMIT ?2"))?;
        let rows = stmt.query_map(params![person.map(|p| p.0), limit as i64], request_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Marks a request answered, once: false when it was answered already.
    pub fn mark_request_answered(&mut self, id: i64, evidence_sha256: &str, at: &str) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE consent_requests SET answered_at = ?2, answer_evidence = ?3 WHERE id = ?1 AND answered_at IS NULL",
            params![id, at, evidence_sha256],
        )?;
        Ok(n == 1)
    }

    /// Records a withdrawal through a request's link (the latest one, when there are several).
    pub fn mark_request_withdrawn(&mut self, id: i64, evidence_sha256: &str, at: &str) -> Result<()> {
        self.conn.execute("UPDATE consent_requests SET withdrawn_at = ?2, withdraw_evidence = ?3 WHERE id = ?1", params![id, at, evidence_sha256])?;
        Ok(())
    }

    /// The person's confirmed faces in `photos`, with their photo.
    pub fn own_faces(&self, person: PersonId, photos: &[PhotoId]) -> Result<Vec<(FaceId, PhotoId)>> {
        let ids: Vec<i64> = photos.iter().map(|p| p.0).collect();
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.id, f.photo_id FROM faces f WHERE f.person_id = ?1 AND f.link = 'confirmed'
               AND f.photo_id IN (SELECT value FROM json_each(?2)) ORDER BY f.photo_id, f.id",
        )?;
        let rows = stmt.query_map(params![person.0, serde_json::to_string(&ids)?], |r| Ok((FaceId(r.get(0)?), PhotoId(r.get(1)?))))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The persons confirmed in any of `photos`, each with the photos they are in.
    pub fn persons_in_photos(&self, photos: &[PhotoId]) -> Result<Vec<(PersonId, Vec<PhotoId>)>> {
        let ids: Vec<i64> = photos.iter().map(|p| p.0).collect();
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT person_id, photo_id FROM faces WHERE link = 'confirmed' AND person_id IS NOT NULL
               AND photo_id IN (SELECT value FROM json_each(?1)) ORDER BY person_id, photo_id",
        )?;
        let rows = stmt.query_map([serde_json::to_string(&ids)?], |r| Ok((PersonId(r.get(0)?), PhotoId(r.get(1)?))))?;
        let mut out: Vec<(PersonId, Vec<PhotoId>)> = Vec::new();
        for row in rows {
            let (person, photo) = row?;
            match out.last_mut() {
                Some((p, list)) if *p == person => list.push(photo),
                _ => out.push((person, vec![photo])),
            }
        }
        Ok(out)
    }

    /// Faces in `photos` that nobody has confirmed (they cannot be asked).
    pub fn unidentified_faces_in(&self, photos: &[PhotoId]) -> Result<usize> {
        let ids: Vec<i64> = photos.iter().map(|p| p.0).collect();
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM faces WHERE (person_id IS NULL OR link IS NOT 'confirmed')
               AND photo_id IN (SELECT value FROM json_each(?1))",
            [serde_json::to_string(&ids)?],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    /// Sets (or, with an empty value, clears) a setting.
    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        if value.trim().is_empty() {
            self.conn.execute("DELETE FROM settings WHERE key = ?1", [key])?;
        } else {
            self.conn.execute("INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2", [key, value.trim()])?;
        }
        Ok(())
    }
}
