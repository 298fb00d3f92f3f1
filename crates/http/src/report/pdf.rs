//! A report as a printable PDF (A4), written while it is sent: the title page (title,
//! date, notes) and then one page per photo, its `large` variant embedded as it is
//! stored (a JPEG, `DCTDecode`: no re-encoding) and streamed from the blob store into
//! the response, never held whole. pdf-writer makes the objects; the file's
//! cross-reference table is written here from the offsets of what was sent.

use std::io;

use actix_web::HttpResponse;
use actix_web::http::header;
use bytes::{Bytes, BytesMut};
use futures_channel::mpsc::Sender;
use futures_util::{SinkExt, StreamExt};
use pdf_writer::writers::{Catalog, DocumentInfo};
use pdf_writer::{Chunk, Content, Finish, Name, Rect, Ref, Str, TextStr};
use workvault_domain::Workvault;
use workvault_domain::photo::Variant;
use workvault_domain::report::ReportEntry;
use workvault_domain::service::ReportView;

use super::fonts::{Face, encode, width, wrap};

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 50.0;
const TEXT_W: f32 = PAGE_W - 2.0 * MARGIN;
const FOOTER_Y: f32 = 30.0;
/// Caption lines shown under a photo at most (the HTML rendering shows it whole).
const CAPTION_LINES: usize = 10;
/// How far into a JPEG its frame header (size and components) may be looked for.
const HEAD_LIMIT: usize = 256 * 1024;

const CATALOG: Ref = Ref::new(1);
const PAGES: Ref = Ref::new(2);
const REGULAR: Ref = Ref::new(3);
const BOLD: Ref = Ref::new(4);
const INFO: Ref = Ref::new(5);
const FIRST_FREE: i32 = 6;

/// The body was cut: the client went away, or a photo could not be read midway.
#[derive(Debug)]
pub(crate) struct Cut;

/// Sends the bytes of the file and remembers where each object starts.
struct Writer {
    tx: Sender<Result<Bytes, io::Error>>,
    sent: u64,
    offsets: Vec<Option<u64>>,
    next: i32,
}

impl Writer {
    fn alloc(&mut self) -> Ref {
        let id = Ref::new(self.next);
        self.next += 1;
        id
    }

    async fn send(&mut self, bytes: Bytes) -> Result<(), Cut> {
        self.sent += bytes.len() as u64;
        self.tx.send(Ok(bytes)).await.map_err(|_| Cut)
    }

    fn mark(&mut self, id: Ref) {
        let index = usize::try_from(id.get()).unwrap_or(0);
        if self.offsets.len() <= index {
            self.offsets.resize(index + 1, None);
        }
        self.offsets[index] = Some(self.sent);
    }

    /// Sends a chunk holding exactly the object `id`.
    async fn object(&mut self, id: Ref, chunk: Chunk) -> Result<(), Cut> {
        self.mark(id);
        self.send(Bytes::copy_from_slice(chunk.as_bytes())).await
    }

    /// The cross-reference table and trailer: every object from 1 up, in order.
    async fn finish(mut self) -> Result<(), Cut> {
        let xref = self.sent;
        let count = self.offsets.len().max(1);
        let mut tail = format!("xref\n0 {count}\n0000000000 65535 f\r\n");
        for offset in self.offsets.iter().skip(1) {
            match offset {
                Some(at) => tail.push_str(&format!("{at:010} 00000 n\r\n")),
                None => tail.push_str("0000000000 65535 f\r\n"),
            }
        }
        let (root, info) = (CATALOG.get(), INFO.get());
        tail.push_str(&format!(
            "trailer\n<< /Size {count} /Root {root} 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n"
        ));
        self.send(Bytes::from(tail)).await
    }
}

/// One page being laid out.
struct PageText {
    content: Content,
}

impl PageText {
    fn new() -> Self {
        Self { content: Content::new() }
    }

    fn line(&mut self, text: &[u8], face: Face, size: f32, x: f32, y: f32, gray: f32) {
        let font = match face {
            Face::Regular => Name(b"F1"),
            Face::Bold => Name(b"F2"),
        };
        self.content.set_fill_gray(gray);
        self.content.begin_text().set_font(font, size).next_line(x, y).show(Str(text)).end_text();
    }

    fn footer(&mut self, title: &str, page: usize, pages: usize) {
        let mut left = encode(title);
        left.truncate(80);
        self.line(&left, Face::Regular, 8.0, MARGIN, FOOTER_Y, 0.45);
        let right = format!("{page} / {pages}").into_bytes();
        let x = PAGE_W - MARGIN - width(&right, Face::Regular, 8.0);
        self.line(&right, Face::Regular, 8.0, x, FOOTER_Y, 0.45);
    }
}

