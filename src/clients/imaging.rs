//! Stills: decode under limits, orient, write two JPEG renditions and a full-size copy without
//! private metadata.
//!
//! Every size a file claims is checked before anything is allocated for it: a PNG that says it
//! is 50,000 × 50,000 pixels is refused from its header, in microseconds, and a JPEG's segments
//! are walked first (`check_jpeg`): more than `max_scans` scans (each makes the decoder walk the
//! whole image again), or coefficients a progressive decode would hold past `max_alloc`, are
//! refused before a pixel is decoded. JPEGs are decoded at the smallest DCT scale (1, 1/2, 1/4
//! or 1/8) that still covers the large rendition, so a 12-megapixel photo is never held at full
//! size; other formats go through `image` with its allocation limit. The renditions are
//! re-encoded pixels only: EXIF (GPS included), XMP and ICC data never reach them. The full-size
//! copy (`full`) is the upload with its metadata dropped from the container, losslessly: only
//! the orientation (a minimal EXIF) and the colour profile stay.
//!
//! The decoders run in a child process (`clients::sandbox`) whose time and memory are limited
//! from outside: a decoder that ignores a limit is killed, not trusted.

use fast_image_resize as fir;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, RgbImage};
use std::io::Cursor;

/// The longest side of the large rendition (the item's `url`).
pub const LARGE: u32 = 1280;
/// The longest side of the small rendition (`thumbnailUrl`).
pub const SMALL: u32 = 320;
/// JPEG quality of the renditions.
const QUALITY: u8 = 82;

/// What a decode may take.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    /// Pixels of the image as stored (width × height).
    pub max_pixels: u64,
    /// Bytes the decoder may allocate.
    pub max_alloc: u64,
    /// Scans of a progressive JPEG.
    pub max_scans: u32,
}

/// A JPEG rendition.
#[derive(Debug)]
pub struct Rendition {
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

/// What an image became.
#[derive(Debug)]
pub struct Processed {
    /// The image's size as displayed (after orientation).
    pub width: u32,
    pub height: u32,
    /// The EXIF orientation that was applied (1 = none).
    pub orientation: u8,
    pub large: Rendition,
    pub small: Rendition,
    /// The upload without its metadata (same format, same pixels).
    pub full: Vec<u8>,
    /// What was decoded: the format and, for JPEG, the DCT scale's denominator.
    pub decoded: String,
}

/// Why an image was refused: said to its owner as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused(reason: impl Into<String>) -> Refused {
    Refused(reason.into())
}

fn too_large(width: u64, height: u64, limits: &ImageLimits) -> Refused {
    refused(format!(
        "the image is {width} × {height} pixels; at most {:.0} megapixels are accepted",
        limits.max_pixels as f64 / 1e6
    ))
}

/// The size of `(w, h)` fitted into a `side` × `side` box, never enlarged, at least 1 × 1.
pub fn fit(w: u32, h: u32, side: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= side {
        return (w.max(1), h.max(1));
    }
    let scale = f64::from(side) / f64::from(long);
    (
        ((f64::from(w) * scale).round() as u32).clamp(1, side),
        ((f64::from(h) * scale).round() as u32).clamp(1, side),
    )
}

/// Decodes `bytes` (of `content_type`), orients it and makes both renditions. CPU-bound: run it
/// on a blocking thread. A panic inside a decoder is caught and reported as a refusal.
pub fn process(
    bytes: &[u8],
    content_type: &str,
    limits: &ImageLimits,
) -> Result<Processed, Refused> {
    match std::panic::catch_unwind(|| process_inner(bytes, content_type, limits)) {
        Ok(result) => result,
        Err(_) => Err(refused("the image could not be read (the decoder failed)")),
    }
}

