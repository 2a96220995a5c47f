//! The value one variable restores from a checkpoint: a whole stored tensor,
//! or the piece of a partitioned one that its `shape_and_slices` spec names.
//! Freezing turns these values into graph constants, so the size of a piece
//! is known from the index before any of its bytes are read, and the bytes
//! are handed out as a `TensorProto` exactly as stored (no float rounding).

use bytes::Bytes;

use super::reader::{BundleReader, TensorData, num_elements};
use super::slices::{Extent1, parse_spec, slice_key};
use super::{BundleError, element_size};
use crate::format::proto::{DataType, TensorProto};

/// Where a variable's value lies in the bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub dtype: DataType,
    /// The shape of the value the variable holds (the slice's extents).
    pub shape: Vec<i64>,
    /// Bytes of the value as stored (exact for fixed-size dtypes).
    pub bytes: u64,
    location: Location,
}

#[derive(Debug, Clone, PartialEq)]
enum Location {
    /// The whole tensor stored under the key.
    Whole,
    /// A slice stored on its own under this encoded slice key.
    StoredSlice(Vec<u8>),
    /// A slice cut out of the whole tensor: (start, length) per dimension.
    CutFrom(Vec<(u64, u64)>),
}

/// Finds the value of `key` restricted to `slice_spec` (`""` for the whole
/// tensor) from the index alone, reading no tensor bytes.
pub fn locate_piece(
    reader: &BundleReader,
    key: &str,
    slice_spec: &str,
) -> Result<Piece, BundleError> {
    let (dtype, full_shape) = reader.dtype_and_shape(key)?;
    if slice_spec.is_empty() {
        let bytes = stored_bytes(reader, key)?;
        return Ok(piece(dtype, full_shape, bytes, Location::Whole));
    }
    let bad = |reason: String| bad_entry(reader, key, reason);
    let (spec_shape, extents) = parse_spec(slice_spec)
        .ok_or_else(|| bad(format!("malformed slice spec {slice_spec:?}")))?;
    if spec_shape != full_shape {
        return Err(bad(format!(
            "slice spec {slice_spec:?} is of shape {spec_shape:?}, the stored tensor of {full_shape:?}"
        )));
    }
    let ranges = resolve(&extents, &full_shape)
        .ok_or_else(|| bad(format!("slice spec {slice_spec:?} lies outside the tensor")))?;
    let shape: Vec<i64> = ranges.iter().map(|&(_, len)| len as i64).collect();
    if shape == full_shape {
        let bytes = stored_bytes(reader, key)?;
        return Ok(piece(dtype, shape, bytes, Location::Whole));
    }
    let stored = slice_key(key, &canonical(&ranges, &full_shape));
    if let Ok(entry) = reader.entry(&stored) {
        let bytes = u64::try_from(entry.size).unwrap_or(0);
        return Ok(piece(dtype, shape, bytes, Location::StoredSlice(stored)));
    }
    let size = element_size(dtype)
        .ok_or_else(|| bad("only fixed-size tensors can be cut into slices".into()))?;
    let bytes = num_elements(&shape)
        .and_then(|n| n.checked_mul(size as u64))
        .ok_or_else(|| bad("the slice's size overflows".into()))?;
    Ok(piece(dtype, shape, bytes, Location::CutFrom(ranges)))
}

/// Reads the piece's value, checked against its crc32c, as a constant's
/// tensor: fixed-size elements as little-endian `tensor_content`, strings
/// one per `string_val`.
pub fn read_piece(
    reader: &BundleReader,
    key: &str,
    piece: &Piece,
) -> Result<TensorProto, BundleError> {
    let data = match &piece.location {
        Location::Whole => reader.read_tensor(key)?,
        Location::StoredSlice(stored) => TensorData::Raw(stored_slice(reader, key, stored, piece)?),
        Location::CutFrom(ranges) => TensorData::Raw(cut(reader, key, piece, ranges)?),
    };
    Ok(tensor_proto(piece, data))
}

fn piece(dtype: DataType, shape: Vec<i64>, bytes: u64, location: Location) -> Piece {
    Piece {
        dtype,
        shape,
        bytes,
        location,
    }
}

