//! Numbered schema migrations. Each runs once, in order, inside a transaction; the database's
//! `user_version` records how many have run. Never edit a released migration: add a new one.

use rusqlite::Connection;

use crate::error::{Error, Result};

const MIGRATIONS: &[&str] = &[
    // 1: photos, faces, embeddings.
    "CREATE TABLE photos (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        width INTEGER,
        height INTEGER,
        orientation INTEGER,
        taken_at TEXT,
        camera TEXT,
        pipeline TEXT,
        error TEXT,
        indexed_at TEXT NOT NULL
    );
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
        score REAL NOT NULL,
        keypoints TEXT NOT NULL
    );
    CREATE INDEX faces_photo ON faces(photo_id);
    CREATE TABLE embeddings (
        face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE INDEX embeddings_model ON embeddings(model, face_id);",
    // 2: persons, each face's link to a person (confirmed or suggested, and by whom), and the
    // human "this face is not that person" decisions.
    "CREATE TABLE persons (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT,
        email TEXT,
        external INTEGER NOT NULL DEFAULT 0,
        auto INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL
    );
    ALTER TABLE faces ADD COLUMN person_id INTEGER REFERENCES persons(id) ON DELETE SET NULL;
    ALTER TABLE faces ADD COLUMN link TEXT CHECK (link IN ('confirmed', 'suggested'));
    ALTER TABLE faces ADD COLUMN similarity REAL;
    ALTER TABLE faces ADD COLUMN linked_by TEXT CHECK (linked_by IN ('human', 'rule', 'cluster'));
    CREATE INDEX faces_person ON faces(person_id, photo_id);
    CREATE TABLE face_rejections (
        face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
        PRIMARY KEY (face_id, person_id)
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // 3: consent. Records are never updated: a grant is a row, a revocation is another row, and
    // "valid on date D" is a query. Dates are ISO 8601 (YYYY-MM-DD), inclusive.
    "CREATE TABLE purposes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        description TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        until TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE consents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        person_id INTEGER NOT NULL REFERENCES persons(id),
        purpose_id INTEGER NOT NULL REFERENCES purposes(id),
        project_id INTEGER REFERENCES projects(id),
        valid_from TEXT NOT NULL,
        valid_until TEXT,
        source TEXT CHECK (source IN ('paper', 'email', 'web', 'other')),
        note TEXT,
        evidence_sha256 TEXT,
        evidence_name TEXT,
        recorded_at TEXT NOT NULL,
        recorded_by TEXT NOT NULL
    );
    CREATE INDEX consents_person ON consents(person_id, purpose_id);
    CREATE TABLE revocations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        person_id INTEGER NOT NULL REFERENCES persons(id),
        purpose_id INTEGER REFERENCES purposes(id),
        effective TEXT NOT NULL,
        note TEXT,
        recorded_at TEXT NOT NULL,
        recorded_by TEXT NOT NULL
    );
    CREATE INDEX revocations_person ON revocations(person_id);
    CREATE TABLE usage_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        photo_id INTEGER REFERENCES photos(id) ON DELETE SET NULL,
        content_sha256 TEXT NOT NULL,
        purpose TEXT NOT NULL,
        project TEXT,
        used_on TEXT NOT NULL,
        destination TEXT NOT NULL,
        actor TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    );
    CREATE INDEX usage_photo ON usage_log(photo_id);
    ALTER TABLE photos ADD COLUMN blocked TEXT;
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        command TEXT NOT NULL,
        subjects TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );",
    // 4: erasure. An erasure record keeps no personal data: counts, the reason, and the sha256 of
    // each file deleted or quarantined (so a copy indexed again is recognised). Suppressions mark
    // where an erased person's face was in a photo that was kept, so re-indexing never brings
    // the face back.
    "CREATE TABLE erasures (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        mode TEXT NOT NULL,
        summary TEXT NOT NULL
    );
    CREATE TABLE erased_files (
        sha256 TEXT NOT NULL,
        erasure_id INTEGER NOT NULL REFERENCES erasures(id),
        PRIMARY KEY (sha256, erasure_id)
    );
    CREATE TABLE suppressions (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
        erasure_id INTEGER NOT NULL REFERENCES erasures(id)
    );
    CREATE INDEX suppressions_photo ON suppressions(photo_id);",
    // 5: a random id for the library, which the index files beside it carry, so that index files
    // of another library (a database restored or copied over) are never taken for this one's.
    "INSERT INTO meta (key, value) VALUES ('library.id', lower(hex(randomblob(16))));",
    // 6: detection you can doubt and correct. A face is detected (confident), possible (the
    // detector is unsure: it blocks the gate until reviewed) or manual (drawn by a person, kept
    // across re-indexing in manual_faces). A dismissal ("not a face") keeps that region out of
    // later runs.
    "ALTER TABLE faces ADD COLUMN origin TEXT NOT NULL DEFAULT 'detected'
        CHECK (origin IN ('detected', 'possible', 'manual'));
    CREATE TABLE manual_faces (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
        added_at TEXT NOT NULL,
        added_by TEXT NOT NULL
    );
    CREATE INDEX manual_faces_photo ON manual_faces(photo_id);
    CREATE TABLE face_dismissals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,
        dismissed_at TEXT NOT NULL,
        dismissed_by TEXT NOT NULL
    );
    CREATE INDEX face_dismissals_photo ON face_dismissals(photo_id);",
    // 7: the erasure journal: an erasure whose rows are gone but whose other steps
    // (files, evidence, index files, WAL, certificate) are not all done yet. Written in the same
    // transaction as the row deletions, deleted in the one that writes the erasure's audit entry;
    // `state` is the job as JSON (face index work, certificate content, files still to remove).
    // `check` also finds a photo by its content (a copy under another path): photos_hash.
    "CREATE TABLE erasure_jobs (
        erasure_id INTEGER PRIMARY KEY REFERENCES erasures(id),
        state TEXT NOT NULL
    );
    CREATE INDEX photos_hash ON photos(content_hash);",
    // 8: paths are kept as `paths::key` writes them, which round-trips to
    // the file name's bytes: a backslash becomes `\\`, a control character `\xNN` (invalid
    // UTF-8, which earlier versions stored lossily as U+FFFD, becomes `\xNN` too, but the bytes
    // of those rows are lost: their files are indexed anew and the old rows dropped as gone).
    // A photo the size limits refused records the pixel limit that would let it through.
    r"UPDATE photos SET path =
        replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
        replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
        replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
        path, '\', '\\')
       , char(1), '\x01'), char(2), '\x02'), char(3), '\x03'), char(4), '\x04'), char(5), '\x05')
       , char(6), '\x06'), char(7), '\x07'), char(8), '\x08'), char(9), '\x09'), char(10), '\x0a')
       , char(11), '\x0b'), char(12), '\x0c'), char(13), '\x0d'), char(14), '\x0e')
       , char(15), '\x0f'), char(16), '\x10'), char(17), '\x11'), char(18), '\x12')
       , char(19), '\x13'), char(20), '\x14'), char(21), '\x15'), char(22), '\x16')
       , char(23), '\x17'), char(24), '\x18'), char(25), '\x19'), char(26), '\x1a')
       , char(27), '\x1b'), char(28), '\x1c'), char(29), '\x1d'), char(30), '\x1e')
       , char(31), '\x1f'), char(127), '\x7f');
    ALTER TABLE photos ADD COLUMN needs_pixels INTEGER;",
    // 9: users of the web app and the API. Passwords only as argon2id hashes (PHC strings);
    // sessions and API tokens only as the SHA-256 of the random secret the client holds, so a
    // copy of the database lets nobody sign in. Times are UTC, `now_iso`'s fixed-width text.
    "CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'dpo', 'admin')),
        password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        failed_signins INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE sessions (
        token_sha256 TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL
    );
    CREATE INDEX sessions_user ON sessions(user_id);
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        label TEXT,
        token_sha256 TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at TEXT
    );",
    // 10: a million faces. The number of embeddings per model, kept by triggers (cascaded deletes
    // fire them too), so that every exact search's check of the index files against SQLite
    // (`Store::count_embeddings_upto`) does not count a million index entries.
    "CREATE TABLE embedding_counts (model TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO embedding_counts (model, n) SELECT model, count(*) FROM embeddings GROUP BY model;
    CREATE TRIGGER embeddings_counted AFTER INSERT ON embeddings BEGIN
        INSERT INTO embedding_counts (model, n) VALUES (NEW.model, 1) ON CONFLICT(model) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER embeddings_uncounted AFTER DELETE ON embeddings BEGIN
        UPDATE embedding_counts SET n = n - 1 WHERE model = OLD.model;
    END;
    CREATE TRIGGER embeddings_recounted AFTER UPDATE OF model ON embeddings BEGIN
        UPDATE embedding_counts SET n = n - 1 WHERE model = OLD.model;
        INSERT INTO embedding_counts (model, n) VALUES (NEW.model, 1) ON CONFLICT(model) DO UPDATE SET n = n + 1;
    END;",
    // 11: consent requests answered online. A request asks one person for some purposes over a
    // period; its two secrets (the single-use answer link, the withdrawal link) are kept as
    // SHA-256 only. `photos` and `purposes` are JSON arrays of ids. The answer's and the
    // withdrawal's evidence snapshots are evidence files like signed forms. The organisation and
    // contact are kept as the message named them, for the page. `settings`: what is
    // configured once (the organisation's name and contact, the address people reach us at).
    "CREATE TABLE consent_requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
        answer_sha256 TEXT NOT NULL UNIQUE,
        withdraw_sha256 TEXT NOT NULL UNIQUE,
        purposes TEXT NOT NULL,
        project_id INTEGER REFERENCES projects(id),
        valid_from TEXT NOT NULL,
        months INTEGER NOT NULL CHECK (months BETWEEN 1 AND 120),
        photos TEXT NOT NULL,
        language TEXT NOT NULL,
        organisation TEXT NOT NULL,
        contact TEXT,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        answered_at TEXT,
        answer_evidence TEXT,
        withdrawn_at TEXT,
        withdraw_evidence TEXT
    );
    CREATE INDEX consent_requests_person ON consent_requests(person_id);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
    // 12: `consent expiring` reaches the consents ending in its window through an index, by their
    // own end or their project's, instead of reading every consent.
    "CREATE INDEX consents_until ON consents(valid_until);
    CREATE INDEX consents_project ON consents(project_id);",
];

