//! `variables/` of a lean TF2 SavedModel: the kept variables' keys copied
//! from the source bundle by byte range (no decoding, checksums carried
//! over), plus the pruned checkpoint object graph under
//! [`OBJECT_GRAPH_KEY`]. A variable the plan retyped to float16 whose source
//! stores float32 is converted while it is copied, a chunk at a time.

use std::path::Path;

use serde::Serialize;

use super::super::{KeptVariable, Tf2Error};
use crate::format::bundle::copy_plan::{CopyPlan, RecodedRecord};
use crate::format::bundle::writer::Recode;
use crate::format::bundle::{BundleError, BundleReader, BundleWriter, data_path, index_path};
use crate::format::proto::DataType;
use crate::front::object_graph::OBJECT_GRAPH_KEY;
use crate::storage::convert::{ErrorStats, f16_bytes_into};
use crate::storage::lanes::read_le_f32s;
use crate::typing::dtype_name;

/// One kept key as written.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CopiedKey {
    pub key: String,
    /// The dtype written (float16 for a converted float32).
    pub dtype: String,
    pub shape: Vec<i64>,
    /// Bytes written for it.
    pub bytes: u64,
    /// Bytes it had in the source.
    pub source_bytes: u64,
    /// The worst error of a float32 → float16 conversion; `None` when copied as is.
    pub conversion_error: Option<ErrorStats>,
}

/// What `variables/` holds once written.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VariablesWritten {
    pub keys: Vec<CopiedKey>,
    /// Bytes of the serialized object graph entry.
    pub object_graph_bytes: u64,
    /// The data shard plus the index.
    pub bytes: u64,
    /// The index alone.
    pub index_bytes: u64,
}

/// Where the kept variables' values come from: a bundle, and per variable
/// (in the plan's order) the key it holds the value under — the
/// variable's own key, or an object-based checkpoint's key for the same
/// object.
pub struct Values<'a> {
    pub reader: &'a BundleReader,
    pub keys: Vec<String>,
}

impl<'a> Values<'a> {
    /// Each variable under its own key in `reader` (the SavedModel's `variables/`).
    pub fn own(reader: &'a BundleReader, variables: &[KeptVariable]) -> Values<'a> {
        Values {
            reader,
            keys: variables.iter().map(|v| v.key.clone()).collect(),
        }
    }

    /// Each variable in the object-based checkpoint `reader`, under the key
    /// that ends with the variable's own object-path key: the checkpoint
    /// holds the same object, at its root or below a child (`model/` for a
    /// `tf.train.Checkpoint(model=...)`), the same prefix for every kept
    /// variable. A variable the checkpoint lacks is an error naming it.
    pub fn from_checkpoint(
        reader: &'a BundleReader,
        variables: &[KeptVariable],
    ) -> Result<Values<'a>, Tf2Error> {
        let names = reader.names();
        let Some(first) = variables.first() else {
            return Ok(Values {
                reader,
                keys: Vec::new(),
            });
        };
        let prefixes = names.iter().filter_map(|name| {
            let prefix = name.strip_suffix(first.key.as_str())?;
            (prefix.is_empty() || prefix.ends_with('/')).then_some(prefix)
        });
        let mut best: Option<(usize, &str)> = None;
        for prefix in prefixes {
            let found = variables
                .iter()
                .filter(|v| reader.contains(&format!("{prefix}{}", v.key)))
                .count();
            if best.is_none_or(|(most, _)| found > most) {
                best = Some((found, prefix));
            }
        }
        let prefix = best.map_or("", |(_, p)| p);
        let keys: Vec<String> = variables
            .iter()
            .map(|v| format!("{prefix}{}", v.key))
            .collect();
        if let Some(missing) = variables
            .iter()
            .zip(&keys)
            .find(|(_, k)| !reader.contains(k))
        {
            return Err(Tf2Error::MissingKey {
                path: reader.prefix().to_path_buf(),
                object_path: missing.0.object_path.clone(),
                key: missing.1.clone(),
            });
        }
        Ok(Values { reader, keys })
    }
}

