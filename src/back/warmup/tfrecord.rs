//! TFRecord framing, the container of TensorFlow Serving's warm-up file:
//! per record the data's length (u64, little-endian), the masked CRC-32C
//! of those 8 bytes, the data, and the masked CRC-32C of the data.

use crate::format::bundle::crc::{crc32c, mask};

/// Bytes a record adds around its data.
pub const FRAMING_BYTES: usize = 8 + 4 + 4;

/// Appends one record holding `data` to `out`.
pub fn append_record(out: &mut Vec<u8>, data: &[u8]) {
    let length = (data.len() as u64).to_le_bytes();
    out.reserve(data.len() + FRAMING_BYTES);
    out.extend_from_slice(&length);
    out.extend_from_slice(&mask(crc32c(&length)).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&mask(crc32c(data)).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::bundle::crc::unmask;

    /// Splits a TFRecord file back into its records, checking both CRCs.
    fn read_records(mut file: &[u8]) -> Vec<&[u8]> {
        let mut records = Vec::new();
        let word = |bytes: &[u8]| u32::from_le_bytes(bytes.try_into().unwrap());
        while !file.is_empty() {
            let (length, rest) = file.split_at(8);
            assert_eq!(unmask(word(&rest[..4])), crc32c(length), "length CRC");
            let length = u64::from_le_bytes(length.try_into().unwrap()) as usize;
            let (data, rest) = rest[4..].split_at(length);
            assert_eq!(unmask(word(&rest[..4])), crc32c(data), "data CRC");
            records.push(data);
            file = &rest[4..];
        }
        records
    }

    #[test]
    fn records_read_back_with_their_checksums() {
        let mut file = Vec::new();
        let data: [&[u8]; 3] = [b"first", b"", &[7; 300]];
        for record in data {
            append_record(&mut file, record);
        }
        assert_eq!(file.len(), 305 + 3 * FRAMING_BYTES);
        assert_eq!(read_records(&file), data);
    }

    #[test]
    fn the_length_is_little_endian_and_its_crc_is_masked() {
        let mut file = Vec::new();
        append_record(&mut file, &[0xab; 258]);
        assert_eq!(&file[..8], &[2, 1, 0, 0, 0, 0, 0, 0]);
        let stored = u32::from_le_bytes(file[8..12].try_into().unwrap());
        assert_eq!(stored, mask(crc32c(&file[..8])));
        assert_ne!(stored, crc32c(&file[..8]));
    }
}