/// The stored bytes of a whole tensor (summed over its slices when partitioned).
fn stored_bytes(reader: &BundleReader, key: &str) -> Result<u64, BundleError> {
    let entry = reader.entry(key.as_bytes())?;
    if entry.slices.is_empty() {
        return Ok(u64::try_from(entry.size).unwrap_or(0));
    }
    Ok(entry
        .slices
        .iter()
        .filter_map(|s| {
            let stored = slice_key(key, &super::slices::extents(s));
            reader.entry(&stored).ok().map(|e| e.size)
        })
        .map(|size| u64::try_from(size).unwrap_or(0))
        .sum())
}

/// The bytes of a slice stored under its own key, little-endian.
fn stored_slice(
    reader: &BundleReader,
    key: &str,
    stored: &[u8],
    piece: &Piece,
) -> Result<Vec<u8>, BundleError> {
    let size = element_size(piece.dtype).ok_or_else(|| {
        bad_entry(
            reader,
            key,
            "only fixed-size partitioned tensors are frozen",
        )
    })?;
    let raw = reader.read_raw(stored)?;
    Ok(if reader.is_big_endian() {
        swap_bytes(raw, size)
    } else {
        raw
    })
}

/// The slice `ranges` of the whole tensor, row-major.
fn cut(
    reader: &BundleReader,
    key: &str,
    piece: &Piece,
    ranges: &[(u64, u64)],
) -> Result<Vec<u8>, BundleError> {
    let (_, full_shape) = reader.dtype_and_shape(key)?;
    let TensorData::Raw(whole) = reader.read_tensor(key)? else {
        return Err(bad_entry(reader, key, "strings cannot be cut into slices"));
    };
    let size = element_size(piece.dtype).unwrap_or(1);
    let mut out = Vec::with_capacity(usize::try_from(piece.bytes).unwrap_or(0));
    for index in 0..num_elements(&piece.shape).unwrap_or(0) {
        let at = source_offset(index, ranges, &full_shape) as usize * size;
        let element = whole
            .get(at..at + size)
            .ok_or_else(|| bad_entry(reader, key, "a slice reaches past the tensor's bytes"))?;
        out.extend_from_slice(element);
    }
    Ok(out)
}

/// Where element `index` of the slice (row-major) is in the whole tensor.
fn source_offset(index: u64, ranges: &[(u64, u64)], full_shape: &[i64]) -> u64 {
    let mut rest = index;
    let mut offset = 0;
    let mut stride = 1;
    for (&(start, len), &dim) in ranges.iter().zip(full_shape).rev() {
        let coordinate = rest.checked_rem(len).unwrap_or(0);
        rest = rest.checked_div(len).unwrap_or(0);
        offset += (start + coordinate) * stride;
        stride *= dim as u64;
    }
    offset
}

/// (start, length) per dimension, whole dimensions filled in; `None` when
/// the slice leaves the tensor.
fn resolve(extents: &[Extent1], shape: &[i64]) -> Option<Vec<(u64, u64)>> {
    extents
        .iter()
        .zip(shape)
        .map(|(e, &dim)| {
            let (start, len) = e.length.map_or((0, dim), |len| (e.start, len));
            let end = start.checked_add(len)?;
            (start >= 0 && len >= 0 && end <= dim).then_some((start as u64, len as u64))
        })
        .collect()
}

/// Extents as TensorFlow keys stored slices: a whole dimension has no length.
fn canonical(ranges: &[(u64, u64)], shape: &[i64]) -> Vec<Extent1> {
    ranges
        .iter()
        .zip(shape)
        .map(|(&(start, len), &dim)| {
            let whole = start == 0 && len as i64 == dim;
            Extent1 {
                start: start as i64,
                length: (!whole).then_some(len as i64),
            }
        })
        .collect()
}

fn tensor_proto(piece: &Piece, data: TensorData) -> TensorProto {
    let mut proto = TensorProto {
        dtype: piece.dtype as i32,
        tensor_shape: Some(crate::format::dtypes::shape_proto(&piece.shape)),
        ..TensorProto::default()
    };
    match data {
        TensorData::Raw(raw) => proto.tensor_content = Bytes::from(raw),
        TensorData::Strings(strings) => {
            proto.string_val = strings.into_iter().map(Bytes::from).collect()
        }
    }
    proto
}

