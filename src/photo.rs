//! Reading one photo file: which files are photos at all, decoding with the EXIF orientation
//! applied (so faces stand upright before detection), and the metadata we record (capture date,
//! camera). Every failure names the reason; the caller adds the path.
//!
//! Hostile files: a few bytes of header can claim 100000×100000 pixels, and the decoders allocate
//! what the header claims. [`Limits`] caps the pixel count, checked against the header before
//! anything is allocated for the pixels, and from it the decoder's allocation and the file size,
//! so one photo in flight needs a bounded amount of memory ([`Limits::max_photo_bytes`]).
//! Truncated files: the PNG, GIF, WebP, TIFF and BMP decoders fail on missing pixel data, but
//! zune-jpeg (behind `image`) fills the rest of a cut JPEG with grey and reports nothing, so
//! [`decode`] checks for the end-of-image marker itself and reports such a photo as damaged.
//! It decodes a JPEG whose data is damaged inside (bytes overwritten, the length kept) without a
//! word either, so [`decode`] also walks the JPEG's entropy-coded data ([`crate::jpeg`]).

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

/// The default of [`Limits::max_pixels`], in megapixels: above the largest camera sensors in
/// common use (a 100 MP medium-format photo is 11648×8736 = 101.8 MP).
pub const DEFAULT_MAX_MEGAPIXELS: u64 = 120;

/// The most bytes a pixel takes in any decoder output we accept (16-bit RGBA).
const MAX_BYTES_PER_PIXEL: u64 = 8;

/// Room for metadata (EXIF, ICC, XMP, embedded previews) in a file on top of its pixels.
const FILE_SLACK: u64 = 64 << 20;

/// How large one photo may be. Everything else follows from the pixel count, so one setting
/// bounds the memory of a photo in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Largest width × height decoded.
    pub max_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::megapixels(DEFAULT_MAX_MEGAPIXELS)
    }
}

impl Limits {
    pub fn megapixels(mp: u64) -> Limits {
        Limits { max_pixels: mp.saturating_mul(1_000_000) }
    }

    /// The most the decoder may allocate for its output: the pixel limit at 16-bit RGBA.
    pub fn max_decode_bytes(&self) -> u64 {
        self.max_pixels.saturating_mul(MAX_BYTES_PER_PIXEL)
    }

    /// The largest file read: no photo within the pixel limit is bigger than its pixels
    /// uncompressed at 16-bit RGBA, plus metadata.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_decode_bytes().saturating_add(FILE_SLACK)
    }

    /// An upper bound of the memory one photo in flight needs, from reading the file to the image
    /// pyramid the detector samples, with F the file size and P the pixel count:
    /// - decoding: the file, the JPEG decoder's own copy of it, and the decoder's output (at most
    ///   8 bytes a pixel; a progressive JPEG also holds its coefficients, 6 bytes a pixel, beside
    ///   its 3-byte output): 2F + 9P;
    /// - conversion to 8-bit RGB: the output and the RGB image, F + 8P + 3P;
    /// - the EXIF rotation: two RGB images, F + 6P;
    /// - the image pyramid (the file is dropped by then): level 0 and a third of it, 4P.
    ///
    /// So 2F + 11P at most; a run holds at most one photo per worker. The check of a progressive
    /// JPEG's data afterwards (one bit per coefficient, at most 3/8 byte a pixel) runs beside the
    /// file and the RGB image only, below that peak.
    pub fn max_photo_bytes(&self) -> u64 {
        self.max_file_bytes().saturating_mul(2).saturating_add(self.max_pixels.saturating_mul(11))
    }

    /// The reason a photo of `width`×`height` is refused, if it is.
    fn refuse(&self, width: u32, height: u32) -> Option<Undecodable> {
        let pixels = u64::from(width) * u64::from(height);
        (pixels > self.max_pixels).then(|| Undecodable {
            reason: format!(
                "image is {width}×{height} ({}), over the limit of {}; not decoded (raise it with `index --max-megapixels`)",
                megapixels(pixels),
                megapixels(self.max_pixels)
            ),
            needs_pixels: Some(pixels),
        })
    }

    /// The reason a file of `size` bytes is not read, if it is not.
    pub fn refuse_file(&self, size: u64) -> Option<Undecodable> {
        (size > self.max_file_bytes()).then(|| Undecodable {
            reason: format!(
                "file is {} MiB, more than a photo within the limit of {} can be ({} MiB); not read (raise it with `index --max-megapixels`)",
                size >> 20,
                megapixels(self.max_pixels),
                self.max_file_bytes() >> 20
            ),
            needs_pixels: Some(size.saturating_sub(FILE_SLACK).div_ceil(MAX_BYTES_PER_PIXEL)),
        })
    }
}

