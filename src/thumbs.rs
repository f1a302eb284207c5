//! Cached face crops and photo previews, made on demand from the original photo and kept in the
//! library's `thumbs/` folder (mode 0700, files 0600, each written to a temporary file and renamed
//! into place). They are personal data like the photos: files are found by face or photo id
//! only, never by a path from outside, and erasure deletes a person's crops with [`forget`].
//!
//! A crop is made only from the content that was indexed: when the file on disk has changed
//! since, its boxes may not fit it, so nothing is made.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use image::RgbImage;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::{FaceId, PhotoId, Store};
use crate::vision::Rect;

pub const THUMBS_DIR: &str = "thumbs";
/// Long side of a face crop, pixels.
pub const FACE_PX: u32 = 160;
/// Long side of a photo preview, pixels.
pub const PREVIEW_PX: u32 = 1024;
/// Margin around a face box, as a share of the box's size on each side.
const FACE_MARGIN: f32 = 0.3;

pub fn cache_dir(library_dir: &Path) -> PathBuf {
    library_dir.join(THUMBS_DIR)
}

fn face_file(face: FaceId) -> String {
    format!("face-{}.jpg", face.0)
}

/// Previews are named by the content too, so that a photo indexed again under the same id gets a
/// new one.
fn preview_file(photo: PhotoId, sha256: &str) -> String {
    format!("photo-{}-{}.jpg", photo.0, &sha256[..sha256.len().min(16)])
}

/// The JPEG crop of a face, with a margin, at most [`FACE_PX`] on its long side; `None` when the
/// library has no such face.
pub fn face_thumb(library_dir: &Path, store: &Store, face: FaceId) -> Result<Option<Vec<u8>>> {
    let Some(row) = store.faces(&[face])?.into_iter().next() else { return Ok(None) };
    let file = cache_dir(library_dir).join(face_file(face));
    if let Ok(bytes) = std::fs::read(&file) {
        return Ok(Some(bytes));
    }
    let img = indexed_photo(store, row.photo_id)?;
    let bytes = face_crop(&img, &row.rect)?.ok_or_else(|| Error::Invalid(format!("face {} lies outside its photo", face.0)))?;
    write_atomically(library_dir, &file, &bytes)?;
    Ok(Some(bytes))
}

/// The JPEG crop of the face in `rect` of `img`, with a margin, at most [`FACE_PX`] on its long
/// side; `None` when the box lies outside the image. Also for photos that are not in the
/// library (a search's query photo), which are never cached.
pub fn face_crop(img: &RgbImage, r: &Rect) -> Result<Option<Vec<u8>>> {
    let (mx, my) = (FACE_MARGIN * r.width(), FACE_MARGIN * r.height());
    let clamp = |v: f32, max: u32| (v.round().max(0.0) as u32).min(max);
    let (x0, y0) = (clamp(r.x0 - mx, img.width()), clamp(r.y0 - my, img.height()));
    let (x1, y1) = (clamp(r.x1 + mx, img.width()), clamp(r.y1 + my, img.height()));
    if x1 <= x0 || y1 <= y0 {
        return Ok(None);
    }
    let crop = image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
    jpeg(&fit(crop, FACE_PX)).map(Some)
}

/// The crop of one face for a page outside the sign-in (the data subject's consent page): the
/// face with its margin, every other face of the photo that reaches into the crop painted over,
/// so that the page never shows anyone else. Never cached; `None` when there is no such face.
pub fn own_face(store: &Store, face: FaceId) -> Result<Option<Vec<u8>>> {
    let Some(row) = store.faces(&[face])?.into_iter().next() else { return Ok(None) };
    let mut img = indexed_photo(store, row.photo_id)?;
    for other in store.photo_faces(&row.path)?.into_iter().filter(|f| f.face_id != face) {
        let r = other.rect;
        let (x0, y0) = ((r.x0.floor().max(0.0) as u32).min(img.width()), (r.y0.floor().max(0.0) as u32).min(img.height()));
        let (x1, y1) = ((r.x1.ceil().max(0.0) as u32).min(img.width()), (r.y1.ceil().max(0.0) as u32).min(img.height()));
        for y in y0..y1 {
            for x in x0..x1 {
                img.put_pixel(x, y, image::Rgb([128, 128, 128]));
            }
        }
    }
    face_crop(&img, &row.rect)
}

