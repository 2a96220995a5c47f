//! Decides, per checkpoint key of the kept variables, how it is stored:
//! its dtype and the options say what it could become, its size whether it
//! is worth it, its readers ([`super::uses`]) whether it may change value,
//! and one streaming pass over its values whether its values allow it (and,
//! for int8, its scales).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::convert::KeyErrors;
use super::convert::{F16_MAX, FloatSurvey, IntRange, channels};
use super::lanes::read_le_f32s;
use super::report::{ConvertedTensor, SkippedTensor, StorageReport, TensorKind};
use super::uses::float_math_only;
use super::{StorageOptions, WeightPrecision};
use crate::format::bundle::copy_plan::RecodedRecord;
use crate::format::bundle::reader::num_elements;
use crate::format::bundle::slices::{parse_spec, slice_key};
use crate::format::bundle::variables::scales_key_base;
use crate::format::bundle::writer::COPY_CHUNK_BYTES;
use crate::format::bundle::{BundleError, BundleReader};
use crate::format::proto::DataType;
use crate::ir::{Graph, TensorRef};
use crate::typing::{dtype_name, element_size};

/// How a tensor is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredForm {
    AsIs,
    /// float32 stored as float16.
    Half,
    /// float32 stored as int8 with float32 scales along the last axis.
    Int8,
    /// int64 stored as int32.
    Int32,
}

impl StoredForm {
    /// The dtype in the bundle for a tensor of `dtype`.
    pub fn stored_dtype(self, dtype: DataType) -> DataType {
        match self {
            StoredForm::AsIs => dtype,
            StoredForm::Half => DataType::DtHalf,
            StoredForm::Int8 => DataType::DtInt8,
            StoredForm::Int32 => DataType::DtInt32,
        }
    }

    fn element_bytes(self) -> u64 {
        match self {
            StoredForm::AsIs | StoredForm::Int32 => 4,
            StoredForm::Half => 2,
            StoredForm::Int8 => 1,
        }
    }
}

/// A kept variable as the writer sees it (one piece of a partitioned one).
#[derive(Debug, Clone, PartialEq)]
pub struct VariableSlot {
    pub node: String,
    pub dtype: DataType,
    pub key: String,
    /// `""` for a whole tensor, else the piece's `shape_and_slices` spec.
    pub slice_spec: String,
}

/// The int8 scales of one record (the whole tensor, or one slice), stored
/// as their own float32 bundle entry: they are data that changes with the
/// weights (the save half recomputes them), and in `variables/` they keep
/// `saved_model.pb` the same size whatever the checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordScales {
    pub key: String,
    pub values: Vec<f32>,
}

/// How one checkpoint key is written.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPlan {
    pub form: StoredForm,
    pub dtype: DataType,
    pub shape: Vec<i64>,
    /// Bytes in the source checkpoint.
    pub bytes_before: u64,
    /// Bytes written: the converted elements plus any scales.
    pub bytes_after: u64,
    /// The largest magnitude among the values.
    pub max_abs_value: f64,
    /// Record key (the tensor's, or one slice's) → its scales (int8 only).
    pub scales: BTreeMap<Vec<u8>, RecordScales>,
    /// Record key → the length of its converted bytes and a stand-in
    /// checksum: what the index of `variables/` needs
    /// to be sized before writing.
    pub records: BTreeMap<Vec<u8>, RecodedRecord>,
}

impl KeyPlan {
    /// The shape of each scales entry: the last axis for rank >= 2, a
    /// scalar for one scale.
    pub fn scales_shape(&self) -> &[i64] {
        crate::format::bundle::variables::scales_shape(&self.shape)
    }

    /// Each int8 scales entry's key and little-endian float32 bytes, in the
    /// order they are written after the converted records.
    pub fn scale_entries(&self) -> impl Iterator<Item = (&str, Vec<u8>)> {
        self.scales.values().map(|scales| {
            let bytes = scales.values.iter().flat_map(|s| s.to_le_bytes());
            (scales.key.as_str(), bytes.collect())
        })
    }
}

/// The stored form of every kept variable's key; keys absent are copied as
/// they are.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoragePlan {
    pub keys: BTreeMap<String, KeyPlan>,
    pub skipped: Vec<SkippedTensor>,
}

impl StoragePlan {
    pub fn form(&self, key: &str) -> StoredForm {
        self.keys.get(key).map_or(StoredForm::AsIs, |k| k.form)
    }