fn megapixels(pixels: u64) -> String {
    format!("{:.1} megapixels", pixels as f64 / 1e6)
}

/// Why a file could not be decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct Undecodable {
    pub reason: String,
    /// When the size limits stopped it: the pixel limit that would let it through (a later run
    /// with a limit at least this high tries it again).
    pub needs_pixels: Option<u64>,
}

impl Undecodable {
    fn new(reason: impl std::fmt::Display) -> Undecodable {
        Undecodable { reason: one_line(reason), needs_pixels: None }
    }
}

impl std::fmt::Display for Undecodable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A decoder's message on one line, without the trailing newline some of them end with.
fn one_line(message: impl std::fmt::Display) -> String {
    message.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A decoded photo.
pub struct Decoded {
    pub rgb: RgbImage,
    pub info: PhotoInfo,
    /// Set when only part of the file decoded (a JPEG cut short): the faces found in that part
    /// are kept (they are personal data that a search for the person must find), but the photo
    /// is recorded as not indexed whole, which blocks it at the gate.
    pub damage: Option<String>,
}

/// Decodes a photo held in memory, upright, as RGB, within `limits`.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Decoded, Undecodable> {
    if bytes.is_empty() {
        return Err(Undecodable::new("empty file (0 bytes)"));
    }
    if let Some(refused) = limits.refuse_file(bytes.len() as u64) {
        return Err(refused);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(Undecodable::new)?;
    let format = match reader.format() {
        Some(f) if SUPPORTED.contains(&f) => f,
        Some(f) => return Err(Undecodable::new(format!("unsupported image format {f:?}"))),
        None => return Err(Undecodable::new("not an image (unknown file signature)")),
    };
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_alloc = Some(limits.max_decode_bytes());
    reader.limits(decoder_limits);
    let cannot = |e: image::ImageError| Undecodable::new(format!("cannot decode: {e}"));
    let mut decoder = reader.into_decoder().map_err(cannot)?;
    // The header's size, before the decoder allocates anything for the pixels.
    let (width, height) = decoder.dimensions();
    if let Some(refused) = limits.refuse(width, height) {
        return Err(refused);
    }
    if decoder.total_bytes() > limits.max_decode_bytes() {
        return Err(Undecodable {
            reason: format!(
                "image is {width}×{height} at {} bytes a pixel, more than the limit allows; not decoded",
                decoder.color_type().bytes_per_pixel()
            ),
            needs_pixels: Some(decoder.total_bytes().div_ceil(MAX_BYTES_PER_PIXEL)),
        });
    }
    let orientation = decoder.orientation().map_err(|e| Undecodable::new(format!("cannot read orientation: {e}")))?;
    // Convert first, then rotate: the rotated copy is of the 8-bit image, not of a 16-bit one.
    let mut image = DynamicImage::ImageRgb8(DynamicImage::from_decoder(decoder).map_err(cannot)?.into_rgb8());
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
    let damage = if format != ImageFormat::Jpeg {
        None
    } else if !jpeg_is_complete(bytes) {
        Some(
            "truncated: the JPEG ends before its end-of-image marker and only part of it decoded; \
             the faces found in that part are kept, and the photo is blocked until a whole copy is indexed"
                .to_string(),
        )
    } else {
        crate::jpeg::check_entropy_data(bytes).err().map(|why| {
            format!(
                "corrupt: the JPEG's image data is damaged inside ({why}), so part of it decoded as garbled blocks; \
                 the faces found are kept, and the photo is blocked until an intact copy is indexed"
            )
        })
    };
    Ok(Decoded { rgb, info, damage })
}

/// Whether a JPEG's image data runs to its end-of-image marker (EOI, `FF D9`). The marker
/// segments before the first scan are walked by their lengths (an EXIF thumbnail inside APP1 has
/// its own EOI, which must not count); after the scan header, `FF D9` cannot occur inside
/// entropy-coded data (an `FF` there is followed by `00` or a restart marker), so finding it
/// anywhere later means the data is complete. Bytes after the marker are allowed.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    const SOS: u8 = 0xDA;
    let mut i = 2; // after SOI
    while i + 1 < bytes.len() {
        if bytes[i] != 0xFF {
            return false; // not at a marker: corrupt before the first scan
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            i += 2; // markers without a length
            continue;
        }
        let Some(len) = bytes.get(i + 2..i + 4).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))) else {
            return false;
        };
        i += 2 + len;
        if marker == SOS {
            return bytes.get(i..).is_some_and(|rest| rest.windows(2).any(|w| w == [0xFF, 0xD9]));
        }
    }
    false
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