/// The JPEG preview of `img`, at most [`PREVIEW_PX`] on its long side, and its size; for a photo
/// not in the library (never cached).
pub fn preview(img: RgbImage) -> Result<(Vec<u8>, (u32, u32))> {
    let small = fit(img, PREVIEW_PX);
    Ok((jpeg(&small)?, small.dimensions()))
}

/// The JPEG preview of a photo, upright, at most [`PREVIEW_PX`] on its long side; `None` when
/// the library has no such photo.
pub fn photo_preview(library_dir: &Path, store: &Store, photo: PhotoId) -> Result<Option<Vec<u8>>> {
    let Some(row) = store.gate_photo_by_id(photo)? else { return Ok(None) };
    let file = cache_dir(library_dir).join(preview_file(photo, &row.content_hash));
    if let Ok(bytes) = std::fs::read(&file) {
        return Ok(Some(bytes));
    }
    let (bytes, _) = preview(indexed_photo(store, photo)?)?;
    forget(library_dir, &[], &[photo])?; // previews of earlier content of this photo
    write_atomically(library_dir, &file, &bytes)?;
    Ok(Some(bytes))
}

/// Deletes the cached crops of these faces and the previews of these photos (for erasure).
/// Returns how many files were deleted; files that are not there are no error.
pub fn forget(library_dir: &Path, faces: &[FaceId], photos: &[PhotoId]) -> Result<usize> {
    let dir = cache_dir(library_dir);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(0) };
    let faces: std::collections::HashSet<String> = faces.iter().map(|f| face_file(*f)).collect();
    let prefixes: Vec<String> = photos.iter().map(|p| format!("photo-{}-", p.0)).collect();
    let mut deleted = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if faces.contains(&name) || prefixes.iter().any(|p| name.starts_with(p.as_str())) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// The photo as it was indexed, upright; an error when its file is gone or has changed.
fn indexed_photo(store: &Store, photo: PhotoId) -> Result<RgbImage> {
    let row = store.gate_photo_by_id(photo)?.ok_or_else(|| Error::Invalid(format!("no photo {}", photo.0)))?;
    let path = crate::paths::path(&row.path);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    if hex::encode(Sha256::digest(&bytes)) != row.content_hash {
        return Err(Error::Invalid(format!("{}: changed on disk since it was indexed; run `facegate index` again", row.path)));
    }
    let decoded = crate::photo::decode(&bytes, &store.photo_limits()?).map_err(|e| Error::bad_photo(&path, e.reason))?;
    Ok(decoded.rgb)
}

/// `img` shrunk so that its long side is at most `px` (never enlarged).
fn fit(img: RgbImage, px: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let scale = px as f32 / w.max(h) as f32;
    if scale >= 1.0 {
        return img;
    }
    let (tw, th) = (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
    image::imageops::thumbnail(&img, tw, th)
}

fn jpeg(img: &RgbImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(img)
        .map_err(|e| Error::Invalid(format!("encoding a thumbnail: {e}")))?;
    Ok(out)
}

/// Writes `file` (in the cache folder) through a temporary file and a rename, owner-only, so
/// that a reader never sees half of it.
fn write_atomically(library_dir: &Path, file: &Path, bytes: &[u8]) -> Result<()> {
    let dir = cache_dir(library_dir);
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(|e| Error::io(&dir, e))?;
    let tmp = dir.join(format!(".{}.tmp", crate::app::users::random_secret()));
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, file).map_err(|e| Error::io(file, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn forget_deletes_only_the_named_faces_and_photos() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["face-1.jpg", "face-12.jpg", "photo-3-abcdef.jpg", "photo-33-abcdef.jpg"] {
            write_atomically(dir.path(), &cache_dir(dir.path()).join(name), b"x").unwrap();
        }
        assert_eq!(forget(dir.path(), &[FaceId(1)], &[PhotoId(3)]).unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(cache_dir(dir.path())).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["face-12.jpg", "photo-33-abcdef.jpg"]);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&cache_dir(dir.path())), 0o700);
        assert_eq!(mode(&cache_dir(dir.path()).join("face-12.jpg")), 0o600);
        assert_eq!(forget(tempfile::tempdir().unwrap().path(), &[FaceId(1)], &[]).unwrap(), 0, "no cache folder yet");
    }

    #[test]
    fn previews_keep_their_shape_and_are_never_enlarged() {
        let big = fit(RgbImage::new(2048, 1024), PREVIEW_PX);
        assert_eq!(big.dimensions(), (1024, 512));
        assert_eq!(fit(RgbImage::new(100, 50), PREVIEW_PX).dimensions(), (100, 50));
    }
}