/// The title page(s): title, a line of facts, the notes, and what was left out.
fn title_pages(view: &ReportView, shown: usize, generated: &str) -> Vec<PageText> {
    let report = view.report();
    let mut lines: Vec<(Vec<u8>, Face, f32, f32, f32)> = Vec::new();
    for line in wrap(report.title.as_str(), Face::Bold, 22.0, TEXT_W) {
        lines.push((line, Face::Bold, 22.0, 28.0, 0.0));
    }
    let facts = format!("{shown} photo{} · generated {generated}", if shown == 1 { "" } else { "s" });
    lines.push((encode(&facts), Face::Regular, 10.0, 30.0, 0.4));
    for line in report.notes.as_ref().map(|n| wrap(n.as_str(), Face::Regular, 11.0, TEXT_W)).unwrap_or_default() {
        lines.push((line, Face::Regular, 11.0, 15.0, 0.1));
    }
    let left_out = view.entries().len() - shown;
    if left_out > 0 {
        let (s, verb) = if left_out == 1 { ("", "is") } else { ("s", "are") };
        let note = format!("{left_out} photo{s} of this report {verb} not included (in trash, or not processed yet).");
        lines.push((Vec::new(), Face::Regular, 11.0, 15.0, 0.1));
        for line in wrap(&note, Face::Regular, 11.0, TEXT_W) {
            lines.push((line, Face::Regular, 11.0, 15.0, 0.4));
        }
    }
    let mut pages = Vec::new();
    let mut page = PageText::new();
    let mut y = PAGE_H - MARGIN - 22.0;
    for (text, face, size, advance, gray) in lines {
        if y < MARGIN + 20.0 {
            pages.push(std::mem::replace(&mut page, PageText::new()));
            y = PAGE_H - MARGIN - size;
        }
        page.line(&text, face, size, MARGIN, y, gray);
        y -= advance;
    }
    pages.push(page);
    pages
}

/// A JPEG's frame: width, height and number of components, from its frame header.
fn jpeg_frame(head: &[u8]) -> Option<(u16, u16, u8)> {
    if !head.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut at = 2;
    loop {
        while *head.get(at)? == 0xFF && *head.get(at + 1)? == 0xFF {
            at += 1;
        }
        if *head.get(at)? != 0xFF {
            return None;
        }
        let marker = *head.get(at + 1)?;
        if matches!(marker, 0x01 | 0xD0..=0xD7) {
            at += 2;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*head.get(at + 2)?, *head.get(at + 3)?]));
        // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
        if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let frame = head.get(at + 4..at + 10)?;
            let height = u16::from_be_bytes([frame[1], frame[2]]);
            let width = u16::from_be_bytes([frame[3], frame[4]]);
            return Some((width, height, frame[5]));
        }
        if marker == 0xDA {
            return None;
        }
        at += 2 + len;
    }
}

/// What the report's PDF is made of, read once the request was authorized.
pub(crate) struct PdfJob {
    pub app: Workvault,
    pub view: ReportView,
    /// When it is made (UTC, shown on the title page).
    pub generated: String,
    /// Whether each photo's capture time is printed (not for link holders).
    pub capture_times: bool,
}

/// The PDF of `view` as a response, written while it is sent: a download (or shown in
/// the browser when `inline`), never cached; capture times only when `capture_times`.
pub(crate) fn respond(app: Workvault, view: ReportView, inline: bool, capture_times: bool) -> HttpResponse {
    let name = file_name(view.report().title.as_str());
    let generated = app.clock().now().format("%Y-%m-%d %H:%M UTC").to_string();
    let (tx, rx) = futures_channel::mpsc::channel(4);
    actix_web::rt::spawn(async move {
        if write(PdfJob { app, view, generated, capture_times }, tx).await.is_err() {
            tracing::debug!("a report PDF was not sent to its end");
        }
    });
    let disposition = if inline { "inline" } else { "attachment" };
    HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((header::CONTENT_DISPOSITION, format!("{disposition}; filename=\"{name}.pdf\"")))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .streaming(rx)
}

/// A safe ASCII file name from a title.
fn file_name(title: &str) -> String {
    let name: String = title
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-");
    let name: String = name.chars().take(80).collect();
    if name.is_empty() { "report".into() } else { name }
}

