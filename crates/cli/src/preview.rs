//! `inspect --preview`: the deliverable's thumbnail drawn in the terminal, two pixels a cell
//! (Unicode upper half blocks, the top pixel in the foreground colour and the bottom one in the
//! background, 24-bit colour). Drawn only on a terminal, and not when `NO_COLOR` is set: then a
//! plain note says why.

use std::fmt::Write as _;
use std::io::IsTerminal;

use wyvern_unpack::Picture;

use crate::output::out_bytes;
use crate::report::Report;

/// At most this many columns, however wide the terminal.
const MAX_COLUMNS: u16 = 100;
/// At most this many rows (two pixels each).
const MAX_ROWS: u16 = 40;

/// Why the preview is not drawn, when it is not.
fn not_drawn() -> Option<&'static str> {
    if wyvern_core::env::var_os(wyvern_core::env::NO_COLOR).is_some_and(|v| !v.is_empty()) {
        Some("NO_COLOR is set")
    } else if !std::io::stdout().is_terminal() {
        Some("stdout is not a terminal")
    } else {
        None
    }
}

/// Draws a deliverable's thumbnail below its inspection: `picture` reads it, scaled to fit the
/// width and height it is given (in pixels).
pub(crate) async fn show<F, Fut>(report: &Report, picture: F)
where
    F: FnOnce(u32, u32) -> Fut,
    Fut: std::future::Future<Output = wyvern_transfer::Result<Option<(String, Picture)>>>,
{
    if let Some(why) = not_drawn() {
        report.note(&format!("preview: not drawn, {why}"));
        return;
    }
    // A terminal of no size (a pseudo-terminal nobody sized) is taken as the classic 80 x 24.
    let (columns, rows) = terminal_size::terminal_size()
        .filter(|(width, height)| width.0 > 0 && height.0 > 0)
        .map_or((80, 24), |(width, height)| (width.0, height.0.saturating_sub(2)));
    let (width, height) = (u32::from(columns.clamp(8, MAX_COLUMNS)), 2 * u32::from(rows.clamp(4, MAX_ROWS)));
    match picture(width, height).await {
        Ok(Some((member, picture))) => {
            out_bytes(draw(&picture).as_bytes());
            report.note(&format!("preview: {member} ({} x {} px as drawn)", picture.width, picture.height));
        }
        Ok(None) => report.note("preview: the deliverable has no PNG thumbnail or overview"),
        Err(e) => report.note(&format!("preview: not drawn, {}", wyvern_transfer::error_line(&e))),
    }
}

/// The picture as lines of half blocks in 24-bit colour, each line ending with a reset.
fn draw(picture: &Picture) -> String {
    let mut out = String::new();
    for y in (0..picture.height).step_by(2) {
        for x in 0..picture.width {
            let [r, g, b] = picture.pixel(x, y);
            let _ = write!(out, "\x1b[38;2;{r};{g};{b}m");
            if y + 1 < picture.height {
                let [r, g, b] = picture.pixel(x, y + 1);
                let _ = write!(out, "\x1b[48;2;{r};{g};{b}m");
            }
            out.push('▀');
        }
        out.push_str("\x1b[0m\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_pixels_a_cell_and_a_reset_each_line() {
        let picture = Picture { width: 2, height: 3, rgb: (0..18).collect() };
        let drawn = draw(&picture);
        let lines: Vec<&str> = drawn.lines().collect();
        assert_eq!(lines.len(), 2, "three rows of pixels take two lines");
        assert_eq!(lines[0], "\x1b[38;2;0;1;2m\x1b[48;2;6;7;8m▀\x1b[38;2;3;4;5m\x1b[48;2;9;10;11m▀\x1b[0m");
        assert_eq!(lines[1], "\x1b[38;2;12;13;14m▀\x1b[38;2;15;16;17m▀\x1b[0m", "the last odd row has no background");
    }
}