    /// The bundle key of the scales a variable piece is restored with.
    pub fn scales_key(&self, key: &str, slice_spec: &str) -> Option<&str> {
        let plan = self.keys.get(key)?;
        let record = record_key(key, slice_spec)?;
        plan.scales.get(&record).map(|s| s.key.as_str())
    }

    /// The report of what the plan converted (with the `errors` measured
    /// while copying) and skipped.
    pub fn report(&self, errors: &KeyErrors, options: &StorageOptions) -> StorageReport {
        let mut report = StorageReport::new(options);
        for (key, plan) in &self.keys {
            report.convert(ConvertedTensor {
                name: key.clone(),
                kind: TensorKind::Variable,
                shape: plan.shape.clone(),
                from: dtype_name(plan.dtype as i32),
                to: dtype_name(plan.form.stored_dtype(plan.dtype) as i32),
                bytes_before: plan.bytes_before,
                bytes_after: plan.bytes_after,
                max_abs_value: plan.max_abs_value,
                error: errors.get(key).copied().unwrap_or_default(),
            });
        }
        for skipped in &self.skipped {
            report.skip(skipped.clone());
        }
        report
    }

    /// The bytes `key` takes once written, given its source size.
    pub fn written_bytes(&self, key: &str, source_bytes: u64) -> u64 {
        self.keys.get(key).map_or(source_bytes, |k| k.bytes_after)
    }
}

/// The bundle record holding a piece: the key itself, or the slice's key.
fn record_key(key: &str, slice_spec: &str) -> Option<Vec<u8>> {
    if slice_spec.is_empty() {
        return Some(key.as_bytes().to_vec());
    }
    let (_, extents) = parse_spec(slice_spec)?;
    Some(slice_key(key, &extents))
}

/// Plans every key of `variables` (read from `reader`) under `options`.
pub fn plan_variables(
    graph: &Graph,
    variables: &[VariableSlot],
    reader: &BundleReader,
    options: &StorageOptions,
) -> Result<StoragePlan, BundleError> {
    let mut plan = StoragePlan::default();
    if !options.is_active() {
        return Ok(plan);
    }
    let mut by_key: BTreeMap<&str, Vec<&VariableSlot>> = BTreeMap::new();
    for v in variables {
        by_key.entry(v.key.as_str()).or_default().push(v);
    }
    let keys: Vec<(&str, Vec<&VariableSlot>)> = by_key.into_iter().collect();
    let surveyed = survey_keys(&keys, |(key, pieces)| {
        plan_key(graph, key, pieces, reader, options)
    });
    let mut taken: HashSet<String> = reader.names().into_iter().collect();
    for ((key, pieces), surveyed) in keys.iter().zip(surveyed) {
        let verdict = match surveyed? {
            Ok((key_plan, surveys)) => name_scales(reader, key, key_plan, surveys, &mut taken)?,
            Err(reason) => Err(reason),
        };
        match verdict {
            Ok(key_plan) => {
                plan.keys.insert(key.to_string(), key_plan);
            }
            Err(reason) => plan.skipped.push(SkippedTensor {
                name: key.to_string(),
                kind: TensorKind::Variable,
                dtype: dtype_name(pieces.first().map_or(0, |p| p.dtype as i32)),
                reason,
            }),
        }
    }
    Ok(plan)
}

/// `survey(item)` for every item, on two threads (each taking the next
/// item not yet taken, so one huge tensor does not hold up the rest): the
/// surveys read the checkpoint, which both cores do faster than one.
/// Results in the items' order.
fn survey_keys<T: Sync, R: Send>(items: &[T], survey: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(item) = items.get(index) else {
                return done;
            };
            done.push((index, survey(item)));
        }
    };
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let other = scope.spawn(work);
        let mut mine = work();
        // A panic of the other thread is carried on, as it would be on this one.
        mine.extend(
            other
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
        );
        mine
    });
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, r)| r).collect()
}

/// The form a tensor of `dtype` would take under `options`, or why none.
pub fn target_form(dtype: DataType, options: &StorageOptions) -> Result<StoredForm, String> {
    match (dtype, options.weights) {
        (DataType::DtFloat, WeightPrecision::F16) => Ok(StoredForm::Half),
        (DataType::DtFloat, WeightPrecision::Int8) => Ok(StoredForm::Int8),
        (DataType::DtInt64, _) if options.narrow_int64 => Ok(StoredForm::Int32),
        (DataType::DtFloat, WeightPrecision::F32) => {
            Err("float32 weights are kept at float32".into())
        }
        (DataType::DtInt64, _) => Err("int64 narrowing is off".into()),
        (other, _) => Err(format!(
            "{} is neither a float32 weight nor int64",
            dtype_name(other as i32)
        )),
    }
}

