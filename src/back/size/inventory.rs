//! What a SavedModel directory is made of, measured on disk or projected
//! before writing: the figures limits and advice are computed from, and how
//! much each storage precision would make of them.

use serde::Serialize;

use crate::format::bundle::reader::num_elements;
use crate::format::bundle::slices::{extents, slice_key};
use crate::format::bundle::{BundleError, BundleReader};
use crate::format::proto::{BundleEntryProto, DataType, TensorProto};
use crate::storage::{StorageOptions, WeightPrecision};

pub use crate::storage::WEIGHTS_MIN_ELEMENTS;

/// The parts of a SavedModel directory, in bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// `saved_model.pb` (or `saved_model.pbtxt`).
    pub saved_model_bytes: u64,
    /// `variables/variables.index`.
    pub variables_index_bytes: u64,
    /// Every variable of `variables/`, by checkpoint key (an int8 one with
    /// its scales).
    pub tensors: Vec<StoredTensor>,
    /// The bytes of a TF2 checkpoint's object graph entry in `variables/`
    /// (no variable: the metadata naming its objects).
    pub object_graph_bytes: u64,
    /// Bytes of the data shards that no index entry accounts for, or all of
    /// them when the index could not be broken down.
    pub unaccounted_data_bytes: u64,
    /// Each file under `assets/`, by its path there.
    pub assets: Vec<FileBytes>,
    /// Every other file (`assets.extra/`, `fingerprint.pb`, ...), by its
    /// path in the directory.
    pub other: Vec<FileBytes>,
    /// Float constants of the graphs in `saved_model.pb`, one per node and
    /// MetaGraphDef: what `--weights` would also convert there.
    pub graph_constants: Vec<Piece>,
    /// How the export that wrote it stored its float32 weights (unknown, so
    /// as written, for a directory measured on its own).
    pub stored: StoredWeights,
}

/// The `--weights` an export already applied: the advice offers only a
/// smaller precision, projected from what the export stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredWeights {
    /// `None`: float32 weights are float32.
    pub precision: Option<Precision>,
    /// Tensors with fewer elements keep their dtype (`--weights-min-size`).
    pub min_elements: u64,
}

impl Default for StoredWeights {
    fn default() -> StoredWeights {
        StoredWeights {
            precision: None,
            min_elements: WEIGHTS_MIN_ELEMENTS,
        }
    }
}

impl StoredWeights {
    /// What an export with `options` stores.
    pub fn of(options: &StorageOptions) -> StoredWeights {
        let precision = match options.weights {
            WeightPrecision::F32 => None,
            WeightPrecision::F16 => Some(Precision::F16),
            WeightPrecision::Int8 => Some(Precision::Int8),
        };
        StoredWeights {
            precision,
            min_elements: options.min_elements,
        }
    }

    /// The precisions still worth advising: each one smaller than the
    /// weights are stored at already.
    pub fn smaller_precisions(&self) -> &'static [Precision] {
        match self.precision {
            None => &[Precision::F16, Precision::Int8],
            Some(Precision::F16) => &[Precision::Int8],
            Some(Precision::Int8) => &[],
        }
    }

    /// Whether a piece of `dtype` is a float32 weight as stored: float32
    /// ones always, float16 ones when the export stored weights as float16
    /// (it converted them from float32; a float16 the checkpoint held
    /// itself is counted too, so the figures stay an upper bound).
    fn is_weight(&self, dtype: DataType) -> bool {
        dtype == DataType::DtFloat
            || (dtype == DataType::DtHalf && self.precision == Some(Precision::F16))
    }
}

/// One stored tensor of `variables/`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTensor {
    pub key: String,
    pub dtype: DataType,
    /// Its pieces: one for a whole tensor, one per slice when partitioned.
    pub pieces: Vec<Piece>,
    /// The float32 scales stored with a tensor stored as int8, one entry
    /// per piece: part of this variable's bytes, never converted.
    pub scales: Vec<Piece>,
}

/// A tensor's stored shape and bytes (a whole tensor or one slice of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub dtype: DataType,
    pub shape: Vec<i64>,
    pub bytes: u64,
}

/// A file and its size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileBytes {
    pub path: String,
    pub bytes: u64,
}

/// A storage precision `--weights` can pick for float weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    F16,
    Int8,
}

impl Piece {
    /// Bytes once stored at `precision`: float32 tensors of at least
    /// [`WEIGHTS_MIN_ELEMENTS`] elements become 2 bytes per element (f16) or
    /// 1 byte per element plus a 4-byte scale per slice along the last axis
    /// (int8; one scale for rank 0 and 1). Anything else keeps its bytes, as
    /// does a conversion that would not make it smaller.
    pub fn bytes_at(&self, precision: Precision) -> u64 {
        self.bytes_after(precision, &StoredWeights::default())
    }

