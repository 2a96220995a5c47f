//! Which variables `--weights f16` retypes on the lean path, decided with
//! their values: large enough (`--weights-min-size`), float32, unsliced in a
//! little-endian checkpoint, and every value within float16's range. The
//! result is the export report's `storage` section, as the TF1 path gives
//! it: each converted key with its bytes and rounding errors, each float32
//! key left alone with the reason.

use crate::format::bundle::{BundleError, BundleReader};
use crate::storage::convert::{F16_MAX, FloatSurvey, to_f16};
use crate::storage::plan::{below_threshold, le_f32s};
use crate::storage::{ConvertedTensor, SkippedTensor, StorageOptions, StorageReport, TensorKind};
use crate::tf2::KeptVariable;
use crate::typing::dtype_name;

use super::resource_flow::Variables;

/// The variables to retype (by `VarHandleOp` node) and the storage report
/// of that choice. `variables` are the plan's, still float32 where the
/// source is; only float32 ones are considered. `keys[i]` is where
/// `reader` (the checkpoint the export takes values from) holds
/// `variables[i]`'s value.
pub fn choose_half_variables(
    reader: &BundleReader,
    variables: &[KeptVariable],
    keys: &[String],
    options: &StorageOptions,
) -> Result<(Variables, StorageReport), BundleError> {
    let mut chosen = Variables::new();
    let mut report = StorageReport::new(options);
    for (variable, key) in variables.iter().zip(keys) {
        if variable.dtype != crate::format::proto::DataType::DtFloat {
            continue;
        }
        match convert_variable(reader, variable, key, options)? {
            Ok(converted) => {
                chosen.insert(variable.node.clone());
                report.convert(converted);
            }
            Err(reason) => report.skip(SkippedTensor {
                name: variable.key.clone(),
                kind: TensorKind::Variable,
                dtype: dtype_name(variable.dtype as i32),
                reason,
            }),
        }
    }
    Ok((chosen, report))
}

/// What storing `variable` as float16 does, or why it stays float32.
fn convert_variable(
    reader: &BundleReader,
    variable: &KeptVariable,
    key: &str,
    options: &StorageOptions,
) -> Result<Result<ConvertedTensor, String>, BundleError> {
    let elements = crate::format::bundle::reader::num_elements(&variable.shape).unwrap_or(0);
    if let Some(reason) = below_threshold(elements, options) {
        return Ok(Err(reason));
    }
    if reader.is_big_endian() {
        return Ok(Err("the checkpoint is big-endian".into()));
    }
    if !reader.entry(key.as_bytes())?.slices.is_empty() {
        return Ok(Err("the checkpoint stores it in slices".into()));
    }
    let values = le_f32s(&reader.read_raw(key.as_bytes())?);
    let mut survey = FloatSurvey::new(1);
    survey.observe(&values);
    if survey.max_abs() > F16_MAX {
        return Ok(Err(format!(
            "a value of magnitude {} is beyond float16's largest, {F16_MAX}",
            survey.max_abs()
        )));
    }
    let mut converted = ConvertedTensor {
        name: variable.key.clone(),
        kind: TensorKind::Variable,
        shape: variable.shape.clone(),
        from: "float32".into(),
        to: "float16".into(),
        bytes_before: elements * 4,
        bytes_after: elements * 2,
        max_abs_value: f64::from(survey.max_abs()),
        error: Default::default(),
    };
    to_f16(&values, &mut converted.error);
    Ok(Ok(converted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::bundle::BundleWriter;
    use crate::format::proto::DataType;
    use crate::storage::WeightPrecision;

    fn variable(node: &str, dtype: DataType, shape: Vec<i64>) -> KeptVariable {
        KeptVariable {
            node: node.into(),
            object_id: 0,
            object_path: node.into(),
            key: format!("{node}/.ATTRIBUTES/VARIABLE_VALUE"),
            dtype,
            shape,
        }
    }

    fn floats(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn large_in_range_float32_variables_are_chosen_with_their_errors() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("variables");
        let mut writer = BundleWriter::create(&prefix).unwrap();
        let kernel: Vec<f32> = (0..8).map(|i| i as f32 / 3.0).collect();
        let huge = [1.0e6f32, 0.0, 1.0, 2.0];
        let variables = vec![
            variable("kernel", DataType::DtFloat, vec![2, 4]),
            variable("bias", DataType::DtFloat, vec![2]),
            variable("huge", DataType::DtFloat, vec![4]),
            variable("steps", DataType::DtInt64, vec![]),
        ];
        writer
            .add(
                &variables[0].key,
                DataType::DtFloat,
                &[2, 4],
                &floats(&kernel),
            )
            .unwrap();
        writer
            .add(
                &variables[1].key,
                DataType::DtFloat,
                &[2],
                &floats(&[1.0, 2.0]),
            )
            .unwrap();
        writer
            .add(&variables[2].key, DataType::DtFloat, &[4], &floats(&huge))
            .unwrap();
        writer
            .add(
                &variables[3].key,
                DataType::DtInt64,
                &[],
                &7i64.to_le_bytes(),
            )
            .unwrap();
        writer.finish().unwrap();
        let reader = BundleReader::open(&prefix).unwrap();
        let options = StorageOptions {
            weights: WeightPrecision::F16,
            min_elements: 4,
            narrow_int64: false,
        };
        let keys: Vec<String> = variables.iter().map(|v| v.key.clone()).collect();
        let (chosen, report) = choose_half_variables(&reader, &variables, &keys, &options).unwrap();
        assert_eq!(chosen, Variables::from(["kernel".to_string()]));
        assert_eq!(report.converted.len(), 1);
        let converted = &report.converted[0];
        assert_eq!((converted.bytes_before, converted.bytes_after), (32, 16));
        assert!(converted.error.max_rel_error > 0.0 && converted.error.max_rel_error < 1e-3);
        assert_eq!((report.bytes_before, report.bytes_after), (32, 16));
        let reasons: Vec<(&str, &str)> = report
            .skipped
            .iter()
            .map(|s| (s.name.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].0.starts_with("bias/") && reasons[0].1.contains("below the threshold"));
        assert!(reasons[1].0.starts_with("huge/") && reasons[1].1.contains("beyond float16"));
    }
}