fn process_inner(
    bytes: &[u8],
    content_type: &str,
    limits: &ImageLimits,
) -> Result<Processed, Refused> {
    let (rgb, orientation, decoded) = match content_type {
        "image/jpeg" => {
            check_jpeg(bytes, limits)?;
            decode_jpeg(bytes, limits)?
        }
        "image/png" => decode_with_image(bytes, image::ImageFormat::Png, limits)?,
        "image/webp" => decode_with_image(bytes, image::ImageFormat::WebP, limits)?,
        other => return Err(refused(format!("{other} is not an image type"))),
    };
    let (stored_w, stored_h) = (rgb.full_width, rgb.full_height);
    let large = rendition(&rgb, LARGE, orientation)?;
    let small = rendition(&rgb, SMALL, orientation)?;
    let turned = matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    let (width, height) = if turned {
        (stored_h, stored_w)
    } else {
        (stored_w, stored_h)
    };
    let full = strip_metadata(bytes, content_type, orientation.to_exif())?;
    Ok(Processed {
        width,
        height,
        orientation: orientation.to_exif(),
        large,
        small,
        full,
        decoded,
    })
}

/// What a JPEG's segments say before any of it is decoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JpegLayout {
    pub width: u32,
    pub height: u32,
    pub progressive: bool,
    /// Start-of-scan segments.
    pub scans: u32,
    /// Bytes of DCT coefficients a progressive decode holds (every block of every component).
    pub coefficient_bytes: u64,
}

/// Walks a JPEG's markers (linear in its size, nothing decoded): the frame header and the
/// scans. Stops counting scans at `max_scans + 1`.
pub fn jpeg_layout(bytes: &[u8], max_scans: u32) -> Result<JpegLayout, Refused> {
    let truncated = || refused("the JPEG is truncated");
    if bytes.len() < 4 || bytes[..2] != [0xFF, 0xD8] {
        return Err(refused("the file is not a JPEG"));
    }
    let mut layout = JpegLayout::default();
    let mut i = 2;
    loop {
        // The next marker: 0xFF, any fill bytes, then its code.
        while bytes.get(i).is_some_and(|&b| b != 0xFF) {
            i += 1;
        }
        while bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else {
            return Ok(layout);
        };
        i += 1;
        match marker {
            0xD9 => return Ok(layout),
            0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([
            *bytes.get(i).ok_or_else(truncated)?,
            *bytes.get(i + 1).ok_or_else(truncated)?,
        ]));
        let segment = bytes.get(i + 2..i + len.max(2)).ok_or_else(truncated)?;
        match marker {
            // Start of frame (not DHT 0xC4, JPG 0xC8, DAC 0xCC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                layout.progressive = matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
                frame(segment, &mut layout).ok_or_else(truncated)?;
            }
            0xDA => {
                layout.scans += 1;
                if layout.scans > max_scans {
                    return Ok(layout);
                }
            }
            _ => {}
        }
        i += len.max(2);
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a
            // restart marker.
            while i + 1 < bytes.len() {
                if bytes[i] == 0xFF && bytes[i + 1] != 0 && !(0xD0..=0xD7).contains(&bytes[i + 1]) {
                    break;
                }
                i += 1;
            }
        }
    }
}

/// Reads a frame header into `layout`: size, and the coefficients every block of every
/// component takes (blocks padded to whole MCUs, 64 coefficients of 2 bytes each).
fn frame(segment: &[u8], layout: &mut JpegLayout) -> Option<()> {
    let height = u32::from(u16::from_be_bytes([*segment.get(1)?, *segment.get(2)?]));
    let width = u32::from(u16::from_be_bytes([*segment.get(3)?, *segment.get(4)?]));
    let count = usize::from(*segment.get(5)?);
    let components: Vec<(u32, u32)> = (0..count)
        .map(|c| {
            let sampling = *segment.get(6 + c * 3 + 1)?;
            Some((
                u32::from(sampling >> 4).max(1),
                u32::from(sampling & 15).max(1),
            ))
        })
        .collect::<Option<_>>()?;
    let h_max = components.iter().map(|c| c.0).max().unwrap_or(1);
    let v_max = components.iter().map(|c| c.1).max().unwrap_or(1);
    let mcus_x = u64::from(width.div_ceil(8 * h_max));
    let mcus_y = u64::from(height.div_ceil(8 * v_max));
    layout.width = width;
    layout.height = height;
    layout.coefficient_bytes = components
        .iter()
        .map(|&(h, v)| mcus_x * u64::from(h) * mcus_y * u64::from(v) * 64 * 2)
        .sum();
    Some(())
}