    /// [`Piece::bytes_at`] for a piece of an export that stored its weights
    /// as `stored` says: its threshold, and float16 weights that int8 would
    /// take to 1 byte per element plus the scales.
    pub fn bytes_after(&self, precision: Precision, stored: &StoredWeights) -> u64 {
        let Some(elements) = num_elements(&self.shape) else {
            return self.bytes;
        };
        if !stored.is_weight(self.dtype) || elements < stored.min_elements {
            return self.bytes;
        }
        let converted = match precision {
            Precision::F16 => elements.saturating_mul(2),
            Precision::Int8 => elements.saturating_add(scales(&self.shape).saturating_mul(4)),
        };
        converted.min(self.bytes)
    }
}

/// int8 scales of a tensor: one per entry of the last axis for rank >= 2.
fn scales(shape: &[i64]) -> u64 {
    match shape {
        [_, .., last] => u64::try_from(*last).unwrap_or(0),
        _ => 1,
    }
}

impl StoredTensor {
    /// Its pieces' bytes and its scales'.
    pub fn bytes(&self) -> u64 {
        let pieces = self.pieces.iter().chain(&self.scales);
        pieces.map(|p| p.bytes).fold(0, u64::saturating_add)
    }

    pub fn bytes_after(&self, precision: Precision, stored: &StoredWeights) -> u64 {
        let at = self.pieces.iter().map(|p| p.bytes_after(precision, stored));
        let scales = self.scales.iter().map(|p| p.bytes);
        at.chain(scales).fold(0, u64::saturating_add)
    }
}

/// The bytes of `files`, summed.
pub fn sum_files(files: &[FileBytes]) -> u64 {
    files.iter().map(|f| f.bytes).fold(0, u64::saturating_add)
}

impl Inventory {
    /// The variables' bytes in the data shards, the object graph's, and
    /// what no entry accounts for.
    pub fn variables_data_bytes(&self) -> u64 {
        let tensors = self.tensors.iter().map(StoredTensor::bytes);
        let known = tensors.fold(self.object_graph_bytes, u64::saturating_add);
        known.saturating_add(self.unaccounted_data_bytes)
    }

    /// Every file of the directory, summed.
    pub fn total_bytes(&self) -> u64 {
        [
            self.saved_model_bytes,
            self.variables_index_bytes,
            self.variables_data_bytes(),
            sum_files(&self.assets),
            sum_files(&self.other),
        ]
        .into_iter()
        .fold(0, u64::saturating_add)
    }

    /// Bytes `precision` would take off the variables' data.
    pub fn variable_savings(&self, precision: Precision) -> u64 {
        let saved = self
            .tensors
            .iter()
            .map(|t| t.bytes() - t.bytes_after(precision, &self.stored));
        saved.fold(0, u64::saturating_add)
    }

    /// Bytes `precision` would take off the graphs' float constants.
    pub fn constant_savings(&self, precision: Precision) -> u64 {
        let pieces = self.graph_constants.iter();
        let saved = pieces.map(|p| p.bytes - p.bytes_after(precision, &self.stored));
        saved.fold(0, u64::saturating_add)
    }

    /// The largest single tensor once stored at `precision` (or as is):
    /// what a frozen constant would hold.
    pub fn largest_tensor(&self, precision: Option<Precision>) -> u64 {
        let bytes = self.tensors.iter().map(|t| match precision {
            Some(p) => t.bytes_after(p, &self.stored),
            None => t.bytes(),
        });
        bytes.max().unwrap_or(0)
    }
}

/// Tensor `name` of `reader` with the shape and bytes of each stored piece.
pub fn stored_tensor(reader: &BundleReader, name: &str) -> Result<StoredTensor, BundleError> {
    let entry = reader.entry(name.as_bytes())?;
    let dtype = DataType::try_from(entry.dtype).unwrap_or(DataType::DtInvalid);
    let pieces = if entry.slices.is_empty() {
        vec![piece(entry)]
    } else {
        let keys = entry.slices.iter().map(|s| slice_key(name, &extents(s)));
        let entries: Result<Vec<_>, _> = keys.map(|key| reader.entry(&key).map(piece)).collect();
        entries?
    };
    Ok(StoredTensor {
        key: name.into(),
        dtype,
        pieces,
        scales: Vec::new(),
    })
}

/// An unsliced entry as a piece: the bytes the reader checked lie in its shard.
fn piece(entry: &BundleEntryProto) -> Piece {
    let shape = entry
        .shape
        .as_ref()
        .map(|s| s.dim.iter().map(|d| d.size).collect());
    Piece {
        dtype: DataType::try_from(entry.dtype).unwrap_or(DataType::DtInvalid),
        shape: shape.unwrap_or_default(),
        bytes: u64::try_from(entry.size).unwrap_or(0),
    }
}

