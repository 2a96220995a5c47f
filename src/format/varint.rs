//! Base-128 varints (LEB128), as protobuf, the checkpoint table and string
//! tensor contents spell lengths and offsets. Below both the bundle and the
//! tensor code, which each need them.

/// Reads a varint of at most 10 bytes; returns (value, bytes used), `None`
/// when `data` ends inside it or it runs longer.
pub fn read_varint(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in data.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

pub fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_truncated_or_overlong_varint() {
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            assert_eq!(read_varint(&out), Some((value, out.len())));
            assert_eq!(read_varint(&out[..out.len() - 1]), None, "{value}");
        }
        assert_eq!(read_varint(&[0x80; 11]), None);
    }
}