/// Refuses a JPEG whose decoding would cost more than `limits` allow, from its segments alone.
pub fn check_jpeg(bytes: &[u8], limits: &ImageLimits) -> Result<JpegLayout, Refused> {
    let layout = jpeg_layout(bytes, limits.max_scans)?;
    if layout.scans > limits.max_scans {
        return Err(refused(format!(
            "the JPEG has more than {} scans; at most {} are accepted",
            limits.max_scans, limits.max_scans
        )));
    }
    if u64::from(layout.width) * u64::from(layout.height) > limits.max_pixels {
        return Err(too_large(layout.width.into(), layout.height.into(), limits));
    }
    if layout.progressive && layout.coefficient_bytes > limits.max_alloc {
        return Err(refused(format!(
            "the progressive JPEG needs {} MiB to decode; at most {} MiB are allowed",
            layout.coefficient_bytes >> 20,
            limits.max_alloc >> 20
        )));
    }
    Ok(layout)
}

/// A minimal EXIF block (TIFF, big-endian) holding only the orientation.
fn orientation_exif(orientation: u8) -> Vec<u8> {
    let mut tiff = b"MM\0\x2A\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes());
    // Orientation (0x0112), SHORT (3), one value, left-justified in the 4-byte field.
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0]);
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    tiff
}

/// The upload with its metadata dropped from the container: EXIF (GPS included), XMP, IPTC,
/// comments and other application segments or text chunks go; the pixels, the colour profile
/// and (as a minimal EXIF) the orientation stay.
pub fn strip_metadata(
    bytes: &[u8],
    content_type: &str,
    orientation: u8,
) -> Result<Vec<u8>, Refused> {
    use img_parts::{Bytes, ImageEXIF};
    let unreadable =
        |e: img_parts::Error| refused(format!("the image's container could not be read: {e}"));
    let exif = (orientation > 1).then(|| Bytes::from(orientation_exif(orientation)));
    let mut out = Vec::with_capacity(bytes.len());
    let written = match content_type {
        "image/jpeg" => {
            let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(Bytes::copy_from_slice(bytes))
                .map_err(unreadable)?;
            jpeg.segments_mut()
                .retain(|s| keep_jpeg_segment(s.marker(), s.contents()));
            jpeg.set_exif(exif);
            jpeg.encoder().write_to(&mut out)
        }
        "image/png" => {
            let mut png = img_parts::png::Png::from_bytes(Bytes::copy_from_slice(bytes))
                .map_err(unreadable)?;
            png.chunks_mut().retain(|c| keep_png_chunk(c.kind()));
            png.set_exif(exif);
            png.encoder().write_to(&mut out)
        }
        "image/webp" => {
            let mut webp = img_parts::webp::WebP::from_bytes(Bytes::copy_from_slice(bytes))
                .map_err(unreadable)?;
            webp.remove_chunks_by_id(*b"XMP ");
            webp.set_exif(exif);
            webp.encoder().write_to(&mut out)
        }
        other => return Err(refused(format!("{other} is not an image type"))),
    };
    written.map_err(|e| refused(format!("the image could not be written again: {e}")))?;
    Ok(out)
}

/// JPEG segments a stripped copy keeps: everything the decoder needs (tables, frames, scans),
/// JFIF, Adobe's colour transform and the ICC profile; not EXIF/XMP (APP1), IPTC, comments or
/// other application data.
fn keep_jpeg_segment(marker: u8, contents: &[u8]) -> bool {
    match marker {
        0xE0 | 0xEE => true,
        0xE2 => contents.starts_with(b"ICC_PROFILE\0"),
        0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
        _ => true,
    }
}

/// PNG chunks a stripped copy keeps: the critical ones and those that say how to show the
/// pixels; not text, time or EXIF chunks, nor anything unknown.
fn keep_png_chunk(kind: [u8; 4]) -> bool {
    matches!(
        &kind,
        b"IHDR"
            | b"PLTE"
            | b"IDAT"
            | b"IEND"
            | b"tRNS"
            | b"iCCP"
            | b"sRGB"
            | b"gAMA"
            | b"cHRM"
            | b"sBIT"
            | b"pHYs"
            | b"acTL"
            | b"fcTL"
            | b"fdAT"
    )
}

