//! Progress bars on the terminal (hidden when disabled or when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// Bars for one run.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub enabled: bool,
}

impl Progress {
    /// A bar counting `len` items.
    pub fn count(&self, name: &str, len: u64) -> ProgressBar {
        self.bar(
            name,
            len,
            "{prefix:24} [{bar:32}] {pos}/{len} ({per_sec}, eta {eta}) {msg}",
        )
    }

    /// A bar following a timed step (its length is set by the runner, in ms).
    pub fn timed(&self, name: &str) -> ProgressBar {
        self.bar(name, 1, "{prefix:24} [{bar:32}] {elapsed} {msg}")
    }

    /// A spinner for work of unknown length.
    pub fn spinner(&self, name: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{prefix:24} {spinner} {elapsed} {msg}") {
            bar.set_style(style);
        }
        bar.set_prefix(name.to_owned());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }

    fn bar(&self, name: &str, len: u64, template: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(name.to_owned());
        bar
    }
}
