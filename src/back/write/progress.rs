//! How a long copy tells its caller it advances. The library draws nothing:
//! a front end (the CLI's progress bar) implements [`CopyProgress`] and
//! passes it in [`WriteOptions`](super::saved_model::WriteOptions).

use std::fmt::Debug;

/// Receives the progress of copying variables into `variables/`.
/// Calls come from the exporting thread, in order: `start`, any number of
/// `advance`, then `finish` (also when the copy fails).
pub trait CopyProgress: Debug + Send + Sync {
    /// The copy of `total_bytes` begins.
    fn start(&self, total_bytes: u64);
    /// `bytes` more were copied: a chunk of at most
    /// [`COPY_CHUNK_BYTES`](crate::format::bundle::writer::COPY_CHUNK_BYTES), so a
    /// single large tensor advances steadily. The calls add up to the bytes
    /// copied.
    fn advance(&self, bytes: u64);
    /// The copy ended, done or failed.
    fn finish(&self);
}

/// Calls [`CopyProgress::finish`] when dropped, so a failed copy ends the
/// caller's display too.
pub(super) struct Reporting<'a> {
    progress: Option<&'a dyn CopyProgress>,
}

impl<'a> Reporting<'a> {
    pub(super) fn start(progress: Option<&'a dyn CopyProgress>, total_bytes: u64) -> Self {
        if let Some(progress) = progress {
            progress.start(total_bytes);
        }
        Reporting { progress }
    }

    /// What the bundle writer calls per chunk copied; `None` without a
    /// progress, so an unwatched copy makes no calls at all.
    pub(super) fn sink(&self) -> Option<impl FnMut(u64) + 'a> {
        let progress = self.progress?;
        Some(move |bytes| progress.advance(bytes))
    }
}

impl Drop for Reporting<'_> {
    fn drop(&mut self) {
        if let Some(progress) = self.progress {
            progress.finish();
        }
    }
}
