//! Bundles written by servegraph, read back by real TensorFlow
//! (`tf.train.load_checkpoint`): every dtype, strings, several shards and a
//! partitioned tensor. And byte identity: for the same tensors in the same
//! order, our `.index` and `.data` equal what TensorFlow's SaveV2 writes.

use crate::common;

use std::path::Path;

use base64::Engine as _;
use servegraph::bundle::slices::Extent1;
use servegraph::bundle::{BundleWriter, data_path, index_path};
use servegraph::proto::DataType;

/// One test tensor: how we write it, and what TensorFlow's dump must say.
struct Case {
    name: &'static str,
    dtype: DataType,
    tf_dtype: &'static str,
    shape: Vec<i64>,
    raw: Vec<u8>,
    values: serde_json::Value,
}

fn le<T: Copy, const N: usize>(values: &[T], to_bytes: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&v| to_bytes(v)).collect()
}

fn cases() -> Vec<Case> {
    use serde_json::json;
    let halves = [0.5f32, -2.25, 1024.0];
    let f16: Vec<u8> = halves
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    let bf16: Vec<u8> = halves
        .iter()
        .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
        .collect();
    vec![
        Case {
            name: "a/float16",
            dtype: DataType::DtHalf,
            tf_dtype: "float16",
            shape: vec![3],
            raw: f16,
            values: json!(halves),
        },
        Case {
            name: "a/bfloat16",
            dtype: DataType::DtBfloat16,
            tf_dtype: "bfloat16",
            shape: vec![3],
            raw: bf16,
            values: json!(halves),
        },
        Case {
            name: "b/float32",
            dtype: DataType::DtFloat,
            tf_dtype: "float32",
            shape: vec![2, 2],
            raw: le(&[1.5f32, -0.25, 3.0, 1e-3], f32::to_le_bytes),
            values: json!([1.5, -0.25, 3.0, 1e-3f32 as f64]),
        },
        Case {
            name: "b/float64",
            dtype: DataType::DtDouble,
            tf_dtype: "float64",
            shape: vec![2],
            raw: le(&[0.1f64, -1e300], f64::to_le_bytes),
            values: json!([0.1, -1e300]),
        },
        Case {
            name: "c/int8",
            dtype: DataType::DtInt8,
            tf_dtype: "int8",
            shape: vec![3],
            raw: le(&[-128i8, 0, 127], i8::to_le_bytes),
            values: json!([-128, 0, 127]),
        },
        Case {
            name: "c/int16",
            dtype: DataType::DtInt16,
            tf_dtype: "int16",
            shape: vec![2],
            raw: le(&[-32768i16, 7], i16::to_le_bytes),
            values: json!([-32768, 7]),
        },
        Case {
            name: "c/int32",
            dtype: DataType::DtInt32,
            tf_dtype: "int32",
            shape: vec![2],
            raw: le(&[i32::MIN, 42], i32::to_le_bytes),
            values: json!([i32::MIN, 42]),
        },
        Case {
            name: "c/int64",
            dtype: DataType::DtInt64,
            tf_dtype: "int64",
            shape: vec![],
            raw: le(&[i64::MAX], i64::to_le_bytes),
            values: json!([i64::MAX]),
        },
        Case {
            name: "d/uint8",
            dtype: DataType::DtUint8,
            tf_dtype: "uint8",
            shape: vec![2],
            raw: vec![0, 255],
            values: json!([0, 255]),
        },
        Case {
            name: "d/uint16",
            dtype: DataType::DtUint16,
            tf_dtype: "uint16",
            shape: vec![1],
            raw: le(&[65535u16], u16::to_le_bytes),
            values: json!([65535]),
        },
        Case {
            name: "d/uint32",
            dtype: DataType::DtUint32,
            tf_dtype: "uint32",
            shape: vec![1],
            raw: le(&[u32::MAX], u32::to_le_bytes),
            values: json!([u32::MAX]),
        },
        Case {
            name: "d/uint64",
            dtype: DataType::DtUint64,
            tf_dtype: "uint64",
            shape: vec![1],
            raw: le(&[u64::MAX], u64::to_le_bytes),
            values: json!([u64::MAX]),
        },
        Case {
            name: "e/bool",
            dtype: DataType::DtBool,
            tf_dtype: "bool",
            shape: vec![3],
            raw: vec![1, 0, 1],
            values: json!([true, false, true]),
        },
        Case {
            name: "e/complex64",
            dtype: DataType::DtComplex64,
            tf_dtype: "complex64",
            shape: vec![1],
            raw: le(&[1.5f32, -2.0], f32::to_le_bytes),
            values: json!([[1.5, -2.0]]),
        },
        Case {
            name: "e/complex128",
            dtype: DataType::DtComplex128,
            tf_dtype: "complex128",
            shape: vec![1],
            raw: le(&[0.25f64, 8.0], f64::to_le_bytes),
            values: json!([[0.25, 8.0]]),
        },
        Case {
            name: "f/empty",
            dtype: DataType::DtFloat,
            tf_dtype: "float32",
            shape: vec![0, 3],
            raw: vec![],
            values: json!([]),
        },
    ]
}