/// Why a tensor of `elements` is too small to convert, if it is.
pub fn below_threshold(elements: u64, options: &StorageOptions) -> Option<String> {
    (elements < options.min_elements).then(|| {
        format!(
            "{elements} elements, below the threshold of {}",
            options.min_elements
        )
    })
}

/// What the survey of one key's records found: each record's key and its
/// float survey (none for int64), in order, ending early at a record
/// partitioned along the last axis (`None`).
type RecordSurveys = Vec<(Vec<u8>, Option<FloatSurvey>)>;

/// One key's plan and its records' surveys, or why it stays (the outer
/// error is a read failure). Reads the key's values, so the keys are
/// planned in parallel; what depends on the other keys (the scales' names)
/// is left to [`name_scales`].
fn plan_key(
    graph: &Graph,
    key: &str,
    pieces: &[&VariableSlot],
    reader: &BundleReader,
    options: &StorageOptions,
) -> Result<Result<(KeyPlan, RecordSurveys), String>, BundleError> {
    let (dtype, shape) = reader.dtype_and_shape(key)?;
    let form = match target_form(dtype, options) {
        Ok(form) => form,
        Err(reason) => return Ok(Err(reason)),
    };
    let elements = num_elements(&shape).unwrap_or(0);
    if let Some(reason) = below_threshold(elements, options) {
        return Ok(Err(reason));
    }
    if reader.is_big_endian() {
        return Ok(Err("the checkpoint is big-endian".into()));
    }
    if let Some(reason) = (form != StoredForm::Int32)
        .then(|| blocked_reader(graph, pieces))
        .flatten()
    {
        return Ok(Err(reason));
    }
    let bytes_before = stored_bytes(reader, key)?;
    let mut plan = KeyPlan {
        form,
        dtype,
        shape,
        bytes_before,
        bytes_after: elements * form.element_bytes(),
        max_abs_value: 0.0,
        scales: BTreeMap::new(),
        records: BTreeMap::new(),
    };
    match form {
        StoredForm::Int32 => Ok(survey_ints(reader, key, &mut plan)?.map(|()| (plan, Vec::new()))),
        _ => {
            let surveys = survey_floats(reader, key, plan.form)?;
            Ok(Ok((plan, surveys)))
        }
    }
}

/// The key's plan once its float surveys are judged in record order and
/// its int8 scales named (`taken` holds the names used so far), or why it
/// stays.
fn name_scales(
    reader: &BundleReader,
    key: &str,
    mut plan: KeyPlan,
    surveys: RecordSurveys,
    taken: &mut HashSet<String>,
) -> Result<Result<KeyPlan, String>, BundleError> {
    let sliced =
        surveys.len() > 1 || surveys.first().map(|s| s.0.as_slice()) != Some(key.as_bytes());
    for (index, (record, survey)) in surveys.into_iter().enumerate() {
        let Some(survey) = survey else {
            return Ok(Err(LAST_AXIS_PARTITIONED.into()));
        };
        plan.max_abs_value = plan.max_abs_value.max(f64::from(survey.max_abs()));
        if let Some(reason) = unconvertible(&survey, plan.form) {
            return Ok(Err(reason));
        }
        if plan.form == StoredForm::Int8 {
            let base = scales_key_base(key, sliced.then_some(index));
            let scales_key = free_key(&base, taken);
            let values = survey.scales();
            plan.bytes_after += 4 * values.len() as u64;
            plan.scales.insert(
                record,
                RecordScales {
                    key: scales_key,
                    values,
                },
            );
        }
    }
    plan.records = planned_records(reader, key, &plan)?;
    Ok(Ok(plan))
}

/// A checksum that stands in for a converted record's real one when the
/// index is planned: the entry stores it as a `fixed32`, so any non-zero
/// value takes the same 5 bytes as the real one.
const PLANNED_CRC: u32 = 1;

