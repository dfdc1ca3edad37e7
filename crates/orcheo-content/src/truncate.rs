//! Cutting text to a number of characters.

use orcheo_trace_model::content::ELLIPSIS;

/// Cuts `text` to at most `max` characters, the last being `…`; never splits a character.
/// Returns whether it cut.
pub fn truncate_str(text: &mut String, max: usize) -> bool {
    match cut_at(text, max) {
        Some(cut) => {
            text.truncate(cut);
            text.push(ELLIPSIS);
            true
        }
        None => false,
    }
}

/// Where [`truncate_str`] would cut `text` (a byte offset on a character boundary, after which
/// `…` follows), or `None` when it fits in `max` characters.
pub fn cut_at(text: &str, max: usize) -> Option<usize> {
    let max = max.max(1);
    let (cut, _) = text.char_indices().nth(max - 1)?;
    // Exactly `max` characters stay as they are.
    text[cut..].chars().nth(1).map(|_| cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_exact_lengths_and_whole_characters() {
        let mut s = "héllo".to_owned();
        assert!(!truncate_str(&mut s, 5));
        assert_eq!(s, "héllo");
        assert!(truncate_str(&mut s, 3));
        assert_eq!(s, "hé…");
        assert_eq!(s.chars().count(), 3);
        let mut emoji = "😀😀😀😀".to_owned();
        assert!(truncate_str(&mut emoji, 2));
        assert_eq!(emoji, "😀…");
    }
}
