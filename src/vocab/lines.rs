//! Lines of a vocabulary file, counted the way TensorFlow's text-file table
//! initializer counts them (a line ends at `\n`; a last line without one
//! still counts), and its first lines copied byte for byte. Both stream the
//! file in fixed-size chunks: a vocabulary is never held in memory whole.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

/// A file's line count and size, and the size of its first `keep` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCount {
    pub lines: u64,
    pub bytes: u64,
    /// Bytes of the first `keep` lines with their terminators (all the
    /// file's bytes when it has `keep` lines or fewer).
    pub prefix_bytes: u64,
}

/// Counts `path`'s lines, noting where line `keep` ends.
pub fn count_lines(path: impl AsRef<Path>, keep: u64) -> std::io::Result<LineCount> {
    let path = path.as_ref();
    let mut reader = BufReader::new(File::open(path)?);
    let mut count = LineCount {
        lines: 0,
        bytes: 0,
        prefix_bytes: 0,
    };
    let mut last_byte = None;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        for (at, _) in chunk.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            count.lines += 1;
            if count.lines == keep {
                count.prefix_bytes = count.bytes + at as u64 + 1;
            }
        }
        last_byte = chunk.last().copied();
        let read = chunk.len();
        count.bytes += read as u64;
        reader.consume(read);
    }
    if last_byte.is_some_and(|b| b != b'\n') {
        count.lines += 1;
    }
    if count.lines <= keep {
        count.prefix_bytes = count.bytes;
    }
    Ok(count)
}

/// The bytes of `path`'s first `keep` lines with their terminators (the
/// whole file when it has fewer): what [`copy_first_lines`] will write.
/// Stops reading once they are counted.
pub fn prefix_len(path: impl AsRef<Path>, keep: u64) -> std::io::Result<u64> {
    let path = path.as_ref();
    first_lines(path, keep, &mut |_| Ok(()))
}

/// Writes the first `keep` lines of `from` (with their terminators, byte
/// for byte) to a new file `to`; returns the bytes written.
pub fn copy_first_lines(
    from: impl AsRef<Path>,
    to: impl AsRef<Path>,
    keep: u64,
) -> std::io::Result<u64> {
    let from = from.as_ref();
    let to = to.as_ref();
    let mut writer = BufWriter::new(File::create(to)?);
    let written = first_lines(from, keep, &mut |bytes| writer.write_all(bytes))?;
    writer.flush()?;
    Ok(written)
}

/// Hands `sink` the bytes of `path`'s first `keep` lines, a buffer at a
/// time, and returns how many there were; reads no further.
fn first_lines(
    path: &Path,
    keep: u64,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let mut reader = BufReader::new(File::open(path)?);
    let (mut lines, mut bytes) = (0, 0);
    while lines < keep {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        let mut take = chunk.len();
        for (at, _) in chunk.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            lines += 1;
            if lines == keep {
                take = at + 1;
                break;
            }
        }
        sink(&chunk[..take])?;
        bytes += take as u64;
        reader.consume(take);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(content: &[u8], keep: u64) -> LineCount {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.txt");
        std::fs::write(&path, content).unwrap();
        count_lines(&path, keep).unwrap()
    }

    #[test]
    fn lines_end_at_newlines_and_an_unterminated_last_line_counts() {
        assert_eq!(counted(b"a\nb\nc\n", 2).lines, 3);
        assert_eq!(counted(b"a\nb\nc", 2).lines, 3);
        assert_eq!(counted(b"", 2).lines, 0);
        assert_eq!(counted(b"a\r\nb\r\n", 1).lines, 2);
    }

    #[test]
    fn the_prefix_ends_after_the_kept_lines_terminator() {
        assert_eq!(counted(b"the\ncat\r\nsat\n", 2).prefix_bytes, 9);
        assert_eq!(counted(b"the\ncat\nsat", 3).prefix_bytes, 11);
        assert_eq!(counted(b"the\ncat\n", 5).prefix_bytes, 8);
    }

    #[test]
    fn counting_spans_buffer_boundaries() {
        let word = b"abcdefghijklmnopqrstuvwxyz\n";
        let content: Vec<u8> = word
            .iter()
            .copied()
            .cycle()
            .take(word.len() * 1000)
            .collect();
        let count = counted(&content, 700);
        assert_eq!(count.lines, 1000);
        assert_eq!(count.prefix_bytes, 700 * word.len() as u64);
    }

    #[test]
    fn the_copy_is_the_exact_prefix_of_the_kept_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        std::fs::write(&from, b"the\r\ncat\nsat\n").unwrap();
        assert_eq!(copy_first_lines(&from, &to, 2).unwrap(), 9);
        assert_eq!(prefix_len(&from, 2).unwrap(), 9);
        assert_eq!(prefix_len(&from, 9).unwrap(), 13);
        assert_eq!(std::fs::read(&to).unwrap(), b"the\r\ncat\n");
        assert_eq!(copy_first_lines(&from, &to, 9).unwrap(), 13);
        assert_eq!(std::fs::read(&to).unwrap(), b"the\r\ncat\nsat\n");
    }

    #[test]
    fn the_copy_streams_across_buffer_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        let word = b"abcdefghijklmnopqrstuvwxyz\n";
        let content: Vec<u8> = word
            .iter()
            .copied()
            .cycle()
            .take(word.len() * 1000)
            .collect();
        std::fs::write(&from, &content).unwrap();
        let kept = copy_first_lines(&from, &to, 700).unwrap();
        assert_eq!(kept, 700 * word.len() as u64);
        assert_eq!(prefix_len(&from, 700).unwrap(), kept);
        assert_eq!(std::fs::read(&to).unwrap(), &content[..kept as usize]);
    }
}
