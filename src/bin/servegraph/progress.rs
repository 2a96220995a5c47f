//! The progress bar `export` draws on stderr while it copies variables, for
//! exports that take more than a moment, and only on a terminal.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use servegraph::write::progress::CopyProgress;

/// Copies at least this large show the bar from the start.
const SHOW_AT_BYTES: u64 = 64 * 1024 * 1024;
/// Smaller copies show it once they have run this long.
const SHOW_AFTER: Duration = Duration::from_millis(500);
const TEMPLATE: &str = "copying variables {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}";

/// An indicatif bar, hidden until the copy proves long enough to watch.
#[derive(Debug, Default)]
pub struct CopyBar {
    copy: OnceLock<Copy>,
}

#[derive(Debug)]
struct Copy {
    bar: ProgressBar,
    since: Instant,
    shown: AtomicBool,
}

impl CopyBar {
    /// A bar for this process's stderr, or none when stderr is not a terminal.
    pub fn for_stderr() -> Option<CopyBar> {
        std::io::stderr().is_terminal().then(CopyBar::default)
    }
}

impl Copy {
    /// Draws the bar from now on (once).
    fn show(&self) {
        if !self.shown.swap(true, Ordering::Relaxed) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }
}

impl CopyProgress for CopyBar {
    fn start(&self, total_bytes: u64) {
        let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
            bar.set_style(style);
        }
        let copy = self.copy.get_or_init(|| Copy {
            bar,
            since: Instant::now(),
            shown: AtomicBool::new(false),
        });
        if total_bytes >= SHOW_AT_BYTES {
            copy.show();
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(copy) = self.copy.get() {
            copy.bar.inc(bytes);
            if copy.since.elapsed() >= SHOW_AFTER {
                copy.show();
            }
        }
    }

    fn finish(&self) {
        if let Some(copy) = self.copy.get() {
            copy.bar.finish_and_clear();
        }
    }
}