/// For a database that cannot be written: its schema must be this version's, since it cannot be
/// migrated.
pub fn check_current(conn: &Connection) -> Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    match version.cmp(&MIGRATIONS.len()) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(Error::Invalid(format!(
            "the library was written by a newer facegate (schema {version}, this one knows {})",
            MIGRATIONS.len()
        ))),
        std::cmp::Ordering::Less => Err(Error::Invalid(format!(
            "the library is read-only here and was written by an older facegate (schema {version}, this one needs {}); \
             run any command once with write access to upgrade it",
            MIGRATIONS.len()
        ))),
    }
}

pub fn migrate(conn: &mut Connection) -> Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if version > MIGRATIONS.len() {
        return Err(Error::Invalid(format!(
            "the library was written by a newer facegate (schema {version}, this one knows {})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_newer_schemas_are_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
        conn.pragma_update(None, "user_version", 999).unwrap();
        assert!(migrate(&mut conn).is_err());
    }

    /// Paths stored by earlier versions (text as the file system gave it) become keys that
    /// round-trip: the migration escapes exactly as `paths::key` does.
    #[test]
    fn stored_paths_are_migrated_to_keys() {
        let names = ["/photos/plain é.jpg", "/photos/back\\slash.jpg", "/photos/new\nline\x1b.jpg", "/photos/\x7f"];
        let migration = MIGRATIONS.iter().position(|m| m.contains("needs_pixels")).expect("the path migration");
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..migration] {
            conn.execute_batch(sql).unwrap();
        }
        for name in names {
            conn.execute("INSERT INTO photos (path, size, mtime_ns, content_hash, indexed_at) VALUES (?1, 1, 1, 'h', 'now')", [name]).unwrap();
        }
        conn.pragma_update(None, "user_version", migration as i64).unwrap();
        migrate(&mut conn).unwrap();
        for name in names {
            let key = crate::paths::key(std::path::Path::new(name));
            let n: i64 = conn.query_row("SELECT count(*) FROM photos WHERE path = ?1", [&key], |r| r.get(0)).unwrap();
            assert_eq!(n, 1, "{name:?} should be stored as {key:?}");
        }
    }
}
