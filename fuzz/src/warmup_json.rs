//! warmup_json: a `--warmup` request body checked against one of a few
//! signatures and turned into TensorFlow Serving warm-up records.

use std::collections::BTreeMap;
use std::path::Path;

use prost::Message;
use servegraph::bundle::crc::{crc32c, unmask};
use servegraph::error::Error;
use servegraph::model::{DEFAULT_SIGNATURE, PREDICT_METHOD, Signature, TensorSpec};
use servegraph::proto::DataType;
use servegraph::proto::serving::{PredictionLog, prediction_log};
use servegraph::tensor::Tensor;
use servegraph::warmup::{WarmupFile, WarmupRecords};

use super::{Rejected, Seed, prefixed, selector};

/// The signatures the selector picks from: an unknown rank, fixed inner
/// dimensions, two inputs of other dtypes, a fixed batch size, a scalar.
fn signature(select: u8) -> Signature {
    let inputs: &[(&str, DataType, Option<&[i64]>)] = match select % 5 {
        0 => &[("x", DataType::DtFloat, None)],
        1 => &[("x", DataType::DtInt64, Some(&[-1, 4]))],
        2 => &[
            ("t", DataType::DtString, Some(&[-1, 3])),
            ("n", DataType::DtBool, Some(&[-1])),
        ],
        3 => &[("x", DataType::DtFloat, Some(&[1, 2]))],
        _ => &[("x", DataType::DtHalf, Some(&[]))],
    };
    Signature {
        method_name: PREDICT_METHOD.into(),
        inputs: inputs
            .iter()
            .map(|&(key, dtype, shape)| {
                let name = format!("{key}:0");
                let shape = shape.map(<[i64]>::to_vec);
                (key.to_string(), TensorSpec { name, dtype, shape })
            })
            .collect(),
        outputs: BTreeMap::new(),
    }
}

/// Selector % 5 picks the signature; the rest is the JSON file. What is
/// accepted must be well-framed records that each hold every input, with
/// the signature's dtype and a shape it admits.
pub fn warmup_json(data: &[u8]) -> Result<(), Rejected> {
    let (select, text) = selector(data);
    let signature = signature(select);
    let reject = |e| Rejected::Export(Error::Warmup(e));
    let file = WarmupFile::parse(Path::new("warmup.json"), text).map_err(reject)?;
    let signatures = BTreeMap::from([(DEFAULT_SIGNATURE.to_string(), signature.clone())]);
    let records = file
        .records(&signatures, DEFAULT_SIGNATURE)
        .map_err(reject)?;
    check_records(&records, &signature);
    Ok(())
}

fn check_records(records: &WarmupRecords, signature: &Signature) {
    let mut rest: &[u8] = &records.file;
    let mut count = 0;
    while !rest.is_empty() {
        let (data, after) = next_record(rest);
        let log = PredictionLog::decode(data).expect("a record is a PredictionLog");
        let Some(prediction_log::LogType::PredictLog(predict)) = log.log_type else {
            panic!("a record is not a predict log");
        };
        let request = predict.request.expect("a predict log has a request");
        let spec = request.model_spec.expect("a request names its signature");
        assert_eq!(spec.signature_name, DEFAULT_SIGNATURE);
        let keys: Vec<&String> = request.inputs.keys().collect();
        assert_eq!(keys, signature.inputs.keys().collect::<Vec<_>>());
        for (key, proto) in &request.inputs {
            let tensor = Tensor::from_proto(proto).expect("an input decodes");
            let spec = &signature.inputs[key];
            assert_eq!(tensor.dtype, spec.dtype, "{key}");
            if let Some(dims) = &spec.shape {
                assert_eq!(tensor.shape.len(), dims.len(), "{key}");
                let admitted = dims
                    .iter()
                    .zip(&tensor.shape)
                    .all(|(&d, &s)| d < 0 || d == s);
                assert!(admitted, "{key}: {:?} for {dims:?}", tensor.shape);
            }
        }
        count += 1;
        rest = after;
    }
    assert_eq!(count, records.records, "the file holds the records counted");
}

/// The first TFRecord of `file` and what follows it; both CRCs must hold.
fn next_record(file: &[u8]) -> (&[u8], &[u8]) {
    let word = |bytes: &[u8]| u32::from_le_bytes(bytes.try_into().expect("4 bytes"));
    let (length, rest) = file.split_at(8);
    assert_eq!(unmask(word(&rest[..4])), crc32c(length), "length CRC");
    let length = u64::from_le_bytes(length.try_into().expect("8 bytes")) as usize;
    let (data, rest) = rest[4..].split_at(length);
    assert_eq!(unmask(word(&rest[..4])), crc32c(data), "data CRC");
    (data, &rest[4..])
}

/// One accepted body per signature.
pub fn seeds() -> Vec<Seed> {
    let bodies: [&str; 5] = [
        r#"{"instances": [[[1.5, 2], [3, 4]], [[5, 6], [7, 8]]]}"#,
        r#"{"instances": [{"x": [1, 2, 3, 4]}, [5, 6, 7, -8]]}"#,
        r#"{"instances": [{"t": ["a", {"b64": "Yg=="}, ""], "n": true}], "signature_name": "serving_default"}"#,
        r#"{"instances": [[1, 2], [3, 4]]}"#,
        r#"{"inputs": {"x": 0.5}}"#,
    ];
    bodies
        .iter()
        .enumerate()
        .map(|(select, body)| Seed {
            target: "warmup_json",
            name: format!("signature-{select}"),
            bytes: prefixed(select as u8, body.as_bytes()),
        })
        .collect()
}
