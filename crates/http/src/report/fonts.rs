//! Text for the PDF in the standard Helvetica fonts, which every PDF reader has, so
//! nothing is embedded: WinAnsi encoding and the fonts' advance widths (from Adobe's
//! AFM metrics), to wrap lines. Characters outside WinAnsi print as `?` (the HTML
//! rendering shows every character).

/// Which of the two faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Face {
    /// Helvetica.
    Regular,
    /// Helvetica-Bold.
    Bold,
}

/// Advance widths (1/1000 em) of the printable ASCII range, 0x20..=0x7E.
const REGULAR_ASCII: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, //
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, //
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, //
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, //
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, //
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];
const BOLD_ASCII: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, //
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, //
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, //
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, //
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, //
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];
/// Latin-1 supplement, 0xA0..=0xFF (the same codes in WinAnsi).
const REGULAR_LATIN1: [u16; 96] = [
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333, //
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611, //
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, //
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, //
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278, //
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
];
const BOLD_LATIN1: [u16; 96] = [
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333, //
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611, //
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, //
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, //
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278, //
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556,
];

/// The WinAnsi code of a character, if it has one (typographic punctuation included).
fn win_ansi(c: char) -> Option<u8> {
    Some(match c {
        ' '..='~' => c as u8,
        '\u{A0}'..='\u{FF}' => c as u32 as u8,
        '€' => 0x80,
        '…' => 0x85,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        _ => return None,
    })
}

/// The advance width of a WinAnsi code, in 1/1000 em.
fn advance(code: u8, face: Face) -> u16 {
    let (ascii, latin1) = match face {
        Face::Regular => (&REGULAR_ASCII, &REGULAR_LATIN1),
        Face::Bold => (&BOLD_ASCII, &BOLD_LATIN1),
    };
    match code {
        0x20..=0x7E => ascii[usize::from(code - 0x20)],
        0xA0..=0xFF => latin1[usize::from(code - 0xA0)],
        0x85 | 0x97 => 1000,
        0x80 | 0x96 => 556,
        0x95 => 350,
        0x91 | 0x92 => match face {
            Face::Regular => 222,
            Face::Bold => 278,
        },
        0x93 | 0x94 => match face {
            Face::Regular => 333,
            Face::Bold => 500,
        },
        _ => 556,
    }
}

/// Text as WinAnsi bytes; tabs become spaces, other characters without a code `?`.
pub(crate) fn encode(text: &str) -> Vec<u8> {
    text.chars().map(|c| if c == '\t' { b' ' } else { win_ansi(c).unwrap_or(b'?') }).collect()
}

/// The width of encoded text at `size` points.
pub(crate) fn width(text: &[u8], face: Face, size: f32) -> f32 {
    text.iter().map(|&c| f32::from(advance(c, face))).sum::<f32>() * size / 1000.0
}

/// Breaks text into lines no wider than `max` points: paragraphs at newlines, lines at
/// spaces, and a word too long for a line at the width.
pub(crate) fn wrap(text: &str, face: Face, size: f32, max: f32) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line: Vec<u8> = Vec::new();
        for word in encode(paragraph.trim_end()).split(|&b| b == b' ') {
            let candidate = if line.is_empty() { word.to_vec() } else { [&line[..], b" ", word].concat() };
            if width(&candidate, face, size) <= max {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // A word wider than the line: cut it where it overflows.
            let mut rest = word;
            while width(rest, face, size) > max {
                let mut cut = 1;
                while cut < rest.len() && width(&rest[..=cut], face, size) <= max {
                    cut += 1;
                }
                lines.push(rest[..cut].to_vec());
                rest = &rest[cut..];
            }
            line = rest.to_vec();
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_encoded_in_win_ansi() {
        assert_eq!(encode("Café – “ok” €5"), b"Caf\xe9 \x96 \x93ok\x94 \x805");
        assert_eq!(encode("नमस्ते\tx"), b"?????? x", "outside WinAnsi: one ? per character");
    }

    #[test]
    fn widths_follow_the_font_metrics() {
        // Adobe's Helvetica: "Hi" = 722 + 222; bold: 722 + 278.
        assert!((width(b"Hi", Face::Regular, 1000.0) - 944.0).abs() < 0.01);
        assert!((width(b"Hi", Face::Bold, 10.0) - 10.0).abs() < 0.01);
    }

    #[test]
    fn lines_wrap_at_spaces_and_long_words_are_cut() {
        let lines = wrap("one two three\n\nfour", Face::Regular, 10.0, 40.0);
        let text: Vec<String> = lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
        assert_eq!(text, ["one two", "three", "", "four"]);
        for line in &lines {
            assert!(width(line, Face::Regular, 10.0) <= 40.0);
        }
        let long = wrap(&"m".repeat(30), Face::Regular, 10.0, 50.0);
        assert!(long.len() > 1 && long.iter().all(|l| width(l, Face::Regular, 10.0) <= 50.0));
        assert_eq!(long.concat().len(), 30, "no character lost");
    }
}