/// Decoded RGB pixels, possibly at a reduced scale, with the size of the image as stored.
struct Pixels {
    data: Vec<u8>,
    width: u32,
    height: u32,
    full_width: u32,
    full_height: u32,
}

fn decode_jpeg(
    bytes: &[u8],
    limits: &ImageLimits,
) -> Result<(Pixels, Orientation, String), Refused> {
    let unreadable = |e: jpeg_decoder::Error| refused(format!("the JPEG could not be read: {e}"));
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(unreadable)?;
    let Some(info) = decoder.info() else {
        return Err(refused("the JPEG has no image header"));
    };
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(too_large(w.into(), h.into(), limits));
    }
    if w == 0 || h == 0 {
        return Err(refused("the JPEG has no pixels"));
    }
    decoder.set_max_decoding_buffer_size(usize::try_from(limits.max_alloc).unwrap_or(usize::MAX));
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    // The smallest DCT scale whose output still covers the large rendition.
    let (want_w, want_h) = fit(w, h, LARGE);
    let (out_w, out_h) = decoder
        .scale(want_w as u16, want_h as u16)
        .map_err(unreadable)?;
    let data = decoder.decode().map_err(unreadable)?;
    let Some(info) = decoder.info() else {
        return Err(refused("the JPEG has no image header"));
    };
    let (out_w, out_h) = (u32::from(out_w), u32::from(out_h));
    let pixels = (out_w as usize) * (out_h as usize);
    let data = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => data,
        jpeg_decoder::PixelFormat::L8 => data.iter().flat_map(|&l| [l, l, l]).collect(),
        jpeg_decoder::PixelFormat::CMYK32 => data
            .chunks_exact(4)
            .flat_map(|p| {
                // Adobe's CMYK JPEGs store inverted values: each channel times K.
                let k = u16::from(p[3]);
                [0, 1, 2].map(|i| ((u16::from(p[i]) * k) / 255) as u8)
            })
            .collect(),
        jpeg_decoder::PixelFormat::L16 => {
            return Err(refused("16-bit JPEGs are not accepted"));
        }
    };
    if data.len() < pixels * 3 {
        return Err(refused("the JPEG's pixels are incomplete"));
    }
    let scale = (w / out_w.max(1)).max(1);
    Ok((
        Pixels {
            data,
            width: out_w,
            height: out_h,
            full_width: w,
            full_height: h,
        },
        orientation,
        format!("jpeg 1/{scale}"),
    ))
}

fn decode_with_image(
    bytes: &[u8],
    format: image::ImageFormat,
    limits: &ImageLimits,
) -> Result<(Pixels, Orientation, String), Refused> {
    let unreadable = |e: image::ImageError| refused(format!("the image could not be read: {e}"));
    let mut reader = image::ImageReader::new(Cursor::new(bytes));
    reader.set_format(format);
    let mut decode_limits = image::Limits::default();
    decode_limits.max_alloc = Some(limits.max_alloc);
    let side = u32::try_from(limits.max_pixels).unwrap_or(u32::MAX);
    decode_limits.max_image_width = Some(side);
    decode_limits.max_image_height = Some(side);
    reader.limits(decode_limits);
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(too_large(w.into(), h.into(), limits));
    }
    // `into_decoder` does not hold the decoder to `max_alloc`: check what it will need.
    if decoder.total_bytes() > limits.max_alloc {
        return Err(too_large(w.into(), h.into(), limits));
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    let rgb = flatten(image);
    Ok((
        Pixels {
            width: rgb.width(),
            height: rgb.height(),
            full_width: w,
            full_height: h,
            data: rgb.into_raw(),
        },
        orientation,
        format!("{format:?}").to_ascii_lowercase(),
    ))
}

/// RGB pixels, transparency laid over white.
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = Vec::with_capacity(w as usize * h as usize * 3);
    for p in rgba.pixels() {
        let a = u16::from(p[3]);
        for c in &p.0[..3] {
            out.push(((u16::from(*c) * a + 255 * (255 - a)) / 255) as u8);
        }
    }
    match RgbImage::from_raw(w, h, out) {
        Some(rgb) => rgb,
        None => unreachable!("three bytes a pixel"),
    }
}

