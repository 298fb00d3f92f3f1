//! Keyset pagination: lists page by `(key, id)`, newest first, never by OFFSET.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 200;

/// The position after the last item of a page: its sort key (creation time in
/// microseconds, or a sequence number) and id. Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The sort key of the last item.
    pub key: i64,
    /// The id of the last item (breaks ties).
    pub id: Uuid,
}

/// A cursor string that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor")]
pub struct InvalidCursor;

impl Cursor {
    /// Opaque text form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.key, self.id.as_hyphenated()))
    }

    /// Parses the text form.
    pub fn decode(s: &str) -> Result<Self, InvalidCursor> {
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| InvalidCursor)?;
        let text = std::str::from_utf8(&raw).map_err(|_| InvalidCursor)?;
        let (key, id) = text.split_once(':').ok_or(InvalidCursor)?;
        Ok(Self { key: key.parse().map_err(|_| InvalidCursor)?, id: Uuid::parse_str(id).map_err(|_| InvalidCursor)? })
    }
}

/// Which page to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items (1..=[`MAX_LIMIT`]).
    pub limit: u32,
    /// Start after this position; `None` for the first page.
    pub after: Option<Cursor>,
}

/// A limit outside 1..=200.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit must be between 1 and {MAX_LIMIT}")]
pub struct InvalidLimit;

impl PageRequest {
    /// The first page of the default size.
    pub const fn first() -> Self {
        Self { limit: DEFAULT_LIMIT, after: None }
    }

    /// A checked request.
    pub fn new(limit: Option<u32>, after: Option<Cursor>) -> Result<Self, InvalidLimit> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(InvalidLimit);
        }
        Ok(Self { limit, after })
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first()
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows read in order: the extra row only
    /// tells that another page exists.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> Cursor) -> Self {
        let limit = limit as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(cursor_of) } else { None };
        Self { items: rows, next }
    }

    /// Maps the items, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next: self.next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor { key: 1_700_000_000_123_456, id: Uuid::from_u128(42) };
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        for bad in ["", "!!", "bm90LWEtY3Vyc29y", &URL_SAFE_NO_PAD.encode("12:not-a-uuid")] {
            assert_eq!(Cursor::decode(bad), Err(InvalidCursor), "{bad}");
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(PageRequest::new(None, None).map(|p| p.limit), Ok(50));
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(Some(201), None).is_err());
        assert!(PageRequest::new(Some(200), None).is_ok());
    }

    #[test]
    fn pages_know_when_more_follow() {
        let p = Page::from_rows(vec![5, 4, 3], 2, |n| Cursor { key: *n, id: Uuid::nil() });
        assert_eq!(p.items, vec![5, 4]);
        assert_eq!(p.next.map(|c| c.key), Some(4));
        let last = Page::from_rows(vec![2, 1], 2, |n| Cursor { key: *n, id: Uuid::nil() });
        assert_eq!(last.next, None);
    }
}