/// Each record of `key` as its conversion will write it, without
/// converting: every stored form maps an element to a fixed number of
/// bytes, so the length follows from the source record's length. Only the
/// checksum is not known; [`PLANNED_CRC`] stands in for it, which sizes the
/// index exactly unless a real masked checksum is 0 (one chance in 2^32 per
/// record), when the entry leaves it out and the written index is 5 bytes
/// smaller than planned, never larger. Converting here only for the
/// checksums would double the conversion's cost.
fn planned_records(
    reader: &BundleReader,
    key: &str,
    plan: &KeyPlan,
) -> Result<BTreeMap<Vec<u8>, RecodedRecord>, BundleError> {
    let source_bytes = element_size(plan.dtype).unwrap_or(1) as i64;
    let mut records = BTreeMap::new();
    for record in reader.record_keys(key)? {
        let elements = (reader.entry(&record)?.size / source_bytes).max(0) as u64;
        let size = elements * plan.form.element_bytes();
        let planned = RecodedRecord {
            size,
            masked_crc: PLANNED_CRC,
        };
        records.insert(record, planned);
    }
    Ok(records)
}

/// The bytes of `key`'s records in the bundle.
fn stored_bytes(reader: &BundleReader, key: &str) -> Result<u64, BundleError> {
    let mut bytes = 0;
    for record in reader.record_keys(key)? {
        bytes += u64::try_from(reader.entry(&record)?.size).unwrap_or(0);
    }
    Ok(bytes)
}

/// The first reader of any piece that is not float math, as a reason.
fn blocked_reader(graph: &Graph, pieces: &[&VariableSlot]) -> Option<String> {
    pieces.iter().find_map(|piece| {
        let id = graph.find(&piece.node)?;
        float_math_only(graph, TensorRef::new(id, 0))
            .err()
            .map(|b| b.to_string())
    })
}

/// Reads every int64 record of `key`: all values must fit an int32.
fn survey_ints(
    reader: &BundleReader,
    key: &str,
    plan: &mut KeyPlan,
) -> Result<Result<(), String>, BundleError> {
    let mut range = None;
    for record in reader.record_keys(key)? {
        reader.read_chunks(&record, COPY_CHUNK_BYTES, &mut |chunk| {
            range = IntRange::observe(range, &le_i64s(chunk));
            Ok(())
        })?;
    }
    if let Some(r) = range {
        plan.max_abs_value = r.min.unsigned_abs().max(r.max.unsigned_abs()) as f64;
    }
    Ok(match range {
        Some(r) if !r.fits_i32() => Err(format!(
            "values from {} to {} are out of int32 range",
            r.min, r.max
        )),
        _ => Ok(()),
    })
}

/// Why a tensor partitioned along its last axis stays float32 under int8:
/// its scales entry is shaped like the whole tensor's last axis, and a
/// piece's own channels would not match it.
const LAST_AXIS_PARTITIONED: &str =
    "partitioned along its last axis, while int8 keeps one scale per channel of that axis";

/// Reads every float32 record of `key` (float16 needs every value within
/// its range; int8 needs finite values, and gets its scales from them),
/// stopping at a record partitioned along the last axis under int8.
fn survey_floats(
    reader: &BundleReader,
    key: &str,
    form: StoredForm,
) -> Result<RecordSurveys, BundleError> {
    let records = reader.record_keys(key)?;
    let (_, shape) = reader.dtype_and_shape(key)?;
    let mut surveys = Vec::new();
    for record in records {
        let (_, piece_shape) = piece_dtype_and_shape(reader, &record)?;
        if form == StoredForm::Int8 && channels(&piece_shape) != channels(&shape) {
            surveys.push((record, None));
            break;
        }
        let mut survey = FloatSurvey::new(channels(&piece_shape));
        let mut values = Vec::new();
        reader.read_chunks(&record, COPY_CHUNK_BYTES, &mut |chunk| {
            read_le_f32s(chunk, &mut values);
            survey.observe(&values);
            Ok(())
        })?;
        surveys.push((record, Some(survey)));
    }
    Ok(surveys)
}

fn piece_dtype_and_shape(
    reader: &BundleReader,
    record: &[u8],
) -> Result<(i32, Vec<i64>), BundleError> {
    let entry = reader.entry(record)?;
    let shape = entry
        .shape
        .as_ref()
        .map(|s| s.dim.iter().map(|d| d.size).collect())
        .unwrap_or_default();
    Ok((entry.dtype, shape))
}

