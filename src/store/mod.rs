//! The SQLite library: the source of truth for photos, faces and embeddings. All SQL lives here.
//! Schema changes are numbered migrations applied in order (`PRAGMA user_version`).
//! Writes come in batches, one transaction each, so a killed run leaves whole photos or nothing.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};
use crate::photo::{Limits, PhotoInfo};
use crate::vision::{Face, Origin, Rect};

mod audit;
mod consent;
mod erasure;
mod persons;
mod requests;
mod schema;
mod users;

pub use audit::{entry_hash, AuditEntry, AuditQuery, Verification};
pub use erasure::{Erased, ErasurePlan};
pub use consent::{ConsentRow, GateFace, GatePhoto, NewGrant, Project, Purpose, RevocationRow, Unconsented, Usage};
pub use requests::{NewRequest, RequestRow};
pub use users::{Session, TokenRow, User, UserId};
pub use persons::{FaceState, Link, LinkedBy, NewLink, Person, PersonFace, PersonFilter, PersonId, PersonQuery, PersonRef};

/// A photo row's id. Ids are never reused (AUTOINCREMENT), so stale references cannot alias.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct PhotoId(pub i64);

/// A face row's id; also the key of the face's vector in the HNSW index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct FaceId(pub i64);

/// What the library knows of a file from its last run, to decide whether to process it again.
#[derive(Clone, Debug)]
pub struct PhotoState {
    pub id: PhotoId,
    pub size: u64,
    pub mtime_ns: i64,
    pub content_hash: String,
    pub pipeline: Option<String>,
    pub error: Option<String>,
    /// Faces people drew on the photo (`face add`): processed again with it.
    pub manual: Vec<Rect>,
    /// For a photo the size limits refused: the pixel limit that would let it through.
    pub needs_pixels: Option<u64>,
}

/// The outcome of processing one file, ready to store.
#[derive(Debug)]
pub enum PhotoRecord {
    /// Same content as stored: only size and mtime are refreshed.
    Unchanged { id: PhotoId, size: u64, mtime_ns: i64 },
    /// `damage` says why only part of the file decoded: its faces are stored, and the reason is
    /// recorded as the photo's error, which blocks it at the gate.
    Indexed {
        path: String,
        size: u64,
        mtime_ns: i64,
        content_hash: String,
        info: PhotoInfo,
        faces: Vec<Face>,
        damage: Option<String>,
    },
    Failed { path: String, size: u64, mtime_ns: i64, content_hash: String, reason: String, needs_pixels: Option<u64> },
}

/// A stored face with its photo, as search results show it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FaceRow {
    pub face_id: FaceId,
    pub photo_id: PhotoId,
    pub path: String,
    pub rect: Rect,
    pub score: f32,
    pub taken_at: Option<String>,
    /// Detected, possible (unsure: blocks the gate until reviewed) or manual.
    pub origin: Origin,
}

const LIBRARY_ID: &str = "library.id";
/// The library's photo size limit (`index --max-megapixels`), in megapixels.
const MAX_MEGAPIXELS: &str = "limits.max_megapixels";