/// How a kept key gets from the source bundle to the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transfer {
    /// Byte for byte.
    Copy,
    /// float32 stored, float16 wanted.
    ToHalf,
}

/// Checks each kept variable against what the source stores and says how
/// it is transferred: the same dtype and shape, or float16 in the graph
/// over float32 stored. Anything else is an error naming the key.
fn transfers(values: &Values<'_>, variables: &[KeptVariable]) -> Result<Vec<Transfer>, Tf2Error> {
    let source = values.reader;
    let path = source.prefix().to_path_buf();
    variables
        .iter()
        .zip(&values.keys)
        .map(|(v, key)| {
            if !source.contains(key) {
                return Err(Tf2Error::MissingKey {
                    path: path.clone(),
                    object_path: v.object_path.clone(),
                    key: key.clone(),
                });
            }
            let (stored, shape) = source.dtype_and_shape(key).map_err(bundle_error(&path))?;
            let transfer = match (v.dtype, stored) {
                (graph, stored) if graph == stored => Transfer::Copy,
                (DataType::DtHalf, DataType::DtFloat) => Transfer::ToHalf,
                _ => return Err(mismatch(&path, key, v, stored, &shape)),
            };
            if shape != v.shape {
                return Err(mismatch(&path, key, v, stored, &shape));
            }
            Ok(transfer)
        })
        .collect()
}

fn mismatch(path: &Path, key: &str, v: &KeptVariable, stored: DataType, shape: &[i64]) -> Tf2Error {
    Tf2Error::StoredMismatch {
        path: path.to_path_buf(),
        key: key.to_string(),
        stored: format!("{} {shape:?}", dtype_name(stored as i32)),
        graph: format!("{} {:?}", dtype_name(v.dtype as i32), v.shape),
    }
}

fn bundle_error(path: &Path) -> impl Fn(BundleError) -> Tf2Error + '_ {
    move |source| Tf2Error::Bundle {
        path: path.to_path_buf(),
        source,
    }
}

/// The bytes `variables/` will take (data shard and index), worked out
/// without writing anything, so `--max-size` can refuse first.
pub fn planned_bytes(
    values: &Values<'_>,
    variables: &[KeptVariable],
    object_graph: &[u8],
) -> Result<u64, Tf2Error> {
    let source = values.reader;
    let path = source.prefix().to_path_buf();
    let transfers = transfers(values, variables)?;
    let mut plan = CopyPlan::new(Path::new("variables/variables"));
    for ((variable, key), transfer) in variables.iter().zip(&values.keys).zip(transfers) {
        match transfer {
            Transfer::Copy => {
                plan.copy(source, key).map_err(bundle_error(&path))?;
            }
            Transfer::ToHalf => {
                let records = halved_records(source, key).map_err(bundle_error(&path))?;
                plan.recode(source, key, DataType::DtHalf, &records)
                    .map_err(bundle_error(&path))?;
            }
        }
        if *key != variable.key {
            plan.rename(key, &variable.key)
                .map_err(bundle_error(&path))?;
        }
    }
    plan.add(
        OBJECT_GRAPH_KEY,
        DataType::DtString,
        &[],
        &string_record(object_graph),
    )
    .map_err(bundle_error(&path))?;
    let index = plan.index_bytes().map_err(bundle_error(&path))?;
    Ok(plan.data_bytes() + index)
}

/// Each record of `key` at half its float32 length, with a stand-in
/// checksum (only the index's length is wanted; a zero would be left out
/// of the entry and shorten it).
fn halved_records(
    source: &BundleReader,
    key: &str,
) -> Result<std::collections::BTreeMap<Vec<u8>, RecodedRecord>, BundleError> {
    let mut records = std::collections::BTreeMap::new();
    for record in source.record_keys(key)? {
        let size = u64::try_from(source.entry(&record)?.size).unwrap_or(0) / 2;
        records.insert(
            record,
            RecodedRecord {
                size,
                masked_crc: u32::MAX,
            },
        );
    }
    Ok(records)
}

