//! Photos and face crops as files for a signed-in user: crops and previews (any role that may
//! view; made and cached by `thumbs`), and the original file (a permission of its own, audited).
//! Always by id: nothing here takes a path from the user.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Actor, Permission};
use crate::error::{Error, Result};
use crate::store::{FaceId, PhotoId, Store};

/// The JPEG crop of a face; `None` when there is no such face.
pub fn face_thumb(library_dir: &Path, store: &mut Store, actor: &Actor, face: FaceId) -> Result<Option<Vec<u8>>> {
    actor.require(store, Permission::View, "face thumbnail", &[format!("face:{}", face.0)])?;
    crate::thumbs::face_thumb(library_dir, store, face)
}

/// The JPEG preview of a photo; `None` when there is no such photo.
pub fn photo_preview(library_dir: &Path, store: &mut Store, actor: &Actor, photo: PhotoId) -> Result<Option<Vec<u8>>> {
    actor.require(store, Permission::View, "photo preview", &[format!("photo:{}", photo.0)])?;
    crate::thumbs::photo_preview(library_dir, store, photo)
}

/// An original photo file as it was indexed, and its extension; `None` when there is no such
/// photo. A file changed since indexing is refused (it may show someone else). Audited.
pub fn original(store: &mut Store, actor: &Actor, photo: PhotoId) -> Result<Option<(Vec<u8>, String)>> {
    let subjects = [format!("photo:{}", photo.0)];
    actor.require(store, Permission::Download, "photo download", &subjects)?;
    let Some(row) = store.gate_photo_by_id(photo)? else { return Ok(None) };
    let path = crate::paths::path(&row.path);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    if hex::encode(Sha256::digest(&bytes)) != row.content_hash {
        return Err(Error::Invalid(format!("{}: changed on disk since it was indexed; run `facegate index` again", row.path)));
    }
    store.audit(&actor.name, "photo download", &subjects, "ok", None)?;
    let ext = path.extension().and_then(|e| e.to_str()).filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric())).unwrap_or("bin").to_ascii_lowercase();
    Ok(Some((bytes, ext)))
}
