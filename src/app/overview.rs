//! What the persons page shows: every person with the face to show them by and their counts.

use serde::Serialize;

use super::{Actor, Permission};
use crate::error::Result;
use crate::store::{FaceId, PersonId, PersonQuery, Store};

#[derive(Clone, Debug, Serialize)]
pub struct PersonCard {
    pub id: PersonId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub external: bool,
    pub photos: usize,
    pub confirmed_faces: usize,
    pub suggested_faces: usize,
    /// Their first confirmed face, else their first face; none for a person known only by name.
    pub cover: Option<FaceId>,
}

/// One page of the persons grid (or of the merge choices), and how many persons pass the query.
pub fn persons(store: &mut Store, actor: &Actor, q: &PersonQuery) -> Result<(Vec<PersonCard>, usize)> {
    actor.require(store, Permission::View, "person list", &[])?;
    let (persons, total) = store.persons_page(q)?;
    let covers = store.cover_faces(&persons.iter().map(|p| p.id).collect::<Vec<_>>())?;
    let cards = persons
        .into_iter()
        .map(|p| PersonCard {
            id: p.id,
            cover: covers.get(&p.id).copied(),
            name: p.name,
            email: p.email,
            external: p.external,
            photos: p.photos,
            confirmed_faces: p.confirmed_faces,
            suggested_faces: p.suggested_faces,
        })
        .collect();
    Ok((cards, total))
}
