//! Reading one photo file: which files are photos at all, decoding with the EXIF orientation
//! applied (so faces stand upright before detection), and the metadata we record (capture date,
//! camera). Every failure names the reason; the caller adds the path.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use serde::Serialize;

/// What a file found during a scan is, judged from its extension and, failing that, its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A format we decode.
    Photo,
    /// An image format we cannot decode (HEIC, RAW …): reported, since a photo of a person might
    /// hide in it.
    UnsupportedImage(&'static str),
    /// Anything else (text, sidecars, video): skipped.
    Other,
}

const SUPPORTED: &[ImageFormat] =
    &[ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP, ImageFormat::Tiff, ImageFormat::Bmp, ImageFormat::Gif];

/// Extensions of image formats that hold photos but that we do not decode.
const UNSUPPORTED_EXTENSIONS: &[(&str, &str)] = &[
    ("heic", "HEIC"), ("heif", "HEIF"), ("avif", "AVIF"), ("jxl", "JPEG XL"), ("jp2", "JPEG 2000"),
    ("psd", "Photoshop"), ("dng", "DNG raw"), ("cr2", "Canon raw"), ("cr3", "Canon raw"),
    ("nef", "Nikon raw"), ("arw", "Sony raw"), ("orf", "Olympus raw"), ("rw2", "Panasonic raw"),
    ("raf", "Fujifilm raw"), ("pef", "Pentax raw"), ("srw", "Samsung raw"), ("ico", "ICO"),
    ("svg", "SVG"), ("exr", "OpenEXR"), ("hdr", "Radiance HDR"), ("tga", "TGA"), ("qoi", "QOI"),
    ("pnm", "PNM"), ("ppm", "PPM"), ("pgm", "PGM"), ("dds", "DDS"),
];

/// Classifies by extension; `head` (the first bytes, read only when the extension says nothing)
/// catches photos saved without a photo extension.
pub fn classify(path: &Path, head: impl FnOnce() -> Option<Vec<u8>>) -> FileKind {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    if ImageFormat::from_extension(&ext).is_some_and(|f| SUPPORTED.contains(&f)) {
        return FileKind::Photo;
    }
    if let Some(&(_, name)) = UNSUPPORTED_EXTENSIONS.iter().find(|(e, _)| *e == ext) {
        return FileKind::UnsupportedImage(name);
    }
    match head().and_then(|bytes| image::guess_format(&bytes).ok()) {
        Some(f) if SUPPORTED.contains(&f) => FileKind::Photo,
        Some(_) => FileKind::UnsupportedImage("image format"),
        None => FileKind::Other,
    }
}

/// What we keep about a photo besides its faces.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PhotoInfo {
    /// Size after the EXIF orientation is applied.
    pub width: u32,
    pub height: u32,
    /// EXIF orientation tag (1 = upright).
    pub orientation: u8,
    /// DateTimeOriginal as ISO 8601 local time, when present.
    pub taken_at: Option<String>,
    /// "Make Model", when present.
    pub camera: Option<String>,
}

/// Decodes a photo held in memory, upright, as RGB.
pub fn decode(bytes: &[u8]) -> Result<(RgbImage, PhotoInfo), String> {
    if bytes.is_empty() {
        return Err("empty file (0 bytes)".into());
    }
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    match reader.format() {
        Some(f) if SUPPORTED.contains(&f) => {}
        Some(f) => return Err(format!("unsupported image format {f:?}")),
        None => return Err("not an image (unknown file signature)".into()),
    }
    let mut decoder = reader.into_decoder().map_err(|e| format!("cannot decode: {e}"))?;
    let orientation = decoder.orientation().map_err(|e| format!("cannot read orientation: {e}"))?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| format!("cannot decode: {e}"))?;
    image.apply_orientation(orientation);
    let rgb = image.into_rgb8();
    let (taken_at, camera) = exif_fields(bytes);
    let info = PhotoInfo {
        width: rgb.width(),
        height: rgb.height(),
        orientation: orientation.to_exif(),
        taken_at,
        camera,
    };
    Ok((rgb, info))
}