/// The rendition whose longest displayed side is at most `side`.
fn rendition(pixels: &Pixels, side: u32, orientation: Orientation) -> Result<Rendition, Refused> {
    // Fit against the size as stored; orientation turns the result afterwards.
    let (w, h) = fit(pixels.full_width, pixels.full_height, side);
    let (w, h) = (w.min(pixels.width), h.min(pixels.height));
    let resized = if (w, h) == (pixels.width, pixels.height) {
        pixels.data[..(w as usize * h as usize * 3)].to_vec()
    } else {
        let src = fir::images::ImageRef::new(
            pixels.width,
            pixels.height,
            &pixels.data,
            fir::PixelType::U8x3,
        )
        .map_err(|e| refused(format!("the image could not be resized: {e}")))?;
        let mut dst = fir::images::Image::new(w, h, fir::PixelType::U8x3);
        let options = fir::ResizeOptions::new()
            .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::CatmullRom));
        fir::Resizer::new()
            .resize(&src, &mut dst, &options)
            .map_err(|e| refused(format!("the image could not be resized: {e}")))?;
        dst.into_vec()
    };
    let Some(rgb) = RgbImage::from_raw(w, h, resized) else {
        return Err(refused("the image could not be resized"));
    };
    let mut image = DynamicImage::ImageRgb8(rgb);
    image.apply_orientation(orientation);
    let rgb = image.into_rgb8();
    let (w, h) = rgb.dimensions();
    let mut jpeg = Vec::with_capacity(w as usize * h as usize / 4);
    let encoder = jpeg_encoder::Encoder::new(&mut jpeg, QUALITY);
    encoder
        .encode(
            rgb.as_raw(),
            w as u16,
            h as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .map_err(|e| refused(format!("the rendition could not be written: {e}")))?;
    Ok(Rendition {
        width: w,
        height: h,
        jpeg,
    })
}

/// The size of a JPEG from its header (poster frames), without decoding it.
pub fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    Some((info.width.into(), info.height.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ImageLimits = ImageLimits {
        max_pixels: 50_000_000,
        max_alloc: 512 << 20,
        max_scans: 100,
    };

    fn png(w: u32, h: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(image)
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("png");
        out.into_inner()
    }

    #[test]
    fn sizes_fit_their_box_without_growing() {
        assert_eq!(fit(4000, 3000, 1280), (1280, 960));
        assert_eq!(fit(3000, 4000, 320), (240, 320));
        assert_eq!(fit(100, 50, 320), (100, 50));
        assert_eq!(fit(10_000, 1, 320), (320, 1));
    }

    #[test]
    fn a_png_becomes_two_jpeg_renditions() {
        let out = process(&png(2000, 1000), "image/png", &LIMITS).expect("processed");
        assert_eq!((out.width, out.height), (2000, 1000));
        assert_eq!((out.large.width, out.large.height), (1280, 640));
        assert_eq!((out.small.width, out.small.height), (320, 160));
        assert_eq!(jpeg_size(&out.large.jpeg), Some((1280, 640)));
        assert_eq!(&out.small.jpeg[..2], &[0xFF, 0xD8]);
    }

    /// CRC-32 (ISO-HDLC), as PNG chunks carry it.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_claimed_size_over_the_limit_is_refused_from_the_header() {
        // A valid header (its CRC fixed) saying 50,000 × 50,000: refused before any allocation.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&50_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&50_000u32.to_be_bytes());
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        let started = std::time::Instant::now();
        let err = process(&bomb, "image/png", &LIMITS).expect_err("refused");
        assert!(err.0.contains("50000 × 50000"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        let mut truncated = png(300, 300);
        truncated.truncate(200);
        assert!(process(&truncated, "image/png", &LIMITS).is_err());
        assert!(process(b"\xFF\xD8\xFF\xE0 not really", "image/jpeg", &LIMITS).is_err());
        assert!(process(b"", "image/webp", &LIMITS).is_err());
    }
}
