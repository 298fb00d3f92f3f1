//! Test images (for tests of any crate): a camera-like JPEG with EXIF that turns it a
//! quarter, records a capture time and carries a GPS entry.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbImage};

/// A gradient picture.
pub fn picture(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])))
}

/// `img` encoded as `format`.
pub fn encoded(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// An EXIF APP1 segment (big-endian TIFF): `orientation`, DateTimeOriginal
/// 2025:07:14 09:30:00, and a GPS IFD: 12° 58' 12.34" N, 77° 35' 56" E, 920 m.
pub fn exif_segment(orientation: u16) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(b"MM\x00\x2a\x00\x00\x00\x08");
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        t.extend_from_slice(&tag.to_be_bytes());
        t.extend_from_slice(&kind.to_be_bytes());
        t.extend_from_slice(&count.to_be_bytes());
        t.extend_from_slice(&value);
    };
    // IFD0 at 8: orientation, Exif IFD at 50, GPS IFD at 88.
    t.extend_from_slice(&3u16.to_be_bytes());
    let o = orientation.to_be_bytes();
    entry(&mut t, 0x0112, 3, 1, [o[0], o[1], 0, 0]);
    entry(&mut t, 0x8769, 4, 1, 50u32.to_be_bytes());
    entry(&mut t, 0x8825, 4, 1, 88u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    // Exif IFD at 50: DateTimeOriginal, its text at 68.
    t.extend_from_slice(&1u16.to_be_bytes());
    entry(&mut t, 0x9003, 2, 20, 68u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(b"2025:07:14 09:30:00\0");
    // GPS IFD at 88: six entries, their rationals from 166.
    t.extend_from_slice(&6u16.to_be_bytes());
    entry(&mut t, 0x0001, 2, 2, [b'N', 0, 0, 0]);
    entry(&mut t, 0x0002, 5, 3, 166u32.to_be_bytes());
    entry(&mut t, 0x0003, 2, 2, [b'E', 0, 0, 0]);
    entry(&mut t, 0x0004, 5, 3, 190u32.to_be_bytes());
    entry(&mut t, 0x0005, 1, 1, [0, 0, 0, 0]);
    entry(&mut t, 0x0006, 5, 1, 214u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    for (num, den) in [(12u32, 1u32), (58, 1), (1234, 100), (77, 1), (35, 1), (5600, 100), (920, 1)] {
        t.extend_from_slice(&num.to_be_bytes());
        t.extend_from_slice(&den.to_be_bytes());
    }
    assert_eq!(t.len(), 222);
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((t.len() + 6 + 2) as u16).to_be_bytes());
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(&t);
    seg
}

/// `jpeg` with [`exif_segment`] right after its start marker.
pub fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend(exif_segment(orientation));
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A `w` × `h` JPEG as a camera held sideways writes it (orientation 6), with a
/// capture time and a GPS entry.
pub fn camera_jpeg(w: u32, h: u32) -> Vec<u8> {
    with_exif(&encoded(&picture(w, h), ImageFormat::Jpeg), 6)
}
