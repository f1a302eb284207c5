//! A person correcting the detector: a face it missed is drawn by hand (`face add`), a detection
//! that is no face is dismissed (`face dismiss`). Both are audited under the acting user and
//! survive re-indexing (`manual_faces`, `face_dismissals`).

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::library::Library;
use crate::store::{FaceId, PhotoId};
use crate::vision::{Face, FaceModels, Manifest, Origin, Pyramid, Rect};

/// Faces drawn smaller than this (either side, pixels) are refused: nothing can be recognised.
pub const MIN_MANUAL_FACE: f32 = 8.0;

/// Adds a face at `rect` to the indexed photo at `path`: embedded like any face (with the
/// landmarks the detector finds in the box, or placed for a frontal face), linked to nobody.
pub fn add_face(
    library: &mut Library,
    manifest: &Manifest,
    models: &mut FaceModels,
    path: &Path,
    rect: Rect,
    actor: &str,
) -> Result<(FaceId, PhotoId)> {
    let canonical = path.canonicalize().map_err(|e| Error::io(path, e))?;
    let key = crate::paths::key(&canonical);
    let photo = library
        .store
        .gate_photo(&key)?
        .ok_or_else(|| Error::Invalid(format!("{}: not in the library; index it first", path.display())))?;
    if let Some(e) = &photo.error {
        return Err(Error::Invalid(format!("{}: could not be indexed ({e}); fix the file and index it again", path.display())));
    }
    let bytes = std::fs::read(&canonical).map_err(|e| Error::io(path, e))?;
    if hex::encode(Sha256::digest(&bytes)) != photo.content_hash {
        return Err(Error::Invalid(format!("{}: changed since it was indexed; index it again first", path.display())));
    }
    let limits = library.store.photo_limits()?;
    let rgb = crate::photo::decode(&bytes, &limits).map_err(|why| Error::bad_photo(path, why.reason))?.rgb;
    let (w, h) = (rgb.width() as f32, rgb.height() as f32);
    let clipped = rect.clip(w, h);
    if rect.x0 >= rect.x1 || rect.y0 >= rect.y1 || clipped.width() < MIN_MANUAL_FACE || clipped.height() < MIN_MANUAL_FACE {
        return Err(Error::Invalid(format!(
            "--box must be X0,Y0,X1,Y1 with X0 < X1 and Y0 < Y1, at least {MIN_MANUAL_FACE} px each way inside the {w}×{h} photo"
        )));
    }
    let image = Pyramid::new(rgb, 16);
    let detection = models.manual_detection(&image, &clipped)?;
    let embedding = models.embedder.embed(&image, std::slice::from_ref(&detection))?.remove(0);
    let face = Face { detection, embedding, origin: Origin::Manual };
    let id = library.store.add_manual_face(photo.id, &face, &manifest.embedder.model.id, actor)?;
    let r = clipped;
    let detail = format!("box {:.0},{:.0},{:.0},{:.0}", r.x0, r.y0, r.x1, r.y1);
    library.store.audit(actor, "face add", &[format!("face:{}", id.0), format!("photo:{}", photo.id.0)], "ok", Some(&detail))?;
    Ok((id, photo.id))
}

/// Dismisses faces as not being faces; audited, one entry for all.
pub fn dismiss_faces(library: &mut Library, faces: &[FaceId], actor: &str) -> Result<Vec<(FaceId, PhotoId)>> {
    let dismissed = library.store.dismiss_faces(faces, actor)?;
    let subjects: Vec<String> = dismissed
        .iter()
        .flat_map(|(f, p)| [format!("face:{}", f.0), format!("photo:{}", p.0)])
        .collect();
    library.store.audit(actor, "face dismiss", &subjects, "ok", None)?;
    Ok(dismissed)
}