/// Capture date and camera from EXIF; missing or broken EXIF just gives `None`s (a partially
/// readable block still yields what it can).
fn exif_fields(bytes: &[u8]) -> (Option<String>, Option<String>) {
    let mut reader = exif::Reader::new();
    reader.continue_on_error(true);
    let exif = match reader
        .read_from_container(&mut Cursor::new(bytes))
        .or_else(|e| e.distill_partial_result(|_| {}))
    {
        Ok(exif) => exif,
        Err(_) => return (None, None),
    };
    let ascii = |tag| {
        let field = exif.get_field(tag, exif::In::PRIMARY)?;
        match &field.value {
            exif::Value::Ascii(parts) => parts
                .first()
                .map(|p| String::from_utf8_lossy(p).trim_matches(char::from(0)).trim().to_string())
                .filter(|s| !s.is_empty()),
            _ => None,
        }
    };
    let taken = ascii(exif::Tag::DateTimeOriginal).or_else(|| ascii(exif::Tag::DateTime)).and_then(|s| exif_date_to_iso(&s));
    let camera = match (ascii(exif::Tag::Make), ascii(exif::Tag::Model)) {
        (Some(make), Some(model)) if model.starts_with(&make) => Some(model),
        (Some(make), Some(model)) => Some(format!("{make} {model}")),
        (make, model) => make.or(model),
    };
    (taken, camera)
}

/// "2019:07:14 18:03:22" → "2019-07-14T18:03:22"; anything malformed → None.
pub fn exif_date_to_iso(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r.clone()).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let ok = b.len() >= 19
        && digits(0..4) && digits(5..7) && digits(8..10) && digits(11..13) && digits(14..16) && digits(17..19)
        && &s[0..4] != "0000";
    ok.then(|| format!("{}-{}-{}T{}", &s[0..4], &s[5..7], &s[8..10], &s[11..19]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_extension_then_signature() {
        let none = || None;
        assert_eq!(classify(Path::new("a/B.JPG"), none), FileKind::Photo);
        assert_eq!(classify(Path::new("x.webp"), none), FileKind::Photo);
        assert_eq!(classify(Path::new("x.HEIC"), none), FileKind::UnsupportedImage("HEIC"));
        assert_eq!(classify(Path::new("notes.txt"), || Some(b"hello".to_vec())), FileKind::Other);
        let png_head = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        assert_eq!(classify(Path::new("scan_without_ext"), || Some(png_head)), FileKind::Photo);
    }

    #[test]
    fn exif_dates_become_iso() {
        assert_eq!(exif_date_to_iso("2019:07:14 18:03:22").as_deref(), Some("2019-07-14T18:03:22"));
        assert_eq!(exif_date_to_iso("0000:00:00 00:00:00"), None);
        assert_eq!(exif_date_to_iso("garbage"), None);
    }

    #[test]
    fn bad_bytes_give_reasons() {
        assert!(decode(b"").unwrap_err().contains("empty"));
        assert!(decode(b"this is not an image at all").unwrap_err().contains("not an image"));
        // A PNG signature followed by nothing.
        assert!(decode(b"\x89PNG\r\n\x1a\n").unwrap_err().contains("cannot decode"));
    }

    /// Encodes a 4×2 JPEG with left half black, right half white, and an EXIF block with the given
    /// orientation, then checks the decoded image is turned upright.
    #[test]
    fn exif_orientation_is_applied_before_use() {
        let img = RgbImage::from_fn(4, 2, |x, _| if x < 2 { image::Rgb([0, 0, 0]) } else { image::Rgb([255, 255, 255]) });
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 100).encode_image(&img).unwrap();
        // Rotate 90° clockwise to view (EXIF 6): a 4×2 stored image shows as 2×4, black on top.
        let with_exif = insert_exif_orientation(&jpeg, 6);
        let (rgb, info) = decode(&with_exif).unwrap();
        assert_eq!(info.orientation, 6);
        assert_eq!((rgb.width(), rgb.height()), (2, 4));
        assert!(rgb.get_pixel(0, 0).0[0] < 60 && rgb.get_pixel(0, 3).0[0] > 200);
        let (plain, info) = decode(&jpeg).unwrap();
        assert_eq!((plain.width(), info.orientation), (4, 1));
    }

    /// Splices an APP1 Exif segment holding only an orientation tag after the JPEG's SOI marker.
    pub(crate) fn insert_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"II*\0");
        tiff.extend_from_slice(&8u32.to_le_bytes()); // IFD0 offset
        tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_le_bytes()); // count
        tiff.extend_from_slice(&orientation.to_le_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
        let mut payload = b"Exif\0\0".to_vec();
        payload.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(&jpeg[2..]);
        out
    }
}