/// A scalar string tensor's record as the writer lays it out.
fn string_record(value: &[u8]) -> Vec<u8> {
    crate::format::bundle::writer::encode_strings(&[value])
}

/// Writes `variables/variables.{index,data-00000-of-00001}` at `prefix`:
/// every kept variable's key from `source`, then `object_graph` under
/// [`OBJECT_GRAPH_KEY`]. `progress` is told each chunk's bytes.
pub fn write_variables(
    values: &Values<'_>,
    variables: &[KeptVariable],
    object_graph: &[u8],
    prefix: &Path,
    mut progress: Option<&mut dyn FnMut(u64)>,
) -> Result<VariablesWritten, Tf2Error> {
    let source = values.reader;
    let path = source.prefix().to_path_buf();
    let out = prefix.to_path_buf();
    let transfers = transfers(values, variables)?;
    let mut writer = BundleWriter::create(prefix).map_err(bundle_error(&out))?;
    let mut keys = Vec::with_capacity(variables.len());
    for ((variable, key), transfer) in variables.iter().zip(&values.keys).zip(transfers) {
        let source_bytes = key_bytes(source, key).map_err(bundle_error(&path))?;
        let (bytes, conversion_error) = match transfer {
            Transfer::Copy => {
                let reborrowed = progress.as_mut().map(|p| &mut **p as &mut dyn FnMut(u64));
                let copied = writer.copy_from_reporting(source, key, reborrowed);
                (copied.map_err(bundle_error(&path))?, None)
            }
            Transfer::ToHalf => {
                let mut half = ToHalf::default();
                let written = writer.recode_from(source, key, &mut half);
                if let Some(progress) = progress.as_mut() {
                    progress(source_bytes);
                }
                (written.map_err(bundle_error(&path))?, Some(half.error))
            }
        };
        if *key != variable.key {
            writer
                .rename(key, &variable.key)
                .map_err(bundle_error(&out))?;
        }
        keys.push(CopiedKey {
            key: variable.key.clone(),
            dtype: dtype_name(variable.dtype as i32),
            shape: variable.shape.clone(),
            bytes,
            source_bytes,
            conversion_error,
        });
    }
    writer
        .add_strings(OBJECT_GRAPH_KEY, &[], &[object_graph])
        .map_err(bundle_error(&out))?;
    writer.finish().map_err(bundle_error(&out))?;
    Ok(VariablesWritten {
        keys,
        object_graph_bytes: string_record(object_graph).len() as u64,
        bytes: file_size(&index_path(prefix)) + file_size(&data_path(prefix, 0, 1)),
        index_bytes: file_size(&index_path(prefix)),
    })
}

/// Bytes of every record of `key` (all slices of a partitioned one).
pub fn key_bytes(source: &BundleReader, key: &str) -> Result<u64, BundleError> {
    let mut bytes = 0;
    for record in source.record_keys(key)? {
        bytes += u64::try_from(source.entry(&record)?.size).unwrap_or(0);
    }
    Ok(bytes)
}

/// The size of a written file (0 if it cannot be read).
fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// float32 → float16 (round to nearest even), measuring the error.
#[derive(Default)]
struct ToHalf {
    error: ErrorStats,
    /// The chunk being converted, as values (kept to reuse its memory).
    values: Vec<f32>,
}

impl Recode for ToHalf {
    fn dtype(&self) -> DataType {
        DataType::DtHalf
    }

    fn start(&mut self, _record_key: &[u8]) {}

