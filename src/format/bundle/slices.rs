//! Partitioned variables: the keys under which each stored slice lives
//! (TensorFlow's OrderedCode encoding of name + extents), and the
//! `shape_and_slices` strings that SaveV2/RestoreV2 use ("50 8 0,17:-").

use crate::format::proto::TensorSliceProto;
use crate::format::proto::tensor_slice_proto::Extent;
use crate::format::proto::tensor_slice_proto::extent::HasLength;

/// One dimension of a slice: `length == None` means the whole dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent1 {
    pub start: i64,
    pub length: Option<i64>,
}

/// Extents of a slice proto.
pub fn extents(slice: &TensorSliceProto) -> Vec<Extent1> {
    slice
        .extent
        .iter()
        .map(|e| Extent1 {
            start: e.start,
            length: e.has_length.map(|HasLength::Length(l)| l),
        })
        .collect()
}

/// The proto of a slice.
pub fn slice_proto(extents: &[Extent1]) -> TensorSliceProto {
    TensorSliceProto {
        extent: extents
            .iter()
            .map(|e| Extent {
                start: e.start,
                has_length: e.length.map(HasLength::Length),
            })
            .collect(),
    }
}

fn write_num_increasing(out: &mut Vec<u8>, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    out.push((8 - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

fn write_signed_num_increasing(out: &mut Vec<u8>, value: i64) {
    let x = if value < 0 { !value } else { value } as u64;
    if x < 64 {
        out.push(0x80 ^ (value as u8));
        return;
    }
    let bits = 64 - x.leading_zeros() as usize;
    let n = (bits / 7 + 1).min(10);
    let mut full = [if value < 0 { 0xffu8 } else { 0 }; 10];
    full[2..].copy_from_slice(&value.to_be_bytes());
    let mut kept = full[10 - n..].to_vec();
    let header: [(u8, u8); 11] = [
        (0, 0),
        (0x80, 0),
        (0xc0, 0),
        (0xe0, 0),
        (0xf0, 0),
        (0xf8, 0),
        (0xfc, 0),
        (0xfe, 0),
        (0xff, 0),
        (0xff, 0x80),
        (0xff, 0xc0),
    ];
    kept[0] ^= header[n].0;
    if n > 1 {
        kept[1] ^= header[n].1;
    }
    out.extend_from_slice(&kept);
}

/// The bundle key of one stored slice of tensor `name`.
pub fn slice_key(name: &str, extents: &[Extent1]) -> Vec<u8> {
    let mut out = vec![0u8];
    for &byte in name.as_bytes() {
        match byte {
            0x00 => out.extend_from_slice(&[0x00, 0xff]),
            0xff => out.extend_from_slice(&[0xff, 0x00]),
            b => out.push(b),
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
    write_num_increasing(&mut out, extents.len() as u64);
    for extent in extents {
        write_signed_num_increasing(&mut out, extent.start);
        write_signed_num_increasing(&mut out, extent.length.unwrap_or(-1));
    }
    out
}

/// The `shape_and_slices` spec of a slice of a tensor of shape `full_shape`.
pub fn format_spec(full_shape: &[i64], extents: &[Extent1]) -> String {
    let dims: Vec<String> = full_shape.iter().map(i64::to_string).collect();
    let parts: Vec<String> = extents
        .iter()
        .map(|e| match e.length {
            None => "-".to_string(),
            Some(length) => format!("{},{}", e.start, length),
        })
        .collect();
    format!("{} {}", dims.join(" "), parts.join(":"))
}

/// Parses a `shape_and_slices` spec; `None` when malformed. `""` is the whole tensor.
pub fn parse_spec(spec: &str) -> Option<(Vec<i64>, Vec<Extent1>)> {
    if spec.is_empty() {
        return Some((Vec::new(), Vec::new()));
    }
    let mut words: Vec<&str> = spec.split(' ').collect();
    let slices = words.pop()?;
    let shape: Vec<i64> = words
        .iter()
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    let extents: Vec<Extent1> = slices
        .split(':')
        .map(|part| {
            if part == "-" {
                Some(Extent1 {
                    start: 0,
                    length: None,
                })
            } else {
                let (start, length) = part.split_once(',')?;
                Some(Extent1 {
                    start: start.parse().ok()?,
                    length: Some(length.parse().ok()?),
                })
            }
        })
        .collect::<Option<_>>()?;
    (extents.len() == shape.len()).then_some((shape, extents))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        write_signed_num_increasing(&mut out, v);
        out
    }

    #[test]
    fn ordered_code_matches_tensorflow_examples() {
        assert_eq!(signed(0), [0x80]);
        assert_eq!(signed(5), [0x85]);
        assert_eq!(signed(-1), [0x7f]);
        assert_eq!(signed(63), [0xbf]);
        assert_eq!(signed(-64), [0x40]);
        assert_eq!(signed(64), [0xc0, 0x40]);
        assert_eq!(signed(100), [0xc0, 0x64]);
        assert_eq!(signed(300), [0xc1, 0x2c]);
        assert_eq!(signed(-65), [0x3f, 0xbf]);
        assert_eq!(signed(1 << 20), [0xf0, 0x10, 0x00, 0x00]);
    }

    #[test]
    fn slice_key_of_rows_zero_to_five() {
        let key = slice_key(
            "w",
            &[
                Extent1 {
                    start: 0,
                    length: Some(5),
                },
                Extent1 {
                    start: 0,
                    length: None,
                },
            ],
        );
        assert_eq!(
            key,
            [0x00, 0x77, 0x00, 0x01, 0x01, 0x02, 0x80, 0x85, 0x80, 0x7f]
        );
    }

    #[test]
    fn specs_round_trip() {
        let extents = [
            Extent1 {
                start: 0,
                length: Some(5),
            },
            Extent1 {
                start: 0,
                length: None,
            },
        ];
        let spec = format_spec(&[10, 3], &extents);
        assert_eq!(spec, "10 3 0,5:-");
        assert_eq!(parse_spec(&spec), Some((vec![10, 3], extents.to_vec())));
        assert_eq!(parse_spec("10 3 0,5"), None);
    }
}
