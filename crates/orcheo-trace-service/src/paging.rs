//! Pages of a trace's spans, in the tree's depth-first order, with opaque cursors.
//!
//! A cursor is `o<offset>`: the first span of the next page. A cursor past the end gives an empty
//! last page, because the trace it came from may have been replaced by a shorter one.

use std::ops::Range;

/// The largest `limit` a request may name.
pub const MAX_LIMIT: u32 = 100_000;

/// Why a page cannot be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("not a cursor this trace gave")]
    InvalidCursor,
    #[error("limit must be within 1..={MAX_LIMIT}")]
    InvalidLimit,
}

/// A page's spans (as indices of the whole list) and the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub spans: Range<usize>,
    /// `None` on the last page.
    pub next_cursor: Option<String>,
}

impl Page {
    /// The page `cursor` and `limit` name over `total` spans: `default` spans when no limit is
    /// named, never more than `max`.
    pub fn of(
        cursor: Option<&str>,
        limit: Option<u32>,
        default: usize,
        max: usize,
        total: usize,
    ) -> Result<Self, PageError> {
        let start = match cursor {
            None => 0,
            Some(text) => text
                .strip_prefix('o')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .ok_or(PageError::InvalidCursor)?
                .min(total),
        };
        let limit = match limit {
            Some(0) => return Err(PageError::InvalidLimit),
            Some(n) if n > MAX_LIMIT => return Err(PageError::InvalidLimit),
            Some(n) => (n as usize).min(max),
            None => default.min(max),
        };
        let end = start.saturating_add(limit).min(total);
        Ok(Self {
            spans: start..end,
            next_cursor: (end < total).then(|| format!("o{end}")),
        })
    }

    /// Whether spans follow this page.
    pub fn has_next(&self) -> bool {
        self.next_cursor.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::{Page, PageError};

    #[test]
    fn pages_follow_each_other_through_their_cursors_to_the_end() {
        let first = Page::of(None, Some(4), 2, 10, 10).unwrap();
        assert_eq!(first.spans, 0..4);
        assert_eq!(first.next_cursor.as_deref(), Some("o4"));
        let second = Page::of(first.next_cursor.as_deref(), Some(4), 2, 10, 10).unwrap();
        assert_eq!(second.spans, 4..8);
        let last = Page::of(second.next_cursor.as_deref(), Some(4), 2, 10, 10).unwrap();
        assert_eq!(last.spans, 8..10);
        assert!(!last.has_next());
    }

    #[test]
    fn the_default_and_the_limit_are_capped_by_the_maximum() {
        assert_eq!(
            Page::of(None, None, 2000, 500, 10_000).unwrap().spans,
            0..500
        );
        assert_eq!(
            Page::of(None, Some(9000), 2000, 500, 10_000).unwrap().spans,
            0..500
        );
        assert_eq!(Page::of(None, None, 2000, 10_000, 3).unwrap().spans, 0..3);
    }

    #[test]
    fn a_cursor_past_the_end_gives_an_empty_last_page() {
        let page = Page::of(Some("o50"), None, 10, 10, 20).unwrap();
        assert_eq!(page.spans, 20..20);
        assert!(!page.has_next());
    }

    #[test]
    fn malformed_cursors_and_limits_are_refused() {
        for cursor in ["", "o", "o0", "x5", "o-1", "o1.5", "5"] {
            assert_eq!(
                Page::of(Some(cursor), None, 10, 10, 20),
                Err(PageError::InvalidCursor),
                "{cursor:?}"
            );
        }
        assert_eq!(
            Page::of(None, Some(0), 10, 10, 20),
            Err(PageError::InvalidLimit)
        );
        assert_eq!(
            Page::of(None, Some(100_001), 10, 10, 20),
            Err(PageError::InvalidLimit)
        );
        assert!(Page::of(None, Some(100_000), 10, 10, 20).is_ok());
    }
}
