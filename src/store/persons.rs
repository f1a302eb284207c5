//! Persons and each face's link to one: SQL for the person layer. A link is `confirmed` (by a
//! human, or by the documented auto-confirm rule) or `suggested` (by clustering, with its
//! similarity). Human decisions are marked `linked_by = 'human'`; machine runs only ever touch
//! links they made themselves. A rejection ("face F is not person P") is kept as its own row so
//! no later run can link them again.

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

use super::{now_iso, FaceId, PhotoId, Store};
use crate::error::{Error, Result};
use crate::vision::Rect;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct PersonId(pub i64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Link {
    Confirmed,
    Suggested,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkedBy {
    Human,
    Rule,
    Cluster,
}

impl Link {
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Confirmed => "confirmed",
            Link::Suggested => "suggested",
        }
    }

    fn parse(s: &str) -> Option<Link> {
        match s {
            "confirmed" => Some(Link::Confirmed),
            "suggested" => Some(Link::Suggested),
            _ => None,
        }
    }
}

impl LinkedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkedBy::Human => "human",
            LinkedBy::Rule => "rule",
            LinkedBy::Cluster => "cluster",
        }
    }

    fn parse(s: &str) -> Option<LinkedBy> {
        match s {
            "human" => Some(LinkedBy::Human),
            "rule" => Some(LinkedBy::Rule),
            "cluster" => Some(LinkedBy::Cluster),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Person {
    pub id: PersonId,
    pub name: Option<String>,
    pub email: Option<String>,
    /// Known before any photo showed them (a visitor, an external model).
    pub external: bool,
    /// Made by clustering and not yet touched by a human.
    pub auto: bool,
    pub created_at: String,
    pub confirmed_faces: usize,
    pub suggested_faces: usize,
    pub photos: usize,
}

impl Person {
    /// "person 4 Ada Lovelace", or "person 4" when unnamed.
    pub fn label(&self) -> String {
        label(self.id, self.name.as_deref())
    }
}

fn label(id: PersonId, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("person {} {n}", id.0),
        None => format!("person {}", id.0),
    }
}

/// Which persons a listing shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonFilter {
    #[default]
    All,
    Unnamed,
    Named,
    External,
}

impl PersonFilter {
    pub const ALL: [PersonFilter; 4] = [PersonFilter::All, PersonFilter::Unnamed, PersonFilter::Named, PersonFilter::External];

    /// The filter's name in a query string.
    pub fn as_str(self) -> &'static str {
        match self {
            PersonFilter::All => "all",
            PersonFilter::Unnamed => "unnamed",
            PersonFilter::Named => "named",
            PersonFilter::External => "external",
        }
    }
}

/// A page of persons: those passing the filter whose name or email contains `text`.
#[derive(Clone, Debug)]
pub struct PersonQuery<'a> {
    pub filter: PersonFilter,
    pub text: Option<&'a str>,
    pub offset: usize,
    pub limit: usize,
}

/// A person row with their counts; `p` is the persons table.
const PERSON_SELECT: &str = "SELECT p.id, p.name, p.email, p.external, p.auto, p.created_at,
       (SELECT count(*) FROM faces f WHERE f.person_id = p.id AND f.link = 'confirmed'),
       (SELECT count(*) FROM faces f WHERE f.person_id = p.id AND f.link = 'suggested'),
       (SELECT count(DISTINCT photo_id) FROM faces f WHERE f.person_id = p.id)
     FROM persons p";

fn person_row(r: &rusqlite::Row) -> rusqlite::Result<Person> {
    Ok(Person {
        id: PersonId(r.get(0)?),
        name: r.get(1)?,
        email: r.get(2)?,
        external: r.get(3)?,
        auto: r.get(4)?,
        created_at: r.get(5)?,
        confirmed_faces: r.get::<_, i64>(6)? as usize,
        suggested_faces: r.get::<_, i64>(7)? as usize,
        photos: r.get::<_, i64>(8)? as usize,
    })
}

/// What clustering needs to know about a face (also what an undo puts back).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct FaceState {
    pub face: FaceId,
    pub photo: PhotoId,
    pub person: Option<PersonId>,
    pub link: Option<Link>,
    pub linked_by: Option<LinkedBy>,
}

/// A face of a person, as `person show` and `person photos` list it.
#[derive(Clone, Debug, Serialize)]
pub struct PersonFace {
    pub face_id: FaceId,
    pub photo_id: PhotoId,
    pub path: String,
    pub rect: Rect,
    pub link: Link,
    pub similarity: Option<f32>,
    pub linked_by: Option<LinkedBy>,
}

