//! The one font every plot uses, embedded in the binary.
//!
//! plotters' default `ttf` feature looks fonts up through fontconfig and fails with "No such
//! font" on a machine without system fonts (see docs/machine-notes.md "Crates"). With `ab_glyph`, text is
//! measured and rasterized from font bytes we register ourselves: DejaVu Sans (Bitstream Vera
//! licence, `assets/DejaVuSans-LICENSE.txt`), so PNGs look the same everywhere.

use std::sync::OnceLock;

use plotters::style::FontStyle;

/// The family name text is drawn with. plotters writes it verbatim into SVG `font-family`
/// attributes, so it is a CSS font list: a browser uses DejaVu Sans when installed and its
/// own sans-serif otherwise, while PNG text is drawn from the embedded font registered under
/// this name.
pub(crate) const FAMILY: &str = "DejaVu Sans, sans-serif";

pub(crate) static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Registers the embedded font with plotters, once per process. The font is part of the
/// binary and known to parse, so a failure here is a bug, reported when drawing (as a font
/// error naming the family).
pub(crate) fn ensure_registered() {
    static DONE: OnceLock<bool> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_font_registers_and_measures() {
        super::ensure_registered();
        let w = crate::chart::text_width("Throughput (Gbit/s)", 15.0);
        assert!((100..250).contains(&w), "{w}");
    }
}