/// Why the surveyed values cannot take `form`, if they cannot.
fn unconvertible(survey: &FloatSurvey, form: StoredForm) -> Option<String> {
    match form {
        StoredForm::Half if survey.max_abs() > F16_MAX => Some(format!(
            "a value of magnitude {} is beyond float16's largest, {F16_MAX}",
            survey.max_abs()
        )),
        StoredForm::Int8 if survey.non_finite() > 0 => Some(format!(
            "{} values are NaN or infinite, which int8 cannot hold",
            survey.non_finite()
        )),
        _ => None,
    }
}

/// `base`, or `base_1`, `base_2`, ... when a bundle key already has it.
fn free_key(base: &str, taken: &mut HashSet<String>) -> String {
    let key = (0..)
        .map(|i| match i {
            0 => base.to_string(),
            _ => format!("{base}_{i}"),
        })
        .find(|k| !taken.contains(k))
        .unwrap_or_else(|| base.to_string());
    taken.insert(key.clone());
    key
}

/// Little-endian float32 elements (a trailing partial element is ignored).
pub fn le_f32s(bytes: &[u8]) -> Vec<f32> {
    let mut values = Vec::with_capacity(bytes.len() / 4);
    read_le_f32s(bytes, &mut values);
    values
}

/// Little-endian int64 elements (a trailing partial element is ignored).
pub fn le_i64s(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .filter_map(|c| c.try_into().ok().map(i64::from_le_bytes))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::bundle::BundleWriter;
    use crate::ir::Node;

    fn floats(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn ints(values: &[i64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// A ref variable `name` of `dtype` and its `name/read`.
    fn variable(graph: &mut Graph, name: &str, dtype: DataType) -> NodeId {
        let var = graph
            .add_node(Node::new(name, "VariableV2").with_type("dtype", dtype))
            .unwrap();
        let read = graph
            .add_node(Node::new(format!("{name}/read"), "Identity").with_type("T", dtype))
            .unwrap();
        graph.push_data_input(read, TensorRef::new(var, 0));
        read
    }

    fn reads(graph: &mut Graph, node: Node, inputs: &[NodeId]) -> NodeId {
        let id = graph.add_node(node).unwrap();
        for &input in inputs {
            graph.push_data_input(id, TensorRef::new(input, 0));
        }
        id
    }

    fn slot(node: &str, dtype: DataType) -> VariableSlot {
        VariableSlot {
            node: node.into(),
            dtype,
            key: node.into(),
            slice_spec: String::new(),
        }
    }

    use crate::ir::NodeId;

    /// `kernel` feeds a MatMul; `offsets` is cast to int32 and used as
    /// gather indices; `ids` is int64 within range, `hashes` beyond it.
    fn model() -> (tempfile::TempDir, BundleReader, Graph) {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("ckpt");
        let mut writer = BundleWriter::create(&prefix).unwrap();
        let kernel = floats(&[0.5, -1.0, 0.25, 2.0, 0.0, 0.0]);
        writer
            .add("kernel", DataType::DtFloat, &[3, 2], &kernel)
            .unwrap();
        writer
            .add("offsets", DataType::DtFloat, &[2], &floats(&[1.0, 3.0]))
            .unwrap();
        writer
            .add("ids", DataType::DtInt64, &[2], &ints(&[-7, 1 << 20]))
            .unwrap();
        writer
            .add("hashes", DataType::DtInt64, &[2], &ints(&[1, 1 << 40]))
            .unwrap();
        writer.finish().unwrap();
        let mut graph = Graph::new();
        let x = graph.add_node(Node::new("x", "Placeholder")).unwrap();
        let k = variable(&mut graph, "kernel", DataType::DtFloat);
        let mm = reads(&mut graph, Node::new("mm", "MatMul"), &[x, k]);
        let o = variable(&mut graph, "offsets", DataType::DtFloat);
        let cast = Node::new("to_index", "Cast").with_type("DstT", DataType::DtInt32);
        let index = reads(&mut graph, cast, &[o]);
        reads(&mut graph, Node::new("pick", "GatherV2"), &[mm, index]);
        variable(&mut graph, "ids", DataType::DtInt64);
        variable(&mut graph, "hashes", DataType::DtInt64);
        let reader = BundleReader::open(&prefix).unwrap();
        (dir, reader, graph)
    }

    fn slots() -> Vec<VariableSlot> {
        vec![
            slot("kernel", DataType::DtFloat),
            slot("offsets", DataType::DtFloat),
            slot("ids", DataType::DtInt64),
            slot("hashes", DataType::DtInt64),
        ]
    }

    fn reason<'a>(plan: &'a StoragePlan, key: &str) -> &'a str {
        let skipped = plan.skipped.iter().find(|s| s.name == key);
        skipped.map_or("", |s| s.reason.as_str())
    }

    #[test]
    fn a_weight_feeding_an_index_is_skipped_and_the_reader_named() {
        let (_dir, reader, graph) = model();
        let options = StorageOptions {
            weights: WeightPrecision::Int8,
            min_elements: 0,
            narrow_int64: false,
        };
        let plan = plan_variables(&graph, &slots(), &reader, &options).unwrap();
        assert_eq!(plan.form("kernel"), StoredForm::Int8);
        assert_eq!(plan.form("offsets"), StoredForm::AsIs);
        let why = reason(&plan, "offsets");
        assert!(why.contains("to_index") && why.contains("Cast"), "{why}");
        assert_eq!(reason(&plan, "ids"), "int64 narrowing is off");
        let kernel = &plan.keys["kernel"];
        // Two columns (0.5, 0.25, 0) and (-1, 2, 0): 6 int8 bytes and 2 float scales.
        let scales = &kernel.scales[b"kernel".as_slice()];
        assert_eq!(scales.values, [0.5 / 127.0, 2.0 / 127.0]);
        assert_eq!(scales.key, "kernel/int8_scales");
        assert_eq!((kernel.bytes_before, kernel.bytes_after), (24, 6 + 8));
        // The one record's int8 bytes, known before writing for the index.
        let record = kernel.records[b"kernel".as_slice()];
        assert_eq!(record.size, 6);
        assert_eq!(kernel.scales_shape(), [2]);
    }

    #[test]
    fn int64_out_of_range_is_left_alone_and_said_so() {
        let (_dir, reader, graph) = model();
        let options = StorageOptions {
            weights: WeightPrecision::F32,
            min_elements: 0,
            narrow_int64: true,
        };
        let plan = plan_variables(&graph, &slots(), &reader, &options).unwrap();
        assert_eq!(plan.form("ids"), StoredForm::Int32);
        assert_eq!(plan.keys["ids"].bytes_after, 8);
        assert_eq!(plan.form("hashes"), StoredForm::AsIs);
        let why = reason(&plan, "hashes");
        assert_eq!(
            why,
            format!("values from 1 to {} are out of int32 range", 1i64 << 40)
        );
    }

    #[test]
    fn small_tensors_stay_below_the_threshold() {
        let (_dir, reader, graph) = model();
        let options = StorageOptions {
            weights: WeightPrecision::F16,
            ..StorageOptions::default()
        };
        let plan = plan_variables(&graph, &slots(), &reader, &options).unwrap();
        assert!(plan.keys.is_empty());
        assert_eq!(
            reason(&plan, "kernel"),
            "6 elements, below the threshold of 1024"
        );
    }

    /// A [2, 4] weight stored as two [2, 2] pieces split along its last
    /// axis: its pieces' channels are not the whole tensor's, so int8
    /// leaves it float32 and says why rather than writing scales that do
    /// not fit.
    #[test]
    fn a_tensor_split_along_its_last_axis_stays_float32_under_int8() {
        use crate::format::bundle::slices::Extent1;
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("ckpt");
        let mut writer = BundleWriter::create(&prefix).unwrap();
        for start in [0, 2] {
            let extents = [
                Extent1 {
                    start: 0,
                    length: None,
                },
                Extent1 {
                    start,
                    length: Some(2),
                },
            ];
            let piece = floats(&[0.5, -1.0, 0.25, 2.0]);
            let full = [2, 4];
            writer
                .add_slice("wide", DataType::DtFloat, &full, &extents, &piece)
                .unwrap();
        }
        writer.finish().unwrap();
        let reader = BundleReader::open(&prefix).unwrap();
        let mut graph = Graph::new();
        let x = graph.add_node(Node::new("x", "Placeholder")).unwrap();
        let wide = variable(&mut graph, "wide", DataType::DtFloat);
        reads(&mut graph, Node::new("mm", "MatMul"), &[x, wide]);
        let options = StorageOptions {
            weights: WeightPrecision::Int8,
            min_elements: 0,
            narrow_int64: false,
        };
        let slots = [slot("wide", DataType::DtFloat)];
        let plan = plan_variables(&graph, &slots, &reader, &options).unwrap();
        assert_eq!(plan.form("wide"), StoredForm::AsIs);
        assert_eq!(reason(&plan, "wide"), LAST_AXIS_PARTITIONED);
    }
}
