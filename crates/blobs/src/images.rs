//! [`Variants`]: the `ImageProcessor` port with the `image` crate (JPEG, PNG, WebP) and
//! `kamadak-exif`. It reads the EXIF orientation, capture time and whether a GPS
//! location is present (never the location itself), skipping malformed fields rather
//! than losing the rest, applies the orientation, and makes
//! the `large` (2048 px) and `thumb` (400 px) variants as fresh JPEGs: nothing of the
//! original's metadata is copied into them. Decoding runs on the blocking pool, within
//! limits that stop decompression bombs.

use std::io::Cursor;

use async_trait::async_trait;
use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use workvault_domain::images::{Derived, GeoPoint, ImageError, ImageProcessor};
use workvault_domain::photo::{ImageFacts, ImageType, Variant};

/// Largest side decoded, in pixels (a 64-megapixel camera is 9248 px wide).
pub const MAX_SIDE: u32 = 16_384;
/// Most memory a decode may take.
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;
/// Most pixels decoded (100 megapixels).
pub const MAX_PIXELS: u64 = 100_000_000;
/// JPEG quality of the variants.
const QUALITY: u8 = 85;

/// The image processor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Variants;

#[async_trait]
impl ImageProcessor for Variants {
    async fn process(&self, original: Bytes, kind: ImageType) -> Result<Derived, ImageError> {
        tokio::task::spawn_blocking(move || derive(&original, kind))
            .await
            .map_err(|e| ImageError::Unreadable(format!("the image worker stopped: {e}")))?
    }

    fn location(&self, head: &[u8]) -> Option<GeoPoint> {
        let exif = exif_of(head)?;
        let value = |tag| exif.get_field(tag, exif::In::PRIMARY).map(|f| &f.value);
        let degrees = |tag| match value(tag) {
            Some(exif::Value::Rational(v)) if v.len() >= 3 => {
                Some(v[0].to_f64() + v[1].to_f64() / 60.0 + v[2].to_f64() / 3600.0)
            }
            _ => None,
        };
        let sign = |tag, negative: u8| match value(tag) {
            Some(exif::Value::Ascii(v)) if v.first().and_then(|s| s.first()) == Some(&negative) => -1.0,
            _ => 1.0,
        };
        let latitude = degrees(exif::Tag::GPSLatitude)? * sign(exif::Tag::GPSLatitudeRef, b'S');
        let longitude = degrees(exif::Tag::GPSLongitude)? * sign(exif::Tag::GPSLongitudeRef, b'W');
        if !(latitude.is_finite() && longitude.is_finite() && latitude.abs() <= 90.0 && longitude.abs() <= 180.0) {
            return None;
        }
        let below = matches!(value(exif::Tag::GPSAltitudeRef), Some(exif::Value::Byte(v)) if v.first() == Some(&1));
        let altitude = match value(exif::Tag::GPSAltitude) {
            Some(exif::Value::Rational(v)) => v.first().map(|r| r.to_f64()).filter(|a| a.is_finite()),
            _ => None,
        }
        .map(|a| if below { -a } else { a });
        Some(GeoPoint { latitude, longitude, altitude })
    }
}

fn unreadable(e: impl std::fmt::Display) -> ImageError {
    ImageError::Unreadable(e.to_string())
}

/// What EXIF says, when there is any.
#[derive(Debug, Default)]
struct Exif {
    orientation: Option<u32>,
    taken_at: Option<chrono::NaiveDateTime>,
    has_location: bool,
}

/// The EXIF fields of an image, as many as can be read: a malformed field (a value
/// pointing past the data, a broken sub-IFD) is skipped, not the whole block.
fn exif_of(bytes: &[u8]) -> Option<exif::Exif> {
    match exif::Reader::new().continue_on_error(true).read_from_container(&mut Cursor::new(bytes)) {
        Ok(exif) => Some(exif),
        Err(exif::Error::PartialResult(partial)) => {
            let (exif, errors) = partial.into_inner();
            tracing::debug!(skipped = errors.len(), "EXIF read with malformed fields skipped");
            Some(exif)
        }
        Err(_) => None,
    }
}