/// Writes the whole file into `tx`. A failure after the first byte cuts the body.
pub(crate) async fn write(job: PdfJob, tx: Sender<Result<Bytes, io::Error>>) -> Result<(), Cut> {
    let PdfJob { app, view, generated, capture_times } = job;
    let mut w = Writer { tx, sent: 0, offsets: vec![None], next: FIRST_FREE };
    w.send(Bytes::from_static(b"%PDF-1.7\n%\x80\x80\x80\x80\n\n")).await?;
    let shown: Vec<&ReportEntry> = view.showable().collect();
    let title = view.report().title.as_str();
    let mut covers = title_pages(&view, shown.len(), &generated);
    let total = covers.len() + shown.len();
    let mut kids = Vec::with_capacity(total);
    for (n, mut page) in covers.drain(..).enumerate() {
        page.footer(title, n + 1, total);
        kids.push(write_page(&mut w, page, None).await?);
    }
    for (i, entry) in shown.iter().enumerate() {
        let number = kids.len() + 1;
        kids.push(photo_page(&mut w, &app, &view, entry, capture_times, (i + 1, shown.len()), (number, total)).await?);
    }
    let mut chunk = Chunk::new();
    chunk.pages(PAGES).kids(kids.iter().copied()).count(i32::try_from(kids.len()).unwrap_or(i32::MAX));
    w.object(PAGES, chunk).await?;
    for (id, face) in [(REGULAR, b"Helvetica".as_slice()), (BOLD, b"Helvetica-Bold".as_slice())] {
        let mut chunk = Chunk::new();
        chunk.type1_font(id).base_font(Name(face)).encoding_predefined(Name(b"WinAnsiEncoding"));
        w.object(id, chunk).await?;
    }
    let mut chunk = Chunk::new();
    chunk.indirect(INFO).start::<DocumentInfo>().title(TextStr(title)).producer(TextStr("Workvault"));
    w.object(INFO, chunk).await?;
    let mut chunk = Chunk::new();
    chunk.indirect(CATALOG).start::<Catalog>().pages(PAGES);
    w.object(CATALOG, chunk).await?;
    w.finish().await
}

/// Writes a page, its content stream and (if any) its image's resource name.
async fn write_page(w: &mut Writer, page: PageText, image: Option<Ref>) -> Result<Ref, Cut> {
    let (id, contents) = (w.alloc(), w.alloc());
    let mut chunk = Chunk::new();
    {
        let mut p = chunk.page(id);
        p.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H)).parent(PAGES).contents(contents);
        let mut resources = p.resources();
        resources.fonts().pair(Name(b"F1"), REGULAR).pair(Name(b"F2"), BOLD);
        if let Some(image) = image {
            resources.x_objects().pair(Name(b"Im1"), image);
        }
        resources.finish();
        p.finish();
    }
    w.object(id, chunk).await?;
    let mut chunk = Chunk::new();
    chunk.stream(contents, &page.content.finish());
    w.object(contents, chunk).await?;
    Ok(id)
}

/// One photo on its page: streamed in as an image object, fitted above its caption.
async fn photo_page(
    w: &mut Writer,
    app: &Workvault,
    view: &ReportView,
    entry: &ReportEntry,
    capture_times: bool,
    (index, photos): (usize, usize),
    (number, total): (usize, usize),
) -> Result<Ref, Cut> {
    let mut page = PageText::new();
    let mut heading = format!("Photo {index} of {photos}");
    if let Some(taken) = entry.photo.facts.and_then(|f| f.taken_at).filter(|_| capture_times) {
        heading.push_str(&format!(" · taken {}", taken.format("%Y-%m-%d %H:%M")));
    }
    page.line(&encode(&heading), Face::Regular, 9.0, MARGIN, PAGE_H - MARGIN, 0.4);
    let mut caption = entry.caption.as_ref().map(|c| wrap(c.as_str(), Face::Regular, 11.0, TEXT_W)).unwrap_or_default();
    if caption.len() > CAPTION_LINES {
        caption.truncate(CAPTION_LINES);
        if let Some(last) = caption.last_mut() {
            last.extend_from_slice(b" ...");
        }
    }
    let caption_h = caption.len() as f32 * 14.0 + if caption.is_empty() { 0.0 } else { 14.0 };
    let top = PAGE_H - MARGIN - 16.0;
    let box_h = top - (MARGIN + 10.0) - caption_h;
    let image = embed(w, app, view, entry).await?;
    let bottom = match image {
        Some((_, px_w, px_h)) => {
            let scale = (TEXT_W / f32::from(px_w)).min(box_h / f32::from(px_h));
            let (dw, dh) = (f32::from(px_w) * scale, f32::from(px_h) * scale);
            let x = MARGIN + (TEXT_W - dw) / 2.0;
            page.content.save_state();
            page.content.transform([dw, 0.0, 0.0, dh, x, top - dh]);
            page.content.x_object(Name(b"Im1"));
            page.content.restore_state();
            top - dh
        }
        None => {
            let note = encode("This photo could not be embedded.");
            page.line(&note, Face::Regular, 11.0, MARGIN, top - 20.0, 0.4);
            top - 30.0
        }
    };
    let mut y = bottom - 20.0;
    for line in caption {
        page.line(&line, Face::Regular, 11.0, MARGIN, y, 0.1);
        y -= 14.0;
    }
    page.footer(view.report().title.as_str(), number, total);
    write_page(w, page, image.map(|(id, _, _)| id)).await
}