fn swap_bytes(mut raw: Vec<u8>, size: usize) -> Vec<u8> {
    for chunk in raw.chunks_exact_mut(size) {
        chunk.reverse();
    }
    raw
}

fn bad_entry(reader: &BundleReader, key: &str, reason: impl Into<String>) -> BundleError {
    BundleError::BadEntry {
        path: reader.index_path().to_path_buf(),
        key: key.into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::bundle::BundleWriter;

    fn floats(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn rows(start: i64, length: i64) -> [Extent1; 2] {
        [
            Extent1 {
                start,
                length: Some(length),
            },
            Extent1 {
                start: 0,
                length: None,
            },
        ]
    }

    /// A bundle with `w` (2x2, whole) and `e` (3x2, stored as rows 0..2 and 2..3).
    fn bundle() -> (tempfile::TempDir, BundleReader) {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("ckpt");
        let mut writer = BundleWriter::create(&prefix).unwrap();
        let whole = floats(&[1.0, 2.0, 3.0, 4.0]);
        writer.add("w", DataType::DtFloat, &[2, 2], &whole).unwrap();
        let (top, bottom) = (floats(&[1.5, 2.5, 3.5, 4.5]), floats(&[5.5, 6.5]));
        let full = [3, 2];
        let e = DataType::DtFloat;
        writer.add_slice("e", e, &full, &rows(0, 2), &top).unwrap();
        writer
            .add_slice("e", e, &full, &rows(2, 1), &bottom)
            .unwrap();
        writer.finish().unwrap();
        let reader = BundleReader::open(&prefix).unwrap();
        (dir, reader)
    }

    fn read(reader: &BundleReader, key: &str, spec: &str) -> (Piece, TensorProto) {
        let piece = locate_piece(reader, key, spec).unwrap();
        let proto = read_piece(reader, key, &piece).unwrap();
        (piece, proto)
    }

    #[test]
    fn a_whole_tensor_comes_back_byte_for_byte() {
        let (_dir, reader) = bundle();
        let (piece, proto) = read(&reader, "w", "");
        assert_eq!((piece.shape.as_slice(), piece.bytes), (&[2, 2][..], 16));
        assert_eq!(proto.tensor_content, floats(&[1.0, 2.0, 3.0, 4.0]));
        assert_eq!(proto.dtype, DataType::DtFloat as i32);
    }

    #[test]
    fn a_stored_slice_is_read_under_its_own_key() {
        let (_dir, reader) = bundle();
        let (piece, proto) = read(&reader, "e", "3 2 2,1:0,2");
        assert!(matches!(piece.location, Location::StoredSlice(_)));
        assert_eq!((piece.shape.as_slice(), piece.bytes), (&[1, 2][..], 8));
        assert_eq!(proto.tensor_content, floats(&[5.5, 6.5]));
    }

    #[test]
    fn a_slice_not_stored_alone_is_cut_from_the_whole() {
        let (_dir, reader) = bundle();
        let (piece, proto) = read(&reader, "w", "2 2 0,2:1,1");
        assert!(matches!(piece.location, Location::CutFrom(_)));
        assert_eq!((piece.shape.as_slice(), piece.bytes), (&[2, 1][..], 8));
        assert_eq!(proto.tensor_content, floats(&[2.0, 4.0]));
        let (_, across) = read(&reader, "e", "3 2 1,2:-");
        assert_eq!(across.tensor_content, floats(&[3.5, 4.5, 5.5, 6.5]));
    }

    #[test]
    fn a_spec_of_another_shape_or_outside_the_tensor_is_refused() {
        let (_dir, reader) = bundle();
        for spec in ["4 2 0,2:-", "3 2 2,2:-", "3 2 nonsense"] {
            let err = locate_piece(&reader, "e", spec).unwrap_err().to_string();
            assert!(err.contains("\"e\""), "{spec}: {err}");
        }
    }
}
