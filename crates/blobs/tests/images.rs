//! Photo processing on real images: EXIF orientation applied, capture time read, a GPS
//! location noticed but never copied, variants scaled and stripped, bad images refused
//! without a panic.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use image::ImageFormat;
use workvault_blobs::Variants;
use workvault_blobs::testing::{encoded, picture, with_exif};
use workvault_domain::images::{ImageError, ImageProcessor};
use workvault_domain::photo::ImageType;

fn dims(bytes: &[u8]) -> (u32, u32) {
    let img = image::load_from_memory_with_format(bytes, ImageFormat::Jpeg).unwrap();
    (img.width(), img.height())
}

#[tokio::test]
async fn a_rotated_camera_photo_is_turned_upright_scaled_and_stripped() {
    let jpeg = with_exif(&encoded(&picture(3000, 1000), ImageFormat::Jpeg), 6);
    assert!(jpeg.windows(4).any(|w| w == b"Exif"), "the original carries EXIF");
    let out = Variants.process(Bytes::from(jpeg), ImageType::Jpeg).await.unwrap();
    // Orientation 6 turns it a quarter: 1000 wide, 3000 high.
    assert_eq!((out.facts.width, out.facts.height), (1000, 3000));
    assert_eq!(out.facts.taken_at.unwrap().to_string(), "2025-07-14 09:30:00");
    assert!(out.facts.has_location, "the location is noticed (and kept only in the original)");
    assert_eq!(dims(&out.large), (683, 2048));
    assert_eq!(dims(&out.thumb), (133, 400));
    for variant in [&out.large, &out.thumb] {
        assert_eq!(&variant[..2], &[0xFF, 0xD8]);
        assert!(!variant.windows(4).any(|w| w == b"Exif"), "no EXIF (so no location) in a variant");
    }
}

/// `jpeg` with an EXIF block (big-endian TIFF) whose first field is malformed (an
/// ImageDescription whose 40 bytes lie past the block's end), then orientation 6 and
/// an Exif IFD holding DateTimeOriginal 2024:02:29 23:59:58.
fn with_one_bad_exif_field(jpeg: &[u8]) -> Vec<u8> {
    let mut t = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        t.extend_from_slice(&tag.to_be_bytes());
        t.extend_from_slice(&kind.to_be_bytes());
        t.extend_from_slice(&count.to_be_bytes());
        t.extend_from_slice(&value);
    };
    // IFD0 at 8: the bad field, orientation, the Exif IFD at 50.
    t.extend_from_slice(&3u16.to_be_bytes());
    entry(&mut t, 0x010E, 2, 40, 0xFFFFu32.to_be_bytes());
    entry(&mut t, 0x0112, 3, 1, [0, 6, 0, 0]);
    entry(&mut t, 0x8769, 4, 1, 50u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    // Exif IFD at 50: DateTimeOriginal, its text at 68.
    t.extend_from_slice(&1u16.to_be_bytes());
    entry(&mut t, 0x9003, 2, 20, 68u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(b"2024:02:29 23:59:58\0");
    assert_eq!(t.len(), 88);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((t.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&t);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[tokio::test]
async fn one_malformed_exif_field_loses_only_itself_not_the_capture_time() {
    let jpeg = with_one_bad_exif_field(&encoded(&picture(300, 100), ImageFormat::Jpeg));
    let strict = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(&jpeg));
    assert!(strict.is_err(), "a strict reader refuses the whole block");
    let out = Variants.process(Bytes::from(jpeg), ImageType::Jpeg).await.unwrap();
    assert_eq!(out.facts.taken_at.unwrap().to_string(), "2024-02-29 23:59:58");
    assert_eq!((out.facts.width, out.facts.height), (100, 300), "the orientation is read too");
    assert!(!out.facts.has_location);
}

#[test]
fn the_location_is_read_from_the_original_only() {
    let jpeg = with_exif(&encoded(&picture(300, 200), ImageFormat::Jpeg), 1);
    let at = Variants.location(&jpeg).expect("a location");
    assert!((at.latitude - (12.0 + 58.0 / 60.0 + 12.34 / 3600.0)).abs() < 1e-9, "{at:?}");
    assert!((at.longitude - (77.0 + 35.0 / 60.0 + 56.0 / 3600.0)).abs() < 1e-9, "{at:?}");
    assert_eq!(at.altitude, Some(920.0));
    // The leading bytes are enough (the metadata comes first); a picture without any
    // has none; garbage has none.
    assert_eq!(Variants.location(&jpeg[..jpeg.len() / 2]), Some(at));
    assert_eq!(Variants.location(&encoded(&picture(30, 20), ImageFormat::Jpeg)), None);
    assert_eq!(Variants.location(b"\xFF\xD8\xFF\xE1garbage"), None);
}

#[tokio::test]
async fn small_pngs_and_webps_are_kept_at_their_size() {
    for (format, kind) in [(ImageFormat::Png, ImageType::Png), (ImageFormat::WebP, ImageType::Webp)] {
        let out = Variants.process(Bytes::from(encoded(&picture(300, 200), format)), kind).await.unwrap();
        assert_eq!((out.facts.width, out.facts.height), (300, 200));
        assert!(!out.facts.has_location);
        assert_eq!(out.facts.taken_at, None);
        assert_eq!(dims(&out.large), (300, 200), "never enlarged");
        assert_eq!(dims(&out.thumb), (300, 200));
    }
}

#[tokio::test]
async fn unreadable_images_are_refused_not_panicked_on() {
    let mut garbage = vec![0xFF, 0xD8, 0xFF, 0xE0];
    garbage.extend((0..5000).map(|i| (i * 7 % 256) as u8));
    let jpeg = encoded(&picture(400, 300), ImageFormat::Jpeg);
    let truncated = jpeg[..jpeg.len() / 3].to_vec();
    // A valid PNG header (CRC and all) claiming 12,000 × 12,000 pixels: a decompression
    // bomb, refused from its header before anything is allocated.
    let mut bomb = encoded(&picture(1, 1), ImageFormat::Png);
    bomb[16..20].copy_from_slice(&12_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&12_000u32.to_be_bytes());
    let crc = crc32fast::hash(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    for (name, bytes, kind, expect) in [
        ("garbage", garbage, ImageType::Jpeg, "end-of-image"),
        ("truncated", truncated, ImageType::Jpeg, "end-of-image"),
        ("bomb", bomb, ImageType::Png, "decoding limit"),
        ("heic", heic, ImageType::Heic, "HEIC"),
    ] {
        match Variants.process(Bytes::from(bytes), kind).await {
            Err(ImageError::Unreadable(why)) => assert!(why.contains(expect), "{name}: {why}"),
            Ok(_) => panic!("{name} was processed"),
        }
    }
    // A motion photo (a video after the image's end marker) is still a photo.
    let mut motion = jpeg.clone();
    motion.extend_from_slice(&[0u8; 8192]);
    motion.extend_from_slice(b"\0\0\0\x18ftypmp42");
    assert!(Variants.process(Bytes::from(motion), ImageType::Jpeg).await.is_ok());
}