/// Streams the photo's `large` variant in as an image object. `None` (nothing sent) if
/// it cannot be opened or is not a JPEG whose frame can be read.
async fn embed(
    w: &mut Writer,
    app: &Workvault,
    view: &ReportView,
    entry: &ReportEntry,
) -> Result<Option<(Ref, u16, u16)>, Cut> {
    let photo = entry.photo.id;
    let (size, mut body) = match app.report_photo(view, photo, Variant::Large).await {
        Ok(opened) => opened,
        Err(e) => {
            tracing::warn!(error = %e, %photo, "a report photo could not be opened for the PDF; left out");
            return Ok(None);
        }
    };
    // Enough of the head to read the frame header; it goes out first.
    let mut head = BytesMut::new();
    let frame = loop {
        if let Some(frame) = jpeg_frame(&head) {
            break Some(frame);
        }
        if head.len() >= HEAD_LIMIT {
            break None;
        }
        match body.next().await {
            Some(Ok(piece)) => head.extend_from_slice(&piece),
            Some(Err(e)) => {
                tracing::warn!(error = %e, %photo, "a report photo could not be read for the PDF; left out");
                return Ok(None);
            }
            None => break jpeg_frame(&head),
        }
    };
    let Some((px_w, px_h, components)) = frame else {
        tracing::warn!(%photo, "a report photo's large variant is not a readable JPEG; left out of the PDF");
        return Ok(None);
    };
    let color = match components {
        1 => "DeviceGray",
        3 => "DeviceRGB",
        _ => {
            tracing::warn!(%photo, components, "a report photo's JPEG has an unexpected colour model; left out");
            return Ok(None);
        }
    };
    let id = w.alloc();
    w.mark(id);
    let dict = format!(
        "{} 0 obj\n<< /Type /XObject /Subtype /Image /Width {px_w} /Height {px_h} /ColorSpace /{color} /BitsPerComponent 8 /Filter /DCTDecode /Length {size} >>\nstream\n",
        id.get()
    );
    w.send(Bytes::from(dict)).await?;
    let mut sent = head.len() as u64;
    w.send(head.freeze()).await?;
    while let Some(piece) = body.next().await {
        // After the object's start is out, a failure can only cut the body.
        let piece = piece.map_err(|e| {
            tracing::warn!(error = %e, %photo, "a report photo failed midway through the PDF; body cut");
            Cut
        })?;
        sent += piece.len() as u64;
        w.send(piece).await?;
    }
    if sent != size {
        tracing::warn!(%photo, sent, size, "a report photo's length changed midway through the PDF; body cut");
        return Err(Cut);
    }
    w.send(Bytes::from_static(b"\nendstream\nendobj\n\n")).await?;
    Ok(Some((id, px_w, px_h)))
}

#[cfg(test)]
mod tests {
    use super::{file_name, jpeg_frame};

    #[test]
    fn file_names_are_plain_ascii() {
        assert_eq!(file_name("Roof survey: 12/3 \"final\""), "Roof-survey-12-3-final");
        assert_eq!(file_name("नमस्ते"), "report");
        assert_eq!(file_name(&"a".repeat(300)).len(), 80);
    }

    #[test]
    fn the_frame_header_is_found_past_other_segments() {
        // SOI, APP0 (length 16), DQT (length 4, truncated table), SOF0 100×50, 3 components.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        jpeg.extend([0u8; 14]);
        jpeg.extend([0xFF, 0xDB, 0x00, 0x04, 0, 0]);
        jpeg.extend([0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x32, 0x00, 0x64, 0x03]);
        assert_eq!(jpeg_frame(&jpeg), Some((100, 50, 3)));
        assert_eq!(jpeg_frame(&jpeg[..jpeg.len() - 3]), None, "not all there yet");
        assert_eq!(jpeg_frame(b"\x89PNG\r\n"), None);
        assert_eq!(jpeg_frame(&[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02]), None, "scan before any frame");
    }
}
