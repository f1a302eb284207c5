//! Hostile and broken photo files, made here from scratch: tiny headers that claim huge sizes, and
//! files cut short. Shared by the unit tests of `src/photo.rs` (through `#[path]`) and the
//! integration tests, so both exercise the same bytes.

#![allow(dead_code)]

use image::{ImageEncoder, RgbImage};

/// A 256×256 picture with detail everywhere, so its JPEG has a long entropy-coded scan.
pub fn texture() -> RgbImage {
    RgbImage::from_fn(256, 256, |x, y| image::Rgb([x as u8, y as u8, ((x * 7) ^ (y * 13)) as u8]))
}

pub fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(img).unwrap();
    out
}

pub fn png(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// A PNG of a few dozen bytes whose header claims `width`×`height` RGB pixels (IHDR, an empty
/// compressed IDAT, IEND; every chunk with its CRC, so the header is accepted).
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
    for (kind, data) in [(b"IHDR", ihdr.as_slice()), (b"IDAT", b"\x78\x9c\x03\x00\x00\x00\x00\x01"), (b"IEND", b"")] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut h = crc32fast::Hasher::new();
        h.update(kind);
        h.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&h.finalize().to_be_bytes());
    }
    out
}

/// A GIF of about 40 bytes whose screen and first frame claim `width`×`height`.
pub fn gif_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&[0x80, 0, 0]); // a global colour table of 2 entries
    out.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    out.push(0x2C); // image descriptor at (0, 0)
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.push(0);
    out.extend_from_slice(&[2, 2, 0x44, 0x01, 0]); // LZW code size 2, one tiny block
    out.push(0x3B);
    out
}

/// A 54-byte BMP (headers only) that claims `width`×`height` 24-bit pixels.
pub fn bmp_claiming(width: i32, height: i32) -> Vec<u8> {
    let mut out = b"BM".to_vec();
    out.extend_from_slice(&54u32.to_le_bytes()); // file size (a lie, like the rest)
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
    out.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(&[0; 24]); // no compression, sizes and palette unset
    out
}

/// A lossless WebP of about 30 bytes whose VP8L header claims `width`×`height` (each at most 16383).
pub fn webp_claiming(width: u32, height: u32) -> Vec<u8> {
    let bits = (width - 1) | ((height - 1) << 14);
    let mut vp8l = vec![0x2F];
    vp8l.extend_from_slice(&bits.to_le_bytes());
    vp8l.extend_from_slice(&[0; 8]);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(4 + 8 + vp8l.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WEBPVP8L");
    out.extend_from_slice(&(vp8l.len() as u32).to_le_bytes());
    out.extend_from_slice(&vp8l);
    out
}

/// A small real JPEG whose frame header (SOF0) is rewritten to claim `width`×`height`.
pub fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = jpeg(&RgbImage::from_pixel(16, 16, image::Rgb([90, 120, 150])));
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).expect("baseline JPEG has SOF0");
    bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    bytes
}

/// `jpeg` cut right after its scan header (SOS): every header, no image data.
pub fn jpeg_cut_after_header(jpeg: &[u8]) -> Vec<u8> {
    let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).expect("JPEG has a scan");
    let len = usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]));
    jpeg[..sos + 2 + len].to_vec()
}

/// `jpeg` with `n` bytes of its image data overwritten halfway between the first scan header
/// and the end marker, the length kept: the damage of a bad disk sector or a botched copy. The bytes are a fixed
/// pseudo-random run without `FF`, so no marker appears in the data: only the decoding of the
/// Huffman codes can go wrong, which zune-jpeg does without an error.
pub fn jpeg_overwritten_inside(jpeg: &[u8], n: usize) -> Vec<u8> {
    let start = jpeg_cut_after_header(jpeg).len();
    let end = jpeg.windows(2).rposition(|w| w == [0xFF, 0xD9]).expect("JPEG has an end marker");
    assert!(end - start > 2 * n, "the image data is too short to damage {n} bytes in its middle");
    let mut out = jpeg.to_vec();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let at = start + (end - start) / 2;
    for b in &mut out[at..at + n] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *b = (state % 255) as u8; // never FF
    }
    out
}