pub struct Store {
    conn: Connection,
    path: std::path::PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA secure_delete = ON;",
        )?;
        schema::migrate(&mut conn)?;
        // Every write transaction is a crash point for the crash tests (a no-op otherwise).
        conn.commit_hook(Some(|| {
            crate::crash::point("a SQLite commit");
            false
        }))?;
        Ok(Store { conn, path: path.to_path_buf() })
    }

    /// Opens a database this process cannot write (read-only files or media), without writing
    /// anything: no journal-mode change, no migration. SQLite needs a writable `-shm` file to read
    /// a WAL database, unless it is opened as immutable; that is right when no `-wal` file exists
    /// (every change is in the database file), and otherwise the `-shm` beside it is used.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        use rusqlite::OpenFlags;
        let wal = path.with_file_name(format!("{}-wal", path.file_name().and_then(|n| n.to_str()).unwrap_or_default()));
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = if wal.exists() {
            Connection::open_with_flags(path, flags)?
        } else {
            let text = path.to_str().ok_or_else(|| Error::Invalid(format!("{}: not a UTF-8 path", path.display())))?;
            let uri = format!("file:{}?immutable=1", text.replace('%', "%25").replace('?', "%3f").replace('#', "%23"));
            Connection::open_with_flags(uri, flags)?
        };
        conn.execute_batch("PRAGMA foreign_keys = ON;")?;
        schema::check_current(&conn)?;
        Ok(Store { conn, path: path.to_path_buf() })
    }

    /// SQLite's `quick_check` over the whole file (cost grows with the library; `status` runs it).
    pub fn check_integrity(&self) -> Result<()> {
        let check: String = self.conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(Error::DataCorruption { path: self.path.clone(), detail: check });
        }
        Ok(())
    }

    pub fn photo_states(&self) -> Result<HashMap<String, PhotoState>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, path, size, mtime_ns, content_hash, pipeline, error, needs_pixels FROM photos",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?,
                PhotoState {
                    id: PhotoId(r.get(0)?),
                    size: r.get::<_, i64>(2)? as u64,
                    mtime_ns: r.get(3)?,
                    content_hash: r.get(4)?,
                    pipeline: r.get(5)?,
                    error: r.get(6)?,
                    manual: Vec::new(),
                    needs_pixels: r.get::<_, Option<i64>>(7)?.map(|n| n as u64),
                },
            ))
        })?;
        let mut states: HashMap<String, PhotoState> = rows.collect::<rusqlite::Result<_>>()?;
        let mut by_id: HashMap<PhotoId, &mut PhotoState> = states.values_mut().map(|st| (st.id, st)).collect();
        let mut manual = self.conn.prepare("SELECT photo_id, x0, y0, x1, y1 FROM manual_faces ORDER BY id")?;
        for row in manual.query_map([], |r| Ok((PhotoId(r.get(0)?), rect_at(r, 1)?)))? {
            let (photo, rect) = row?;
            if let Some(st) = by_id.get_mut(&photo) {
                st.manual.push(rect);
            }
        }
        Ok(states)
    }

    /// Stores a batch of outcomes in one transaction. Returns the number of faces written.
    pub fn write_batch(&mut self, records: &[PhotoRecord], pipeline: &str, model: &str) -> Result<usize> {
        let now = now_iso();
        let tx = self.conn.transaction()?;
        let mut faces = 0;
        for record in records {
            match record {
                PhotoRecord::Unchanged { id, size, mtime_ns } => {
                    tx.execute("UPDATE photos SET size = ?2, mtime_ns = ?3 WHERE id = ?1", params![id.0, *size as i64, mtime_ns])?;
                }
                PhotoRecord::Failed { path, size, mtime_ns, content_hash, reason, needs_pixels } => {
                    let outcome = Outcome { pipeline: None, error: Some(reason), needs_pixels: *needs_pixels };
                    let id = upsert_photo(&tx, path, *size, *mtime_ns, content_hash, &PhotoInfo::default(), &outcome, &now)?;
                    tx.execute("DELETE FROM faces WHERE photo_id = ?1", [id])?;
                }
                PhotoRecord::Indexed { path, size, mtime_ns, content_hash, info, faces: found, damage } => {
                    let outcome = Outcome { pipeline: Some(pipeline), error: damage.as_deref(), needs_pixels: None };
                    let id = upsert_photo(&tx, path, *size, *mtime_ns, content_hash, info, &outcome, &now)?;
                    let previous = PreviousFaces::take(&tx, id)?;
                    // A face where an erased person was in a kept photo is never stored again, and
                    // a region a person dismissed as no face stays dismissed (unless they drew a
                    // face there themselves).
                    let suppressed = regions(&tx, "suppressions", id)?;
                    let dismissed = regions(&tx, "face_dismissals", id)?;
                    let found = found.iter().filter(|f| {
                        !overlaps(&suppressed, &f.detection.rect)
                            && (f.origin == Origin::Manual || !overlaps(&dismissed, &f.detection.rect))
                    });
                    for face in found {
                        let face_id = insert_face(&tx, id, face, model)?;
                        previous.carry_over(&tx, face_id, &face.detection.rect)?;
                        faces += 1;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(faces)
    }

    /// Adds a face a person drew on an indexed photo, with its embedding; it is kept across
    /// re-indexing. Returns the new face's id.
    pub fn add_manual_face(&mut self, photo: PhotoId, face: &Face, model: &str, actor: &str) -> Result<FaceId> {
        let tx = self.conn.transaction()?;
        let r = face.detection.rect;
        tx.execute(
            "INSERT INTO manual_faces (photo_id, x0, y0, x1, y1, added_at, added_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![photo.0, r.x0, r.y0, r.x1, r.y1, now_iso(), actor],
        )?;
        let id = insert_face(&tx, photo.0, face, model)?;
        tx.commit()?;
        Ok(FaceId(id))
    }

    /// A person says these faces are not faces: each is deleted (with its embedding and links)
    /// and its region recorded, so re-indexing never brings it back. A face drawn by hand also
    /// loses its drawing. Returns the (face, photo) pairs dismissed; unknown ids are an error.
    pub fn dismiss_faces(&mut self, faces: &[FaceId], actor: &str) -> Result<Vec<(FaceId, PhotoId)>> {
        let tx = self.conn.transaction()?;
        let now = now_iso();
        let mut out = Vec::new();
        for face in faces {
            let (photo, rect): (i64, Rect) = tx
                .query_row("SELECT photo_id, x0, y0, x1, y1 FROM faces WHERE id = ?1", [face.0], |r| Ok((r.get(0)?, rect_at(r, 1)?)))
                .optional()?
                .ok_or_else(|| Error::Invalid(format!("no face {}", face.0)))?;
            tx.execute(
                "INSERT INTO face_dismissals (photo_id, x0, y0, x1, y1, dismissed_at, dismissed_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![photo, rect.x0, rect.y0, rect.x1, rect.y1, now, actor],
            )?;
            forget_drawn_faces(&tx, photo, &rect)?;
            tx.execute("DELETE FROM faces WHERE id = ?1", [face.0])?;
            out.push((*face, PhotoId(photo)));
        }
        tx.commit()?;
        Ok(out)
    }

    /// Deletes photos (and, by cascade, their faces and embeddings).
    pub fn remove_photos(&mut self, ids: &[PhotoId]) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        for id in ids {
            n += tx.execute("DELETE FROM photos WHERE id = ?1", [id.0])?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Embeddings of `model` with face id above `after`, by id.
    pub fn embeddings_after(&self, model: &str, after: FaceId) -> Result<Vec<(FaceId, Vec<f32>)>> {
        let mut stmt = self.conn.prepare("SELECT face_id, vector FROM embeddings WHERE model = ?1 AND face_id > ?2 ORDER BY face_id")?;
        let rows = stmt.query_map(params![model, after.0], |r| Ok((FaceId(r.get(0)?), blob_to_vector(&r.get::<_, Vec<u8>>(1)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Number of embeddings of `model` with face id at most `upto`.
    pub fn count_embeddings_upto(&self, model: &str, upto: FaceId) -> Result<usize> {
        // The kept total less the faces above `upto` (an index range, usually empty): counting
        // the faces up to `upto` took 17 ms at 100k faces, which every exact search paid.
        let n: i64 = self.conn.query_row(
            "SELECT coalesce((SELECT n FROM embedding_counts WHERE model = ?1), 0)
                  - (SELECT count(*) FROM embeddings WHERE model = ?1 AND face_id > ?2)",
            params![model, upto.0],
            |r| r.get(0),
        )?;
        usize::try_from(n).map_err(|_| Error::Invalid(format!("embedding count for {model} is negative")))
    }

    /// Faces and their photos for the given ids; ids no longer in the library are left out.
    pub fn faces(&self, ids: &[FaceId]) -> Result<Vec<FaceRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.id, p.id, p.path, f.x0, f.y0, f.x1, f.y1, f.score, p.taken_at, f.origin
             FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.id = ?1",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = stmt
                .query_row([id.0], |r| {
                    Ok(FaceRow {
                        face_id: FaceId(r.get(0)?),
                        photo_id: PhotoId(r.get(1)?),
                        path: r.get(2)?,
                        rect: Rect { x0: r.get(3)?, y0: r.get(4)?, x1: r.get(5)?, y1: r.get(6)? },
                        score: r.get(7)?,
                        taken_at: r.get(8)?,
                        origin: Origin::parse(&r.get::<_, String>(9)?),
                    })
                })
                .optional()?;
            out.extend(row);
        }
        Ok(out)
    }

    /// The library's random id (set once, by a migration).
    pub fn library_id(&self) -> Result<String> {
        self.meta(LIBRARY_ID)?.ok_or_else(|| Error::DataCorruption { path: self.path.clone(), detail: "no library id".into() })
    }

    /// Ids of every face with an embedding of `model`, ascending.
    pub fn embedding_ids(&self, model: &str) -> Result<Vec<FaceId>> {
        let mut stmt = self.conn.prepare("SELECT face_id FROM embeddings WHERE model = ?1 ORDER BY face_id")?;
        let rows = stmt.query_map([model], |r| Ok(FaceId(r.get(0)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How large a photo may be in this library: its setting, else the default.
    pub fn photo_limits(&self) -> Result<Limits> {
        match self.meta(MAX_MEGAPIXELS)? {
            None => Ok(Limits::default()),
            Some(v) => v.parse().map(Limits::megapixels).map_err(|_| Error::DataCorruption {
                path: self.path.clone(),
                detail: format!("{MAX_MEGAPIXELS} is {v:?}, not a number"),
            }),
        }
    }

    pub fn set_max_megapixels(&mut self, mp: u64) -> Result<()> {
        self.set_meta(MAX_MEGAPIXELS, &mp.to_string())
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn.execute("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])?;
        Ok(())
    }

    /// The faces of the photo stored under `path`.
    pub fn photo_faces(&self, path: &str) -> Result<Vec<FaceRow>> {
        let ids: Vec<FaceId> = self
            .conn
            .prepare("SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.path = ?1 ORDER BY f.id")?
            .query_map([path], |r| Ok(FaceId(r.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?;
        self.faces(&ids)
    }

    /// A photo's size in pixels as its faces' boxes measure it (orientation applied).
    pub fn photo_size(&self, id: PhotoId) -> Result<Option<(u32, u32)>> {
        let size: Option<(Option<u32>, Option<u32>)> =
            self.conn.query_row("SELECT width, height FROM photos WHERE id = ?1", [id.0], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        Ok(size.and_then(|(w, h)| w.zip(h)))
    }

    pub fn num_photos(&self) -> Result<usize> {
        Ok(self.conn.query_row("SELECT count(*) FROM photos", [], |r| r.get::<_, i64>(0))? as usize)
    }

    /// Photos recorded as failures (refused by the size limits, unreadable, undecodable).
    pub fn num_failed_photos(&self) -> Result<usize> {
        Ok(self.conn.query_row("SELECT count(*) FROM photos WHERE error IS NOT NULL", [], |r| r.get::<_, i64>(0))? as usize)
    }

    pub fn num_persons(&self) -> Result<usize> {
        Ok(self.conn.query_row("SELECT count(*) FROM persons", [], |r| r.get::<_, i64>(0))? as usize)
    }

    pub fn num_faces(&self) -> Result<usize> {
        Ok(self.conn.query_row("SELECT count(*) FROM faces", [], |r| r.get::<_, i64>(0))? as usize)
    }
}

/// The links and rejections of a photo's faces, taken before the photo is processed again, so
/// that a human's decisions follow the same face (matched by box overlap) into the new rows:
/// a re-run never undoes them.
/// Stores one face and its embedding; returns the face id.
fn insert_face(tx: &rusqlite::Transaction, photo: i64, face: &Face, model: &str) -> Result<i64> {
    let det = &face.detection;
    let r = det.rect;
    let kps = serde_json::to_string(&det.keypoints).expect("keypoints serialise");
    tx.prepare_cached(
        "INSERT INTO faces (photo_id, x0, y0, x1, y1, score, keypoints, origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![photo, r.x0, r.y0, r.x1, r.y1, det.score, kps, face.origin.as_str()])?;
    let id = tx.last_insert_rowid();
    tx.prepare_cached("INSERT INTO embeddings (face_id, model, vector) VALUES (?1, ?2, ?3)")?
        .execute(params![id, model, vector_to_blob(&face.embedding)])?;
    Ok(id)
}

/// Deletes the hand-drawn faces of a photo that `rect` mostly covers (IoU above 0.5), so they are
/// not drawn again when the photo is indexed.
pub(super) fn forget_drawn_faces(tx: &rusqlite::Transaction, photo: i64, rect: &Rect) -> Result<()> {
    let drawn: Vec<(i64, Rect)> = {
        let mut stmt = tx.prepare_cached("SELECT id, x0, y0, x1, y1 FROM manual_faces WHERE photo_id = ?1")?;
        let rows = stmt.query_map([photo], |r| Ok((r.get(0)?, rect_at(r, 1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (id, drawn_rect) in drawn {
        if overlaps(&[drawn_rect], rect) {
            tx.execute("DELETE FROM manual_faces WHERE id = ?1", [id])?;
        }
    }
    Ok(())
}

/// The boxes of a photo in one of the tables of regions (`suppressions`, `face_dismissals`).
fn regions(tx: &rusqlite::Transaction, table: &str, photo: i64) -> Result<Vec<Rect>> {
    let mut stmt = tx.prepare_cached(&format!("SELECT x0, y0, x1, y1 FROM {table} WHERE photo_id = ?1"))?;
    let rows = stmt.query_map([photo], |r| rect_at(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether `rect` is mostly one of `regions` (IoU above 0.5).
pub fn overlaps(regions: &[Rect], rect: &Rect) -> bool {
    regions.iter().any(|r| r.iou(rect) > 0.5)
}

/// A box from four columns starting at `at`.
fn rect_at(r: &rusqlite::Row, at: usize) -> rusqlite::Result<Rect> {
    Ok(Rect { x0: r.get(at)?, y0: r.get(at + 1)?, x1: r.get(at + 2)?, y1: r.get(at + 3)? })
}

struct PreviousFaces {
    faces: Vec<(Rect, [Option<rusqlite::types::Value>; 4], Vec<i64>)>,
}

impl PreviousFaces {
    /// Reads the photo's faces and deletes them.
    fn take(tx: &rusqlite::Transaction, photo: i64) -> Result<PreviousFaces> {
        let mut stmt = tx.prepare(
            "SELECT id, x0, y0, x1, y1, person_id, link, similarity, linked_by FROM faces WHERE photo_id = ?1",
        )?;
        let mut rejected = tx.prepare("SELECT person_id FROM face_rejections WHERE face_id = ?1")?;
        let rows: Vec<_> = stmt
            .query_map([photo], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    Rect { x0: r.get(1)?, y0: r.get(2)?, x1: r.get(3)?, y1: r.get(4)? },
                    [r.get(5).ok(), r.get(6).ok(), r.get(7).ok(), r.get(8).ok()],
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut faces = Vec::with_capacity(rows.len());
        for (id, rect, link) in rows {
            let rejections = rejected.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            faces.push((rect, link, rejections));
        }
        tx.execute("DELETE FROM faces WHERE photo_id = ?1", [photo])?;
        Ok(PreviousFaces { faces })
    }

    /// Gives the new face `face` the link and rejections of the old face overlapping it most
    /// (IoU above 0.5), if any.
    fn carry_over(&self, tx: &rusqlite::Transaction, face: i64, rect: &Rect) -> Result<()> {
        let best = self
            .faces
            .iter()
            .map(|f| (f.0.iou(rect), f))
            .filter(|(iou, _)| *iou > 0.5)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, (_, link, rejections))) = best {
            let [person, kind, similarity, by] = link.clone();
            tx.execute(
                "UPDATE faces SET person_id = ?2, link = ?3, similarity = ?4, linked_by = ?5 WHERE id = ?1",
                params![face, person, kind, similarity, by],
            )?;
            for p in rejections {
                tx.execute("INSERT OR IGNORE INTO face_rejections (face_id, person_id) VALUES (?1, ?2)", params![face, p])?;
            }
        }
        Ok(())
    }
}

/// How processing a photo ended: the pipeline that indexed it (none when it failed), the error
/// that blocks it, and for a photo the size limits refused, the pixel limit it needs.
struct Outcome<'a> {
    pipeline: Option<&'a str>,
    error: Option<&'a str>,
    needs_pixels: Option<u64>,
}

#[allow(clippy::too_many_arguments)]
fn upsert_photo(
    tx: &rusqlite::Transaction,
    path: &str,
    size: u64,
    mtime_ns: i64,
    content_hash: &str,
    info: &PhotoInfo,
    outcome: &Outcome,
    now: &str,
) -> Result<i64> {
    let id = tx.query_row(
        "INSERT INTO photos (path, size, mtime_ns, content_hash, width, height, orientation, taken_at, camera, pipeline, error, needs_pixels, indexed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
           content_hash = excluded.content_hash, width = excluded.width, height = excluded.height,
           orientation = excluded.orientation, taken_at = excluded.taken_at, camera = excluded.camera,
           pipeline = excluded.pipeline, error = excluded.error, needs_pixels = excluded.needs_pixels,
           indexed_at = excluded.indexed_at
         RETURNING id",
        params![
            path, size as i64, mtime_ns, content_hash,
            (info.width > 0).then_some(info.width), (info.height > 0).then_some(info.height),
            (info.orientation > 0).then_some(info.orientation), info.taken_at, info.camera,
            outcome.pipeline, outcome.error, outcome.needs_pixels.map(|n| n as i64), now
        ],
        |r| r.get(0),
    )?;
    Ok(id)
}

/// A store in a new temporary folder (kept while the folder lives), for unit tests.
#[cfg(test)]
pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("lib.db")).expect("open a temporary store");
    (dir, store)
}

/// Current UTC time, ISO 8601 to the second.
pub fn now_iso() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Current UTC time to the nanosecond, fixed width so that text order is time order: consent
/// records and revocations made within one second must still be ordered.
pub fn now_precise() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// Vectors are stored as little-endian f32.
pub fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn blob_to_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::Detection;

    fn det(x: f32) -> Detection {
        Detection { rect: Rect { x0: x, y0: 0.0, x1: x + 10.0, y1: 10.0 }, score: 0.9, keypoints: vec![[x, 5.0]; 6] }
    }

    fn indexed(path: &str, hash: &str, n: usize) -> PhotoRecord {
        PhotoRecord::Indexed {
            path: path.into(),
            size: 10,
            mtime_ns: 1,
            content_hash: hash.into(),
            info: PhotoInfo { width: 100, height: 80, orientation: 1, ..Default::default() },
            faces: (0..n).map(|i| Face::detected(det(i as f32 * 20.0), vec![i as f32, 1.0])).collect(),
            damage: None,
        }
    }

    #[test]
    fn reindexing_a_photo_replaces_its_faces_and_keeps_its_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("lib.db")).unwrap();
        store.write_batch(&[indexed("/a.jpg", "h1", 2), indexed("/b.jpg", "h2", 1)], "p", "m").unwrap();
        let id_a = store.photo_states().unwrap()["/a.jpg"].id;
        assert_eq!(store.num_faces().unwrap(), 3);
        store.write_batch(&[indexed("/a.jpg", "h3", 1)], "p", "m").unwrap();
        let states = store.photo_states().unwrap();
        assert_eq!(states["/a.jpg"].id, id_a);
        assert_eq!(states["/a.jpg"].content_hash, "h3");
        assert_eq!(store.num_faces().unwrap(), 2);
        // Face ids are not reused: the new face's id is above every earlier one.
        let all = store.embeddings_after("m", FaceId(0)).unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().any(|(id, _)| id.0 == 4));
    }

    #[test]
    fn failure_clears_faces_and_removal_cascades() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("lib.db")).unwrap();
        store.write_batch(&[indexed("/a.jpg", "h1", 2), indexed("/b.jpg", "h2", 1)], "p", "m").unwrap();
        let failed = PhotoRecord::Failed { path: "/a.jpg".into(), size: 3, mtime_ns: 2, content_hash: "x".into(), reason: "truncated".into(), needs_pixels: None };
        store.write_batch(&[failed], "p", "m").unwrap();
        let states = store.photo_states().unwrap();
        assert_eq!(states["/a.jpg"].error.as_deref(), Some("truncated"));
        assert_eq!(store.num_faces().unwrap(), 1);
        store.remove_photos(&[states["/b.jpg"].id]).unwrap();
        assert_eq!(store.num_faces().unwrap(), 0);
        assert!(store.embeddings_after("m", FaceId(0)).unwrap().is_empty());
        assert_eq!(store.num_photos().unwrap(), 1);
    }

    /// The kept per-model counts follow inserts, re-indexing and cascaded deletes, and match a
    /// plain count (migration 10).
    #[test]
    fn embedding_counts_follow_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("lib.db")).unwrap();
        let plain = |store: &Store, model: &str, upto: i64| -> usize {
            store.conn.query_row("SELECT count(*) FROM embeddings WHERE model = ?1 AND face_id <= ?2", params![model, upto], |r| r.get::<_, i64>(0)).unwrap() as usize
        };
        let agree = |store: &Store| {
            for model in ["m", "k"] {
                for upto in 0..12 {
                    assert_eq!(store.count_embeddings_upto(model, FaceId(upto)).unwrap(), plain(store, model, upto), "{model} up to {upto}");
                }
            }
        };
        store.write_batch(&[indexed("/a.jpg", "h1", 2), indexed("/b.jpg", "h2", 3)], "p", "m").unwrap();
        store.write_batch(&[indexed("/c.jpg", "h3", 2)], "p", "k").unwrap();
        agree(&store);
        store.write_batch(&[indexed("/a.jpg", "h4", 1)], "p", "m").unwrap();
        agree(&store);
        let b = store.photo_states().unwrap()["/b.jpg"].id;
        store.remove_photos(&[b]).unwrap();
        agree(&store);
        assert_eq!(store.count_embeddings_upto("m", FaceId(100)).unwrap(), 1);
    }

    #[test]
    fn vectors_round_trip_through_blobs() {
        let v = vec![0.25f32, -1.5, 3.0e-7];
        assert_eq!(blob_to_vector(&vector_to_blob(&v)), v);
    }
}
