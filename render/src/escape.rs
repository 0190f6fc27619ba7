//! The one escaper of cnbench's documents: text from results (check subjects, reasons, error
//! messages, file names) is made safe for HTML ([`html`]) and for Markdown ([`markdown`],
//! [`code`]) here and nowhere else. XML (JUnit) is written by `quick-junit`, which escapes
//! for itself.

/// Text for HTML element content and attribute values: `<`, `>`, `&`, `"` and `'` as
/// entities.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text for Markdown (a table cell, a list item, a heading): the characters HTML gives a
/// meaning (`<`, `>`, `&`) as entities, Markdown punctuation (`\`, `|`, `*`, `_`, `` ` ``, `#`,
/// `~`) escaped with a backslash, line breaks and other control characters as spaces. So a
/// subject like `cnb-<run>-n0p0` or a `|` in a reason can neither break a table nor vanish as
/// HTML.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '|' | '*' | '_' | '`' | '#' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text to go between backticks in Markdown: backticks and `|` become `'`, control
/// characters spaces (nothing can be escaped inside a code span).
pub fn code(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '`' | '|' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// `text` as a Markdown code span: `` `text` ``.
pub fn code_span(text: &str) -> String {
    format!("`{}`", code(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escaping() {
        assert_eq!(
            html("a<b & \"c\" 'd'"),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;"
        );
        assert_eq!(html("µs 日本"), "µs 日本");
    }

    #[test]
    fn markdown_escaping() {
        assert_eq!(markdown("a|b"), "a\\|b");
        assert_eq!(markdown("cnb-<run>-n0p0"), "cnb-&lt;run&gt;-n0p0");
        assert_eq!(markdown("x & y\nz"), "x &amp; y z");
        assert_eq!(markdown("rtt_p99_ns *"), "rtt\\_p99\\_ns \\*");
        assert_eq!(markdown("a\\b"), "a\\\\b");
        assert_eq!(code("a`b|c\n"), "a'b'c ");
        assert_eq!(code_span("x|y"), "`x'y`");
    }
}
