//! Progress bars for long work, shown only when standard error is a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Files smaller than this finish too fast for a bar to help.
const MIN_BYTES_FOR_BAR: u64 = 4 << 20;

/// A byte-progress bar for reading `path`, or a hidden one.
pub fn file_bar(path: &std::path::Path) -> ProgressBar {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if len < MIN_BYTES_FOR_BAR || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("reading {}", path.display()));
    bar
}

/// A spinner for work of unknown length (fitting), or a hidden one.
pub fn spinner(message: &str, items: usize) -> ProgressBar {
    if items < 100_000 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