    fn chunk(&mut self, input: &[u8], out: &mut Vec<u8>) {
        read_le_f32s(input, &mut self.values);
        f16_bytes_into(&self.values, out, &mut self.error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    fn kept(key: &str, dtype: DataType, shape: &[i64]) -> KeptVariable {
        KeptVariable {
            node: key.into(),
            object_id: 1,
            object_path: key.into(),
            key: format!("{key}/.ATTRIBUTES/VARIABLE_VALUE"),
            dtype,
            shape: shape.to_vec(),
        }
    }

    fn le_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// A source bundle with two float32 weights, a step counter and an
    /// optimizer slot.
    fn source(dir: &Path) -> BundleReader {
        let prefix = dir.join("source/variables");
        std::fs::create_dir_all(prefix.parent().unwrap()).unwrap();
        let mut writer = BundleWriter::create(&prefix).unwrap();
        let entries: [(&str, &[f32]); 3] = [
            ("kernel", &[0.1, -2.5, 3.0, 65504.0]),
            ("bias", &[1.0, 2.0]),
            ("optimizer/m", &[9.0, 9.0, 9.0, 9.0]),
        ];
        for (name, values) in entries {
            let key = format!("{name}/.ATTRIBUTES/VARIABLE_VALUE");
            let shape = [values.len() as i64];
            writer
                .add(&key, DataType::DtFloat, &shape, &le_bytes(values))
                .unwrap();
        }
        let step = 7i64.to_le_bytes();
        writer
            .add(
                "step/.ATTRIBUTES/VARIABLE_VALUE",
                DataType::DtInt64,
                &[],
                &step,
            )
            .unwrap();
        writer
            .add_strings(OBJECT_GRAPH_KEY, &[], &[b"old graph".as_slice()])
            .unwrap();
        writer.finish().unwrap();
        BundleReader::open(&prefix).unwrap()
    }

    #[test]
    fn only_kept_keys_and_the_new_object_graph_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let source = source(dir.path());
        let variables = [
            kept("kernel", DataType::DtFloat, &[4]),
            kept("step", DataType::DtInt64, &[]),
        ];
        let out = dir.path().join("out/variables");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let planned =
            planned_bytes(&Values::own(&source, &variables), &variables, b"new graph").unwrap();
        let written = write_variables(
            &Values::own(&source, &variables),
            &variables,
            b"new graph",
            &out,
            None,
        )
        .unwrap();
        assert_eq!(written.bytes, planned);
        let reader = BundleReader::open(&out).unwrap();
        let mut names = reader.names();
        names.sort();
        let expected = [
            OBJECT_GRAPH_KEY,
            "kernel/.ATTRIBUTES/VARIABLE_VALUE",
            "step/.ATTRIBUTES/VARIABLE_VALUE",
        ];
        assert_eq!(names, expected);
        for key in &expected[1..] {
            assert_eq!(
                reader.read_raw(key.as_bytes()).unwrap(),
                source.read_raw(key.as_bytes()).unwrap()
            );
        }
        let graph = reader.read_raw(OBJECT_GRAPH_KEY.as_bytes()).unwrap();
        assert_eq!(graph, string_record(b"new graph"));
        assert!(
            written
                .keys
                .iter()
                .all(|k| k.bytes == k.source_bytes && k.conversion_error.is_none())
        );
    }

    #[test]
    fn a_variable_retyped_to_half_is_converted_while_copied() {
        let dir = tempfile::tempdir().unwrap();
        let source = source(dir.path());
        let variables = [
            kept("kernel", DataType::DtHalf, &[4]),
            kept("bias", DataType::DtFloat, &[2]),
        ];
        let out = dir.path().join("out/variables");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let planned = planned_bytes(&Values::own(&source, &variables), &variables, b"g").unwrap();
        let written = write_variables(
            &Values::own(&source, &variables),
            &variables,
            b"g",
            &out,
            None,
        )
        .unwrap();
        assert_eq!(written.bytes, planned);
        let reader = BundleReader::open(&out).unwrap();
        let key = "kernel/.ATTRIBUTES/VARIABLE_VALUE";
        assert_eq!(
            reader.dtype_and_shape(key).unwrap(),
            (DataType::DtHalf, vec![4])
        );
        let raw = reader.read_raw(key.as_bytes()).unwrap();
        let halves: Vec<f32> = raw
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        let expected: Vec<f32> = [0.1f32, -2.5, 3.0, 65504.0]
            .iter()
            .map(|v| f16::from_f32(*v).to_f32())
            .collect();
        assert_eq!(halves, expected);
        let kernel = &written.keys[0];
        assert_eq!((kernel.bytes, kernel.source_bytes), (8, 16));
        let error = kernel.conversion_error.unwrap();
        assert!(
            error.max_abs_error > 0.0 && error.max_abs_error < 1e-3,
            "{error:?}"
        );
        assert_eq!(written.keys[1].conversion_error, None);
    }

    #[test]
    fn a_missing_key_or_another_dtype_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let source = source(dir.path());
        let out = dir.path().join("out/variables");
        let missing = [kept("gone", DataType::DtFloat, &[1])];
        let err = write_variables(&Values::own(&source, &missing), &missing, b"", &out, None)
            .unwrap_err();
        assert!(
            matches!(&err, Tf2Error::MissingKey { key, .. } if key.starts_with("gone/")),
            "{err}"
        );
        let retyped = [kept("step", DataType::DtHalf, &[])];
        let err = planned_bytes(&Values::own(&source, &retyped), &retyped, b"").unwrap_err();
        assert!(err.to_string().contains("step/.ATTRIBUTES"), "{err}");
        let reshaped = [kept("bias", DataType::DtFloat, &[3])];
        let err = write_variables(&Values::own(&source, &reshaped), &reshaped, b"", &out, None)
            .unwrap_err();
        assert!(matches!(err, Tf2Error::StoredMismatch { .. }), "{err}");
        assert!(!out.parent().unwrap().exists(), "nothing written");
    }