/// A person named by a plan: one that exists, or the n-th one the plan creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PersonRef {
    Existing(PersonId),
    New(usize),
}

/// A link the machine wants to write.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NewLink {
    pub face: FaceId,
    pub person: PersonRef,
    pub link: Link,
    pub similarity: Option<f32>,
    pub by: LinkedBy,
}

impl Store {
    /// Every face with its link, by face id.
    pub fn face_states(&self) -> Result<Vec<FaceState>> {
        let mut stmt = self.conn.prepare("SELECT id, photo_id, person_id, link, linked_by FROM faces ORDER BY id")?;
        let rows = stmt.query_map([], face_state)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Possible faces (the detector was unsure) that no person has linked yet.
    pub fn unreviewed_possible_faces(&self) -> Result<std::collections::HashSet<FaceId>> {
        let mut stmt = self.conn.prepare("SELECT id FROM faces WHERE origin = 'possible' AND person_id IS NULL")?;
        let rows = stmt.query_map([], |r| Ok(FaceId(r.get(0)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The states of the given faces; ids no longer in the library are left out.
    pub fn face_states_of(&self, ids: &[FaceId]) -> Result<Vec<FaceState>> {
        let mut stmt = self.conn.prepare_cached("SELECT id, photo_id, person_id, link, linked_by FROM faces WHERE id = ?1")?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(stmt.query_row([id.0], face_state).optional()?);
        }
        Ok(out)
    }

    /// Faces a human said are not `person`.
    pub fn rejected_faces(&self, person: PersonId) -> Result<HashSet<FaceId>> {
        let mut stmt = self.conn.prepare("SELECT face_id FROM face_rejections WHERE person_id = ?1")?;
        let rows = stmt.query_map([person.0], |r| Ok(FaceId(r.get(0)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn rejections(&self) -> Result<HashSet<(FaceId, PersonId)>> {
        let mut stmt = self.conn.prepare("SELECT face_id, person_id FROM face_rejections")?;
        let rows = stmt.query_map([], |r| Ok((FaceId(r.get(0)?), PersonId(r.get(1)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Writes a clustering plan in one transaction: creates its new persons, then its links.
    /// Returns the ids given to the new persons.
    pub fn apply_links(&mut self, new_persons: usize, links: &[NewLink]) -> Result<Vec<PersonId>> {
        let tx = self.conn.transaction()?;
        let now = now_iso();
        let mut created = Vec::with_capacity(new_persons);
        for _ in 0..new_persons {
            created.push(insert_person(&tx, None, None, false, true, &now)?);
        }
        for l in links {
            let person = match l.person {
                PersonRef::Existing(p) => p,
                PersonRef::New(i) => created[i],
            };
            set_link(&tx, l.face, Some(person), Some(l.link), l.similarity, Some(l.by))?;
        }
        tx.commit()?;
        Ok(created)
    }

    /// Forgets every link the machine made (clustering suggestions and rule confirmations) and
    /// deletes the automatic persons left with no face and no human detail. Human links,
    /// rejections, names and persons made by hand stay.
    pub fn clear_machine_links(&mut self) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE faces SET person_id = NULL, link = NULL, similarity = NULL, linked_by = NULL
             WHERE linked_by IN ('cluster', 'rule')",
            [],
        )?;
        tx.execute(
            "DELETE FROM persons WHERE auto = 1 AND name IS NULL AND email IS NULL AND external = 0
             AND id NOT IN (SELECT person_id FROM faces WHERE person_id IS NOT NULL)",
            [],
        )?;
        tx.commit()?;
        Ok(n)
    }

    pub fn add_person(&mut self, name: Option<&str>, email: Option<&str>, external: bool) -> Result<PersonId> {
        let tx = self.conn.transaction()?;
        let id = insert_person(&tx, name, email, external, false, &now_iso())?;
        tx.commit()?;
        Ok(id)
    }

    pub fn persons(&self) -> Result<Vec<Person>> {
        let mut stmt = self.conn.prepare(&format!("{PERSON_SELECT} ORDER BY p.id"))?;
        let rows = stmt.query_map([], person_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One page of the persons a listing shows, in id order, and how many there are in all. The
    /// counts are computed for the page's persons only, so a page costs the same at any size.
    pub fn persons_page(&self, q: &PersonQuery) -> Result<(Vec<Person>, usize)> {
        let filter = match q.filter {
            PersonFilter::All => "1",
            PersonFilter::Unnamed => "p.name IS NULL",
            PersonFilter::Named => "p.name IS NOT NULL",
            PersonFilter::External => "p.external = 1",
        };
        // LIKE with the user's text as data; % and _ in it match themselves.
        let text = q.text.map(str::trim).filter(|t| !t.is_empty()).map(|t| format!("%{}%", t.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
        let wher = format!("WHERE {filter} AND (?1 IS NULL OR p.name LIKE ?1 ESCAPE '\\' OR p.email LIKE ?1 ESCAPE '\\')");
        let total: i64 = self.conn.query_row(&format!("SELECT count(*) FROM persons p {wher}"), [&text], |r| r.get(0))?;
        let mut stmt = self.conn.prepare(&format!("{PERSON_SELECT} {wher} ORDER BY p.id LIMIT ?2 OFFSET ?3"))?;
        let rows = stmt.query_map(params![text, q.limit as i64, q.offset as i64], person_row)?;
        Ok((rows.collect::<rusqlite::Result<_>>()?, total as usize))
    }

    /// These persons (each once), for pages that show a few of many.
    pub fn persons_by_id(&self, ids: impl IntoIterator<Item = PersonId>) -> Result<std::collections::HashMap<PersonId, Person>> {
        let mut found = std::collections::HashMap::new();
        for id in ids {
            if !found.contains_key(&id) {
                found.insert(id, self.person(id)?);
            }
        }
        Ok(found)
    }

    /// The label of person `id` ("person 4 Ada Lovelace"), falling back to the bare number when
    /// the lookup fails.
    pub fn label_of(&self, id: PersonId) -> String {
        let name: Option<String> = self.conn.query_row("SELECT name FROM persons WHERE id = ?1", [id.0], |r| r.get(0)).ok().flatten();
        label(id, name.as_deref())
    }

    pub fn person(&self, id: PersonId) -> Result<Person> {
        self.conn
            .query_row(&format!("{PERSON_SELECT} WHERE p.id = ?1"), [id.0], person_row)
            .optional()?
            .ok_or_else(|| Error::Invalid(format!("no person {}", id.0)))
    }

    /// Sets a person's name and/or email; the person is then a human's, not the machine's.
    pub fn set_person_details(&mut self, id: PersonId, name: Option<&str>, email: Option<&str>) -> Result<()> {
        self.person(id)?;
        let tx = self.conn.transaction()?;
        if let Some(name) = name {
            tx.execute("UPDATE persons SET name = ?2, auto = 0 WHERE id = ?1", params![id.0, name])?;
        }
        if let Some(email) = email {
            tx.execute("UPDATE persons SET email = ?2, auto = 0 WHERE id = ?1", params![id.0, email])?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn person_faces(&self, id: PersonId) -> Result<Vec<PersonFace>> {
        let mut stmt = self.conn.prepare(
            "SELECT f.id, p.id, p.path, f.x0, f.y0, f.x1, f.y1, f.link, f.similarity, f.linked_by
             FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.person_id = ?1 ORDER BY f.id",
        )?;
        let rows = stmt.query_map([id.0], |r| {
            Ok(PersonFace {
                face_id: FaceId(r.get(0)?),
                photo_id: PhotoId(r.get(1)?),
                path: r.get(2)?,
                rect: Rect { x0: r.get(3)?, y0: r.get(4)?, x1: r.get(5)?, y1: r.get(6)? },
                link: r.get::<_, Option<String>>(7)?.as_deref().and_then(Link::parse).unwrap_or(Link::Suggested),
                similarity: r.get(8)?,
                linked_by: r.get::<_, Option<String>>(9)?.as_deref().and_then(LinkedBy::parse),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Faces linked to nobody.
    pub fn unassigned_faces(&self) -> Result<Vec<super::FaceRow>> {
        let ids: Vec<FaceId> = self
            .conn
            .prepare("SELECT id FROM faces WHERE person_id IS NULL ORDER BY id")?
            .query_map([], |r| Ok(FaceId(r.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?;
        self.faces(&ids)
    }

    /// Marks a person as external (known before any photo showed them) or not.
    pub fn set_external(&mut self, id: PersonId, external: bool) -> Result<()> {
        self.person(id)?;
        self.conn.execute("UPDATE persons SET external = ?2, auto = 0 WHERE id = ?1", params![id.0, external])?;
        Ok(())
    }

    /// The faces a human still has to decide, as (face, its person when suggested, box area):
    /// faces linked to nobody (possible faces among them) and suggested links.
    pub fn undecided_faces(&self) -> Result<Vec<(FaceId, Option<PersonId>, f32)>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, CASE WHEN link = 'suggested' THEN person_id END, (x1 - x0) * (y1 - y0) FROM faces
             WHERE person_id IS NULL OR link = 'suggested' ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| Ok((FaceId(r.get(0)?), r.get::<_, Option<i64>>(1)?.map(PersonId), r.get::<_, f64>(2)? as f32)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Puts faces' links back as they were (undoing a human's change). Faces gone since are
    /// skipped.
    pub fn restore_links(&mut self, states: &[FaceState]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for s in states {
            if current_exists(&tx, s.face)? {
                set_link(&tx, s.face, s.person, s.link, None, s.linked_by)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Moves every face of `from` into `into` and deletes `from`; `into` keeps its own name and
    /// email and takes `from`'s where it has none. Rejections of `from` carry over.
    pub fn merge_persons(&mut self, into: PersonId, from: PersonId) -> Result<usize> {
        if into == from {
            return Err(Error::Invalid("cannot merge a person with itself".into()));
        }
        let (a, b) = (self.person(into)?, self.person(from)?);
        let tx = self.conn.transaction()?;
        let moved = tx.execute("UPDATE faces SET person_id = ?1 WHERE person_id = ?2", params![into.0, from.0])?;
        tx.execute(
            "INSERT OR IGNORE INTO face_rejections (face_id, person_id) SELECT face_id, ?1 FROM face_rejections WHERE person_id = ?2",
            params![into.0, from.0],
        )?;
        tx.execute(
            "UPDATE persons SET name = ?2, email = ?3, external = ?4, auto = 0 WHERE id = ?1",
            params![into.0, a.name.or(b.name), a.email.or(b.email), a.external || b.external],
        )?;
        tx.execute("DELETE FROM persons WHERE id = ?1", [from.0])?;
        tx.commit()?;
        Ok(moved)
    }

    /// Links `faces` to `to` as confirmed by a human. Each face's previous person, if another,
    /// is recorded as rejected for it so the machine never puts it back.
    pub fn move_faces(&mut self, faces: &[FaceId], to: PersonId) -> Result<()> {
        self.person(to)?;
        let tx = self.conn.transaction()?;
        for &face in faces {
            let old = current_person(&tx, face)?;
            if let Some(old) = old.filter(|&p| p != to) {
                tx.execute("INSERT OR IGNORE INTO face_rejections (face_id, person_id) VALUES (?1, ?2)", params![face.0, old.0])?;
            }
            tx.execute("DELETE FROM face_rejections WHERE face_id = ?1 AND person_id = ?2", params![face.0, to.0])?;
            set_link(&tx, face, Some(to), Some(Link::Confirmed), None, Some(LinkedBy::Human))?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Makes a new person (a human's) from some faces of `from`.
    pub fn split_person(&mut self, from: PersonId, faces: &[FaceId]) -> Result<PersonId> {
        self.person(from)?;
        let tx = self.conn.transaction()?;
        for &face in faces {
            if current_person(&tx, face)? != Some(from) {
                return Err(Error::Invalid(format!("face {} is not a face of person {}", face.0, from.0)));
            }
        }
        let new = insert_person(&tx, None, None, false, false, &now_iso())?;
        for &face in faces {
            tx.execute("INSERT OR IGNORE INTO face_rejections (face_id, person_id) VALUES (?1, ?2)", params![face.0, from.0])?;
            set_link(&tx, face, Some(new), Some(Link::Confirmed), None, Some(LinkedBy::Human))?;
        }
        tx.commit()?;
        Ok(new)
    }

    /// A human confirms the faces' current links.
    pub fn confirm_faces(&mut self, faces: &[FaceId]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for &face in faces {
            let person = current_person(&tx, face)?
                .ok_or_else(|| Error::Invalid(format!("face {} has no person to confirm; use `face move`", face.0)))?;
            set_link(&tx, face, Some(person), Some(Link::Confirmed), None, Some(LinkedBy::Human))?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A human says the faces are not `person` (default: each face's current person): a face
    /// linked to that person is unlinked, a face linked to someone else keeps its link, and the
    /// machine never links the face to that person again (nor suggests it for them).
    pub fn reject_faces(&mut self, faces: &[FaceId], person: Option<PersonId>) -> Result<()> {
        if let Some(p) = person {
            self.person(p)?;
        }
        let tx = self.conn.transaction()?;
        for &face in faces {
            let current = current_person(&tx, face)?;
            let rejected = person.or(current).ok_or_else(|| {
                Error::Invalid(format!(
                    "face {} is linked to nobody; to reject it as a suggestion for a person, name the person: `face reject {} --person ID`",
                    face.0, face.0
                ))
            })?;
            tx.execute("INSERT OR IGNORE INTO face_rejections (face_id, person_id) VALUES (?1, ?2)", params![face.0, rejected.0])?;
            if current == Some(rejected) {
                set_link(&tx, face, None, None, None, None)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Embeddings of the given faces (those that exist), in the given order.
    pub fn face_vectors(&self, ids: &[FaceId]) -> Result<Vec<(FaceId, Vec<f32>)>> {
        let mut stmt = self.conn.prepare_cached("SELECT vector FROM embeddings WHERE face_id = ?1")?;
        let mut out = Vec::new();
        for &id in ids {
            if let Some(blob) = stmt.query_row([id.0], |r| r.get::<_, Vec<u8>>(0)).optional()? {
                out.push((id, super::blob_to_vector(&blob)));
            }
        }
        Ok(out)
    }
}

/// A `FaceState` from a row of (id, photo_id, person_id, link, linked_by).
fn current_exists(tx: &rusqlite::Transaction, face: FaceId) -> Result<bool> {
    Ok(tx.query_row("SELECT 1 FROM faces WHERE id = ?1", [face.0], |_| Ok(())).optional()?.is_some())
}

fn face_state(r: &rusqlite::Row) -> rusqlite::Result<FaceState> {
    Ok(FaceState {
        face: FaceId(r.get(0)?),
        photo: PhotoId(r.get(1)?),
        person: r.get::<_, Option<i64>>(2)?.map(PersonId),
        link: r.get::<_, Option<String>>(3)?.as_deref().and_then(Link::parse),
        linked_by: r.get::<_, Option<String>>(4)?.as_deref().and_then(LinkedBy::parse),
    })
}

fn insert_person(tx: &Transaction, name: Option<&str>, email: Option<&str>, external: bool, auto: bool, now: &str) -> Result<PersonId> {
    tx.execute(
        "INSERT INTO persons (name, email, external, auto, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, email, external, auto, now],
    )?;
    Ok(PersonId(tx.last_insert_rowid()))
}

/// The face's person; an error when the face does not exist.
fn current_person(tx: &Transaction, face: FaceId) -> Result<Option<PersonId>> {
    tx.query_row("SELECT person_id FROM faces WHERE id = ?1", [face.0], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .ok_or_else(|| Error::Invalid(format!("no face {}", face.0)))
        .map(|p| p.map(PersonId))
}

fn set_link(
    tx: &Transaction,
    face: FaceId,
    person: Option<PersonId>,
    link: Option<Link>,
    similarity: Option<f32>,
    by: Option<LinkedBy>,
) -> Result<()> {
    let n = tx.execute(
        "UPDATE faces SET person_id = ?2, link = ?3, similarity = ?4, linked_by = ?5 WHERE id = ?1",
        params![face.0, person.map(|p| p.0), link.map(Link::as_str), similarity, by.map(LinkedBy::as_str)],
    )?;
    if n == 0 {
        return Err(Error::Invalid(format!("no face {}", face.0)));
    }
    if let Some(p) = person {
        tx.execute("UPDATE persons SET auto = 0 WHERE id = ?1 AND ?2 = 'human'", params![p.0, by.map(LinkedBy::as_str)])?;
    }
    Ok(())
}

impl Store {
    /// One face per person to show them by: their first confirmed face, else their first face.
    pub fn cover_faces(&self, persons: &[PersonId]) -> Result<std::collections::HashMap<PersonId, FaceId>> {
        let mut stmt = self.conn.prepare(
            "SELECT coalesce((SELECT min(id) FROM faces WHERE person_id = ?1 AND link = 'confirmed'),
                             (SELECT min(id) FROM faces WHERE person_id = ?1))",
        )?;
        let mut covers = std::collections::HashMap::new();
        for &p in persons {
            if let Some(face) = stmt.query_row([p.0], |r| r.get::<_, Option<i64>>(0))? {
                covers.insert(p, FaceId(face));
            }
        }
        Ok(covers)
    }
}