/// A float32 or float16 constant's piece, if `tensor` is one: its shape
/// and the bytes its values take in the graph (`tensor_content`, else the
/// repeated `float_val` / `half_val`, 4 / 2 bytes each).
pub fn float_constant(tensor: &TensorProto) -> Option<Piece> {
    let (dtype, values) = match DataType::try_from(tensor.dtype).ok()? {
        DataType::DtFloat => (DataType::DtFloat, tensor.float_val.len() as u64 * 4),
        DataType::DtHalf => (DataType::DtHalf, tensor.half_val.len() as u64 * 2),
        _ => return None,
    };
    let shape = tensor.tensor_shape.as_ref()?;
    let bytes = if tensor.tensor_content.is_empty() {
        values
    } else {
        tensor.tensor_content.len() as u64
    };
    Some(Piece {
        dtype,
        shape: shape.dim.iter().map(|d| d.size).collect(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(shape: &[i64]) -> Piece {
        let elements = num_elements(shape).unwrap();
        Piece {
            dtype: DataType::DtFloat,
            shape: shape.to_vec(),
            bytes: elements * 4,
        }
    }

    #[test]
    fn f16_halves_a_float_tensor_at_the_threshold_and_above() {
        assert_eq!(float(&[32, 32]).bytes_at(Precision::F16), 2048);
        assert_eq!(float(&[1024]).bytes_at(Precision::F16), 2048);
        assert_eq!(float(&[1023]).bytes_at(Precision::F16), 4092);
    }

    #[test]
    fn int8_is_one_byte_per_element_plus_a_scale_per_last_axis_entry() {
        // 3x3x16x64 conv kernel: 9,216 elements, 64 output channels.
        assert_eq!(
            float(&[3, 3, 16, 64]).bytes_at(Precision::Int8),
            9216 + 64 * 4
        );
        // A vector has one scale.
        assert_eq!(float(&[2048]).bytes_at(Precision::Int8), 2048 + 4);
        assert_eq!(float(&[512, 2]).bytes_at(Precision::Int8), 1024 + 2 * 4);
    }

    #[test]
    fn other_dtypes_and_small_tensors_keep_their_bytes() {
        let ints = Piece {
            dtype: DataType::DtInt64,
            shape: vec![4096],
            bytes: 4096 * 8,
        };
        assert_eq!(ints.bytes_at(Precision::Int8), ints.bytes);
        assert_eq!(float(&[10]).bytes_at(Precision::Int8), 40);
        assert_eq!(float(&[]).bytes_at(Precision::F16), 4);
    }

    #[test]
    fn a_repeated_constant_never_grows() {
        let filled = Piece {
            dtype: DataType::DtFloat,
            shape: vec![4096],
            bytes: 4,
        };
        assert_eq!(filled.bytes_at(Precision::F16), 4);
    }

    fn inventory() -> Inventory {
        Inventory {
            saved_model_bytes: 1000,
            variables_index_bytes: 100,
            tensors: vec![
                StoredTensor {
                    key: "dense/kernel".into(),
                    dtype: DataType::DtFloat,
                    pieces: vec![float(&[256, 8])],
                    scales: Vec::new(),
                },
                StoredTensor {
                    key: "embedding".into(),
                    dtype: DataType::DtFloat,
                    pieces: vec![float(&[600, 4]), float(&[400, 4])],
                    scales: Vec::new(),
                },
                StoredTensor {
                    key: "dense/bias".into(),
                    dtype: DataType::DtFloat,
                    pieces: vec![float(&[8])],
                    scales: Vec::new(),
                },
            ],
            object_graph_bytes: 0,
            unaccounted_data_bytes: 3,
            assets: vec![FileBytes {
                path: "vocab.txt".into(),
                bytes: 50,
            }],
            other: vec![FileBytes {
                path: "fingerprint.pb".into(),
                bytes: 7,
            }],
            graph_constants: vec![float(&[2048])],
            stored: StoredWeights::default(),
        }
    }

    #[test]
    fn an_inventory_sums_every_part() {
        let inv = inventory();
        let data = 256 * 8 * 4 + (600 + 400) * 4 * 4 + 8 * 4 + 3;
        assert_eq!(inv.variables_data_bytes(), data);
        assert_eq!(inv.total_bytes(), 1000 + 100 + data + 50 + 7);
    }

    #[test]
    fn savings_count_each_piece_on_its_own() {
        let inv = inventory();
        // f16: the kernel (2,048 elements) and the 600x4 slice (2,400) halve;
        // the 400x4 slice (1,600) too; the bias stays.
        assert_eq!(
            inv.variable_savings(Precision::F16),
            (2048 + 2400 + 1600) * 2
        );
        // int8: each saves 3 bytes per element, minus 4 per scale (8, 4, 4).
        let int8 = (2048 * 3 - 32) + (2400 * 3 - 16) + (1600 * 3 - 16);
        assert_eq!(inv.variable_savings(Precision::Int8), int8);
        assert_eq!(inv.constant_savings(Precision::F16), 4096);
        assert_eq!(inv.largest_tensor(None), 16000);
        assert_eq!(inv.largest_tensor(Some(Precision::F16)), 8000);
    }
}