    #[test]
    fn values_from_a_checkpoint_are_found_under_its_prefix_and_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("ckpt/ckpt-1");
        std::fs::create_dir_all(prefix.parent().unwrap()).unwrap();
        let mut writer = BundleWriter::create(&prefix).unwrap();
        let kernel = le_bytes(&[5.0, 6.0, 7.0, 8.0]);
        let key = "model/kernel/.ATTRIBUTES/VARIABLE_VALUE";
        writer.add(key, DataType::DtFloat, &[4], &kernel).unwrap();
        let counter = 1i64.to_le_bytes();
        let counter_key = "save_counter/.ATTRIBUTES/VARIABLE_VALUE";
        writer
            .add(counter_key, DataType::DtInt64, &[], &counter)
            .unwrap();
        writer.finish().unwrap();
        let checkpoint = BundleReader::open(&prefix).unwrap();
        let variables = [kept("kernel", DataType::DtFloat, &[4])];
        let values = Values::from_checkpoint(&checkpoint, &variables).unwrap();
        assert_eq!(values.keys, [key]);
        let out = dir.path().join("out/variables");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let planned = planned_bytes(&values, &variables, b"g").unwrap();
        let written = write_variables(&values, &variables, b"g", &out, None).unwrap();
        assert_eq!(written.bytes, planned);
        let reader = BundleReader::open(&out).unwrap();
        let own = "kernel/.ATTRIBUTES/VARIABLE_VALUE";
        assert_eq!(reader.read_raw(own.as_bytes()).unwrap(), kernel);
        assert!(!reader.contains(key) && !reader.contains(counter_key));

        let lacking = [
            kept("kernel", DataType::DtFloat, &[4]),
            kept("bias", DataType::DtFloat, &[2]),
        ];
        let err = Values::from_checkpoint(&checkpoint, &lacking)
            .err()
            .unwrap();
        assert!(
            matches!(&err, Tf2Error::MissingKey { key, .. } if key == "model/bias/.ATTRIBUTES/VARIABLE_VALUE"),
            "{err}"
        );
    }
}