fn read_exif(bytes: &[u8]) -> Exif {
    let Some(exif) = exif_of(bytes) else {
        return Exif::default();
    };
    let orientation = exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY).and_then(|f| f.value.get_uint(0));
    let taken_at = exif
        .get_field(exif::Tag::DateTimeOriginal, exif::In::PRIMARY)
        .and_then(|f| match &f.value {
            exif::Value::Ascii(parts) => parts.first().and_then(|p| std::str::from_utf8(p).ok()).map(str::to_owned),
            _ => None,
        })
        .and_then(|t| chrono::NaiveDateTime::parse_from_str(t.trim_end_matches('\0'), "%Y:%m:%d %H:%M:%S").ok());
    let has_location = exif.fields().any(|f| f.ifd_num == exif::In::PRIMARY && f.tag.context() == exif::Context::Gps);
    Exif { orientation, taken_at, has_location }
}

/// Decodes, orients and scales; runs on a blocking thread.
pub fn derive(bytes: &[u8], kind: ImageType) -> Result<Derived, ImageError> {
    let format = match kind {
        ImageType::Jpeg => image::ImageFormat::Jpeg,
        ImageType::Png => image::ImageFormat::Png,
        ImageType::Webp => image::ImageFormat::WebP,
        ImageType::Heic => return Err(unreadable("HEIC/HEIF images are kept as uploaded (no decoder in this build)")),
    };
    // The JPEG decoder fills a truncated file with grey; a cut-off file is not a photo.
    // (The end marker is looked for anywhere after the scan starts: motion photos carry
    // a video after it.)
    if kind == ImageType::Jpeg && !jpeg_complete(bytes) {
        return Err(unreadable("truncated JPEG (no end-of-image marker)"));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    // The decoded size is known from the header: refuse a bomb before allocating it.
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS || decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(unreadable(format!("{w} × {h} pixels is over the decoding limit")));
    }
    let exif = read_exif(bytes);
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let orientation =
        exif.orientation.and_then(|o| u8::try_from(o).ok()).and_then(Orientation::from_exif).unwrap_or(orientation);
    let mut img = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    img.apply_orientation(orientation);
    let facts = ImageFacts {
        width: img.width(),
        height: img.height(),
        taken_at: exif.taken_at,
        has_location: exif.has_location,
    };
    let large = encode(&scaled(&img, Variant::Large))?;
    let thumb = encode(&scaled(&img, Variant::Thumb))?;
    Ok(Derived { facts, large, thumb })
}

/// Whether a JPEG has its end-of-image marker after its first start-of-scan.
fn jpeg_complete(bytes: &[u8]) -> bool {
    let Some(scan) = bytes.windows(2).position(|w| w == [0xFF, 0xDA]) else { return false };
    bytes[scan..].windows(2).any(|w| w == [0xFF, 0xD9])
}

/// The image fitted within the variant's longest side (never enlarged).
fn scaled(img: &DynamicImage, variant: Variant) -> DynamicImage {
    let max = variant.max_side().unwrap_or(u32::MAX);
    if img.width() <= max && img.height() <= max {
        return img.clone();
    }
    let filter = if variant == Variant::Thumb { FilterType::Triangle } else { FilterType::CatmullRom };
    img.resize(max, max, filter)
}

/// A fresh baseline JPEG of the pixels alone (no EXIF, no ICC, no comments).
fn encode(img: &DynamicImage) -> Result<Bytes, ImageError> {
    let rgb = img.to_rgb8();
    let mut out = Vec::with_capacity(rgb.len() / 8);
    JpegEncoder::new_with_quality(&mut out, QUALITY).encode_image(&rgb).map_err(unreadable)?;
    Ok(Bytes::from(out))
}
