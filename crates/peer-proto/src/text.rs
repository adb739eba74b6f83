//! Peer-chosen text shown to a person (the operator's terminal) or a model (a
//! hook's message): on one line, with nothing in it that drives a terminal or
//! reorders what is shown, and cut to a length.

use serde_json::Value;

/// `text` safe to print on one line: whitespace controls become spaces, and
/// every other control character (ESC starts the sequences that move the
/// cursor, rewrite the title or the clipboard) and every bidirectional
/// override (which reorders what is shown) becomes `�`.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => ' ',
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => '�',
            c if c.is_control() => '�',
            c => c,
        })
        .collect()
}

/// A message body on one line (a string without its quotes, anything else
/// as compact JSON), [`printable`], and at most `max_chars` characters long,
/// the last of them `…` when it was cut.
pub fn preview(body: &Value, max_chars: usize) -> String {
    let line = match body {
        Value::String(s) => printable(s),
        other => printable(&other.to_string()),
    };
    if line.chars().count() <= max_chars {
        return line;
    }
    let mut cut: String = line.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn previews_are_one_short_printable_line() {
        assert_eq!(preview(&json!("hi\nthere"), 10), "hi there");
        assert_eq!(preview(&json!({"a": 1}), 10), r#"{"a":1}"#);
        assert_eq!(preview(&json!("abcdef"), 6), "abcdef");
        let cut = preview(&json!("é".repeat(50)), 6);
        assert_eq!(cut, "ééééé…");
        assert_eq!(preview(&json!("\u{1b}[2J\u{202E}x"), 10), "�[2J�x");
    }
}