fn strings() -> Vec<Vec<u8>> {
    vec![
        b"".to_vec(),
        b"hello".to_vec(),
        vec![0xff, 0x00, 0xfe],
        vec![b'x'; 300],
    ]
}

fn b64(items: &[Vec<u8>]) -> serde_json::Value {
    serde_json::json!(
        items
            .iter()
            .map(|s| base64::engine::general_purpose::STANDARD.encode(s))
            .collect::<Vec<_>>()
    )
}

fn write_ours(prefix: &Path, shards: usize, with_slices: bool) {
    let mut writer = BundleWriter::create_sharded(prefix, shards).unwrap();
    for (i, case) in cases().iter().enumerate() {
        writer.set_shard(i % shards).unwrap();
        writer
            .add(case.name, case.dtype, &case.shape, &case.raw)
            .unwrap();
    }
    let strings = strings();
    let refs: Vec<&[u8]> = strings.iter().map(Vec::as_slice).collect();
    writer.add_strings("g/strings", &[2, 2], &refs).unwrap();
    if with_slices {
        let rows = |start, length| {
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
        };
        writer.set_shard(shards - 1).unwrap();
        writer
            .add_slice(
                "h/partitioned",
                DataType::DtInt32,
                &[3, 2],
                &rows(2, 1),
                &le(&[5i32, 6], i32::to_le_bytes),
            )
            .unwrap();
        writer.set_shard(0).unwrap();
        writer
            .add_slice(
                "h/partitioned",
                DataType::DtInt32,
                &[3, 2],
                &rows(0, 2),
                &le(&[1i32, 2, 3, 4], i32::to_le_bytes),
            )
            .unwrap();
    }
    writer.finish().unwrap();
}

#[test]
fn tensorflow_reads_every_dtype_shards_and_slices_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("ours");
    write_ours(&prefix, 3, true);
    assert!(data_path(&prefix, 2, 3).is_file());
    let Some(python) = common::tensorflow_python("bundle_interop::tensorflow_reads") else {
        return;
    };
    let dump = common::run_python(
        &python,
        "tests/interop/dump_checkpoint.py",
        &[prefix.as_os_str()],
    );
    let dump: serde_json::Value = serde_json::from_str(&dump).unwrap();
    for case in cases() {
        let got = &dump[case.name];
        assert_eq!(got["dtype"], case.tf_dtype, "{}", case.name);
        assert_eq!(got["shape"], serde_json::json!(case.shape), "{}", case.name);
        assert_eq!(got["values"], case.values, "{}", case.name);
    }
    assert_eq!(dump["g/strings"]["values_b64"], b64(&strings()));
    assert_eq!(
        dump["h/partitioned"]["values"],
        serde_json::json!([1, 2, 3, 4, 5, 6])
    );
    assert_eq!(dump.as_object().unwrap().len(), cases().len() + 2);
}

#[test]
fn our_bundle_is_byte_identical_to_tensorflow_s() {
    let Some(python) = common::tensorflow_python("bundle_interop::byte_identical") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut spec: Vec<serde_json::Value> = cases()
        .iter()
        .map(|c| serde_json::json!({"name": c.name, "dtype": c.tf_dtype, "shape": c.shape, "values": c.values}))
        .collect();
    spec.push(serde_json::json!({"name": "g/strings", "dtype": "string", "shape": [2, 2], "values_b64": b64(&strings())}));
    let spec_file = dir.path().join("spec.json");
    std::fs::write(&spec_file, serde_json::to_string(&spec).unwrap()).unwrap();
    let theirs = dir.path().join("theirs");
    common::run_python(
        &python,
        "tests/interop/write_bundle_with_tf.py",
        &[spec_file.as_os_str(), theirs.as_os_str()],
    );
    // Our reader reads TensorFlow's strings (their checksum is not a plain CRC of the bytes).
    let reader = servegraph::bundle::BundleReader::open(&theirs).unwrap();
    let servegraph::bundle::reader::TensorData::Strings(read) =
        reader.read_tensor("g/strings").unwrap()
    else {
        panic!("g/strings is not a string tensor");
    };
    assert_eq!(read, strings());
    let ours = dir.path().join("ours");
    write_ours(&ours, 1, false);
    assert_eq!(
        std::fs::read(data_path(&ours, 0, 1)).unwrap(),
        std::fs::read(data_path(&theirs, 0, 1)).unwrap(),
        ".data differs"
    );
    assert_eq!(
        std::fs::read(index_path(&ours)).unwrap(),
        std::fs::read(index_path(&theirs)).unwrap(),
        ".index differs"
    );
}
