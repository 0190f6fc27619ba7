//! Columns for a terminal: rows of cells laid out with padding, figures right-aligned.

use std::fmt::Write as _;

/// Lays `rows` out in columns separated by `gap`; `right[i]` right-aligns column `i`.
/// Widths count characters, so `µ` takes one column like any other letter. Trailing spaces
/// are trimmed; every line ends with a newline.
pub(crate) fn columns(rows: &[Vec<String>], right: &[bool], gap: &str) -> String {
    let count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|i| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str(gap);
            }
            let width = widths[i];
            if right.get(i).copied().unwrap_or(false) {
                let _ = write!(line, "{cell:>width$}");
            } else {
                let _ = write!(line, "{cell:<width$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A header row of `names`.
pub(crate) fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_by_characters() {
        let rows = vec![
            header(&["name", "value"]),
            vec!["a".into(), "8.5 µs".into()],
            vec!["longer".into(), "12 ns".into()],
        ];
        assert_eq!(
            columns(&rows, &[false, true], "  "),
            "name     value\na       8.5 µs\nlonger   12 ns\n"
        );
    }
}
