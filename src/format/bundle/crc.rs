//! CRC-32C and TensorFlow's masking of stored checksums (so that a CRC of
//! data containing CRCs does not degenerate).

const MASK_DELTA: u32 = 0xa282_ead8;

/// Masks a CRC for storage.
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Recovers the CRC from its stored form.
pub fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

/// CRC-32C (Castagnoli) of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// Continues a CRC-32C over more data.
pub fn extend(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_check_value_and_mask_round_trip() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        for crc in [0, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(unmask(mask(crc)), crc);
        }
        assert_eq!(mask(0).to_le_bytes(), [0xd8, 0xea, 0x82, 0xa2]);
        assert_eq!(extend(crc32c(b"1234"), b"56789"), crc32c(b"123456789"));
    }
}