/// The hostile files the integration tests use too.
#[cfg(test)]
#[path = "../tests/it/hostile.rs"]
mod hostile;

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

    use super::hostile;

    fn reason(bytes: &[u8]) -> String {
        decode(bytes, &Limits::default()).err().expect("not decodable").reason
    }

    #[test]
    fn bad_bytes_give_reasons() {
        assert!(reason(b"").contains("empty"));
        assert!(reason(b"this is not an image at all").contains("not an image"));
        // A PNG signature followed by nothing.
        assert!(reason(b"\x89PNG\r\n\x1a\n").contains("cannot decode"));
    }

    /// zune-jpeg's messages end in a newline; a reason is one line.
    #[test]
    fn decoder_reasons_are_one_line() {
        let jpeg = hostile::jpeg(&hostile::texture());
        for cut in [20, 100, 330] {
            let r = reason(&jpeg[..cut]);
            assert!(r.starts_with("cannot decode") && !r.contains('\n') && r.trim_end() == r, "{r:?}");
        }
    }

    /// Regression: a 74-byte PNG claiming 100000×100000 aborted the run (an allocation of 30 GB
    /// failed); a GIF and a JPEG claiming 65535² took 4 and 8 GiB. Each is refused from its header.
    #[test]
    fn headers_claiming_huge_sizes_are_refused_before_anything_is_allocated() {
        for (bytes, pixels) in [
            (hostile::png_claiming(100_000, 100_000), 100_000u64 * 100_000),
            (hostile::gif_claiming(65535, 65535), 65535 * 65535),
            (hostile::jpeg_claiming(65500, 65500), 65500 * 65500),
            (hostile::bmp_claiming(60000, 60000), 60000 * 60000),
            (hostile::webp_claiming(16000, 16000), 16000 * 16000),
        ] {
            assert!(bytes.len() < 1000);
            let refused = decode(&bytes, &Limits::default()).err().expect("refused");
            assert!(refused.reason.contains("over the limit of 120.0 megapixels"), "{}", refused.reason);
            assert_eq!(refused.needs_pixels, Some(pixels));
        }
    }

    #[test]
    fn the_pixel_limit_is_checked_against_the_header_and_the_default_admits_100_megapixels() {
        let png = hostile::png(&hostile::texture());
        assert!(decode(&png, &Limits { max_pixels: 256 * 256 }).is_ok());
        let refused = decode(&png, &Limits { max_pixels: 256 * 256 - 1 }).err().unwrap();
        assert_eq!(refused.needs_pixels, Some(256 * 256));
        // A 100 MP medium-format camera photo, and the bound one such photo in flight needs.
        assert!(Limits::default().refuse(11648, 8736).is_none());
        assert!(Limits::default().refuse(11648, 2 * 8736).is_some());
        assert!(Limits::default().max_photo_bytes() < 4 << 30);
        let file = Limits { max_pixels: 1000 }.refuse_file(100 << 20).expect("too big to be such a photo");
        assert!(file.needs_pixels.unwrap() > 1000, "{file:?}");
    }

    /// Regression: a JPEG cut after its header, or after 1 KB, was indexed as a photo with no face.
    #[test]
    fn a_cut_jpeg_fails_or_is_marked_damaged() {
        let jpeg = hostile::jpeg(&hostile::texture());
        // zune-jpeg "decodes" even a file with no image data at all (grey), without an error.
        let no_data = hostile::jpeg_cut_after_header(&jpeg);
        for cut in [no_data.len(), 1024, jpeg.len() / 2, jpeg.len() - 2] {
            let partial = decode(&jpeg[..cut], &Limits::default()).expect("decodes partly");
            assert!(partial.damage.as_deref().is_some_and(|d| d.starts_with("truncated")), "cut at {cut}");
        }
        assert!(reason(&jpeg[..no_data.len() - 4]).starts_with("cannot decode"), "cut inside the headers");
        assert_eq!(decode(&jpeg, &Limits::default()).unwrap().damage, None);
        // Bytes after the end marker are common (and harmless).
        let trailing = [jpeg.as_slice(), b"trailing bytes"].concat();
        assert_eq!(decode(&trailing, &Limits::default()).unwrap().damage, None);
        // An end marker inside a metadata segment (an EXIF thumbnail) does not count.
        let app1 = [&[0xFF, 0xE1, 0, 8][..], b"Exif", &[0xFF, 0xD9]].concat();
        let with_thumb = [&jpeg[..2], app1.as_slice(), &jpeg[2..jpeg.len() / 2]].concat();
        assert!(decode(&with_thumb, &Limits::default()).unwrap().damage.is_some());
        // The other decoders fail on missing pixel data by themselves.
        let png = hostile::png(&hostile::texture());
        assert!(reason(&png[..png.len() / 2]).starts_with("cannot decode"));
    }

    /// Regression: a JPEG whose image data was overwritten inside (the length kept) decoded
    /// without an error and was indexed as a good photo.
    #[test]
    fn a_jpeg_damaged_inside_is_marked_damaged() {
        let jpeg = hostile::jpeg(&hostile::texture());
        for n in [16, 64, 256] {
            let damaged = hostile::jpeg_overwritten_inside(&jpeg, n);
            assert_eq!(damaged.len(), jpeg.len());
            let decoded = decode(&damaged, &Limits::default()).expect("zune-jpeg decodes it anyway");
            let why = decoded.damage.unwrap_or_else(|| panic!("{n} bytes overwritten, not noticed"));
            assert!(why.starts_with("corrupt: the JPEG's image data is damaged inside (scan 1: "), "{why}");
        }
        // The same picture intact, and the sample photos (from other encoders).
        assert_eq!(decode(&jpeg, &Limits::default()).unwrap().damage, None);
        for photo in ["grace_hopper.jpg", "grace_hopper_exif_orientation6.jpg", "solvay_1927_group_b.jpg", "eileen_collins_nasa_exif_orientation6.jpg"] {
            let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-images").join(photo)).unwrap();
            assert_eq!(decode(&bytes, &Limits::default()).unwrap().damage, None, "{photo}");
        }
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
        let Decoded { rgb, info, .. } = decode(&with_exif, &Limits::default()).unwrap();
        assert_eq!(info.orientation, 6);
        assert_eq!((rgb.width(), rgb.height()), (2, 4));
        assert!(rgb.get_pixel(0, 0).0[0] < 60 && rgb.get_pixel(0, 3).0[0] > 200);
        let Decoded { rgb: plain, info, .. } = decode(&jpeg, &Limits::default()).unwrap();
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
