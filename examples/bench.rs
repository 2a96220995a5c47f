//! Benchmarks that print figures (nothing is asserted):
//! - TensorBundle read + CRC verification, and copy by byte range, in MB/s on
//!   a generated checkpoint (default 512 MB; `cargo run --release --example bench -- MB`),
//!   with and without a per-chunk progress callback;
//! - peak memory (VmHWM) after the copy, to show it does not grow with the model;
//! - export time of every bundled fixture, and where a 10,000-variable
//!   export spends its time (the `--timings` table);
//! - shape inference time on a 160,000-node serving graph (a chain of
//!   MatMul, BiasAdd and Relu layers) and on the synthetic graph's serving
//!   cone; `cargo run --release --example bench -- shapes` prints only these
//!   (the best of three inferences; `SHAPES_REPEAT=N` runs N, for a
//!   profiler, and then prints only the first).

use std::time::Instant;

use servegraph::bundle::{BundleReader, BundleWriter};
use servegraph::ops::shapes::{Dim, Fact, Shape};
use servegraph::proto::DataType;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Copies every tensor of `reader` into a new bundle at `prefix`, with a
/// counting progress callback or none; returns the seconds taken.
fn copy_all(
    reader: &BundleReader,
    prefix: &std::path::Path,
    progress: bool,
) -> Result<f64, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut copy = BundleWriter::create(prefix)?;
    let mut reported = 0u64;
    let mut copied = 0u64;
    for name in reader.names() {
        let mut count = |bytes| reported += bytes;
        let callback = progress.then_some(&mut count as &mut dyn FnMut(u64));
        copied += copy.copy_from_reporting(reader, &name, callback)?;
    }
    copy.finish()?;
    if progress && reported != copied {
        return Err(format!("progress reported {reported} of {copied} bytes").into());
    }
    Ok(started.elapsed().as_secs_f64())
}

/// A training-shaped graph of about `nodes` nodes: a serving chain of
/// `AddV2`s, each with a gradient, an optimizer update and a summary beside
/// it, run through IR construction, the serving pipeline and back.
fn synthetic_graph(nodes: usize) -> Result<(), Box<dyn std::error::Error>> {
    use servegraph::proto::attr_value::Value;
    use servegraph::proto::{AttrValue, GraphDef, NodeDef};
    let float = || AttrValue {
        value: Some(Value::Type(DataType::DtFloat as i32)),
    };
    let node = |name: String, op: &str, inputs: Vec<String>| {
        let mut n = NodeDef {
            name,
            op: op.into(),
            input: inputs,
            ..NodeDef::default()
        };
        n.attr.insert("T".into(), float());
        n.attr.insert("dtype".into(), float());
        n
    };
    let mut graph = GraphDef::default();
    graph.node.push(node("x".into(), "Placeholder", vec![]));
    let mut previous = "x".to_string();
    for i in 0..nodes / 5 {
        let add = format!("layer{i}/add");
        graph
            .node
            .push(node(format!("layer{i}/c"), "Const", vec![]));
        graph.node.push(node(
            add.clone(),
            "AddV2",
            vec![previous.clone(), format!("layer{i}/c")],
        ));
        graph.node.push(node(
            format!("gradients/layer{i}/grad"),
            "ReluGrad",
            vec![add.clone(), previous.clone()],
        ));
        graph.node.push(node(
            format!("train/layer{i}/update"),
            "ApplyGradientDescent",
            vec![format!("layer{i}/c"), format!("gradients/layer{i}/grad")],
        ));
        graph.node.push(node(
            format!("summaries/layer{i}"),
            "HistogramSummary",
            vec![add.clone()],
        ));
        previous = add;
    }
    let count = graph.node.len();
    let started = Instant::now();
    let ir = servegraph::Graph::from_graph_def(graph)?;
    let built = started.elapsed();
    let mut model = servegraph::Model::from_graph(ir);
    let started = Instant::now();
    servegraph::check::check_graph(&model, servegraph::check::CustomOps::Refuse)?;
    let checked = started.elapsed();
    let spec = servegraph::passes::ServingSpec {
        inputs: vec!["x=x:0".parse()?],
        outputs: vec![format!("y={previous}:0").parse()?],
        ..Default::default()
    };
    let started = Instant::now();
    let reports = servegraph::Pipeline::serving(&spec).run(
        &mut model,
        &mut servegraph::PassContext {
            validate_between_passes: false,
            ..Default::default()
        },
    )?;
    let passes = started.elapsed();
    let x = model.graph.tensor("x:0")?;
    let seed = Fact::of(Some(DataType::DtFloat), Shape::ranked(&[Dim::Batch]));
    let (millis, _) = time_inference(&model, x, seed)?;
    println!(
        "shape inference on the synthetic graph's serving cone of {} nodes: {millis:.1} ms",
        model.graph.len()
    );
    let started = Instant::now();
    let back = model.graph.to_graph_def();
    println!(
        "synthetic graph of {count} nodes: IR in {:.0} ms, checked in {:.0} ms, serving pipeline in {:.0} ms ({}), GraphDef of {} nodes in {:.0} ms",
        built.as_secs_f64() * 1000.0,
        checked.as_secs_f64() * 1000.0,
        passes.as_secs_f64() * 1000.0,
        reports
            .iter()
            .map(|r| format!("{} {:.0} ms", r.pass, r.micros as f64 / 1000.0))
            .collect::<Vec<_>>()
            .join(", "),
        back.node.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

/// Infers `model`'s graph from `input`'s fact; milliseconds taken and
/// the inference.
fn time_inference(
    model: &servegraph::Model,
    input: servegraph::ir::TensorRef,
    fact: Fact,
) -> Result<(f64, servegraph::ops::shapes::Inference), Box<dyn std::error::Error>> {
    let ops = servegraph::ops::OpSignatures::of(model);
    let seeds = [(input, fact)].into_iter().collect();
    let started = Instant::now();
    let inference = servegraph::ops::shapes::infer(&model.graph, &ops, &seeds)?;
    Ok((started.elapsed().as_secs_f64() * 1000.0, inference))
}

/// A serving graph of about `nodes` nodes: an input `[batch, 16]` through
/// layers of a weight Const, MatMul, a bias Const, BiasAdd and Relu; shape
/// inference timed over it (best of three) and its output's shape checked.
fn shape_inference(nodes: usize) -> Result<(), Box<dyn std::error::Error>> {
    use servegraph::proto::attr_value::Value;
    use servegraph::proto::{AttrValue, GraphDef, NodeDef, TensorProto};
    let attr = |value: Value| AttrValue { value: Some(value) };
    let shape = |dims: &[i64]| servegraph::typing::shape_proto(dims);
    let node = |name: String, op: &str, inputs: Vec<String>| {
        let mut n = NodeDef {
            name,
            op: op.into(),
            input: inputs,
            ..NodeDef::default()
        };
        n.attr
            .insert("T".into(), attr(Value::Type(DataType::DtFloat as i32)));
        n.attr
            .insert("dtype".into(), attr(Value::Type(DataType::DtFloat as i32)));
        n
    };
    let constant = |name: String, dims: &[i64]| {
        let mut n = node(name, "Const", vec![]);
        let value = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(shape(dims)),
            ..TensorProto::default()
        };
        n.attr
            .insert("value".into(), attr(Value::Tensor(Box::new(value))));
        n
    };
    let mut graph = GraphDef::default();
    let mut x = node("x".into(), "Placeholder", vec![]);
    x.attr
        .insert("shape".into(), attr(Value::Shape(shape(&[-1, 16]))));
    graph.node.push(x);
    let mut previous = "x".to_string();
    for i in 0..nodes / 5 {
        graph.node.push(constant(format!("layer{i}/w"), &[16, 16]));
        graph.node.push(constant(format!("layer{i}/b"), &[16]));
        let (matmul, bias, relu) = (
            format!("layer{i}/MatMul"),
            format!("layer{i}/BiasAdd"),
            format!("layer{i}/Relu"),
        );
        graph.node.push(node(
            matmul.clone(),
            "MatMul",
            vec![previous, format!("layer{i}/w")],
        ));
        graph.node.push(node(
            bias.clone(),
            "BiasAdd",
            vec![matmul, format!("layer{i}/b")],
        ));
        graph.node.push(node(relu.clone(), "Relu", vec![bias]));
        previous = relu;
    }
    let count = graph.node.len();
    let model = servegraph::Model::from_graph(servegraph::Graph::from_graph_def(graph)?);
    let x = model.graph.tensor("x:0")?;
    let seed = Fact::of(
        Some(DataType::DtFloat),
        Shape::ranked(&[Dim::Batch, Dim::Known(16)]),
    );
    let mut best = f64::INFINITY;
    let mut inference = None;
    let repeat: usize = std::env::var("SHAPES_REPEAT")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    for _ in 0..repeat {
        let (millis, found) = time_inference(&model, x, seed.clone())?;
        best = best.min(millis);
        inference = Some(found);
    }
    let started = Instant::now();
    let order = model.graph.topological_order()?;
    let topo = started.elapsed().as_secs_f64() * 1000.0;
    drop(order);
    let output = model.graph.tensor(&format!("{previous}:0"))?;
    let inferred = inference.map(|i| i.shape(output)).unwrap_or_default();
    println!(
        "shape inference on a serving graph of {count} nodes: {best:.1} ms, of which the \
         graph's topological order {topo:.1} ms (output {inferred})"
    );
    Ok(())
}

/// An export whose graph reads `count` small variables from its checkpoint.
fn many_variables(root: &std::path::Path, count: usize) -> Result<(), Box<dyn std::error::Error>> {
    use prost::Message;
    use servegraph::proto::attr_value::Value;
    use servegraph::proto::{AttrValue, GraphDef, NodeDef};
    let attr = |value| AttrValue { value: Some(value) };
    let float = || attr(Value::Type(DataType::DtFloat as i32));
    let node = |name: String, op: &str, inputs: Vec<String>| NodeDef {
        name,
        op: op.into(),
        input: inputs,
        ..NodeDef::default()
    };
    let dir = root.join("many_source");
    std::fs::create_dir_all(&dir)?;
    let mut graph = GraphDef::default();
    let mut x = node("x".into(), "Placeholder", vec![]);
    x.attr.insert("dtype".into(), float());
    graph.node.push(x);
    let prefix = dir.join("many");
    let mut writer = BundleWriter::create(&prefix)?;
    let mut previous = "x".to_string();
    for i in 0..count {
        let var = format!("v{i:05}");
        let mut v = node(var.clone(), "VariableV2", vec![]);
        v.attr.insert("dtype".into(), float());
        v.attr.insert(
            "shape".into(),
            attr(Value::Shape(servegraph::typing::shape_proto(&[1]))),
        );
        let mut read = node(format!("{var}/read"), "Identity", vec![var.clone()]);
        read.attr.insert("T".into(), float());
        let mut add = node(
            format!("add{i:05}"),
            "AddV2",
            vec![previous.clone(), format!("{var}/read")],
        );
        add.attr.insert("T".into(), float());
        previous = add.name.clone();
        graph.node.extend([v, read, add]);
        writer.add(&var, DataType::DtFloat, &[1], &(i as f32).to_le_bytes())?;
    }
    writer.finish()?;
    let graph_file = dir.join("many.pb");
    std::fs::write(&graph_file, graph.encode_to_vec())?;
    let options = {
        let mut custom = servegraph::ExportOptions::default();
        custom.serving.inputs = vec!["x=x:0".parse()?];
        custom.serving.outputs = vec![format!("y={previous}:0").parse()?];
        custom.source.checkpoint = Some(prefix);
        custom
    };
    let started = Instant::now();
    // The output may not lie inside the directory the export reads.
    let report = servegraph::export_serving_model(&graph_file, root.join("many_export"), &options)?;
    println!(
        "export of a graph reading {} variables ({} nodes): {:.0} ms",
        report.kept.len(),
        report.nodes_before,
        started.elapsed().as_secs_f64() * 1000.0
    );
    print!("{}", report.timings);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("shapes") {
        shape_inference(160_000)?;
        if std::env::var("SHAPES_REPEAT").is_ok() {
            return Ok(());
        }
        return synthetic_graph(200_000);
    }
    let total_mb: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(512);
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("big");
    let tensor_mb = 8;
    let count = total_mb.div_ceil(tensor_mb);
    let floats = tensor_mb * 1024 * 1024 / 4;
    let mut writer = BundleWriter::create(&source)?;
    let mut state = 0x1234_5678u32;
    let mut chunk = vec![0u8; floats * 4];
    let started = Instant::now();
    for i in 0..count {
        for b in chunk.iter_mut() {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *b = state as u8;
        }
        writer.add(
            &format!("layer_{i:04}/kernel"),
            DataType::DtFloat,
            &[floats as i64],
            &chunk,
        )?;
    }
    writer.finish()?;
    drop(chunk);
    let mb = (count * tensor_mb) as f64;
    println!(
        "write {mb:.0} MB bundle ({count} tensors): {:.0} MB/s",
        mb / started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let reader = BundleReader::open(&source)?;
    let open_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    for name in reader.names() {
        reader.read_raw(name.as_bytes())?;
    }
    println!(
        "open index: {open_ms:.2} ms; read + verify CRC: {:.0} MB/s",
        mb / started.elapsed().as_secs_f64()
    );

    let rss_before = peak_rss_mb();
    let plain = copy_all(&reader, &dir.path().join("copy"), false)?;
    println!(
        "copy by byte range (CRC checked in passing): {:.0} MB/s; peak RSS {:.0} MB before, {:.0} MB after",
        mb / plain,
        rss_before,
        peak_rss_mb()
    );
    // Then reported, reported, plain again: the best of each pair, so page
    // cache writeback from an earlier copy weighs on both alike.
    let reported = copy_all(&reader, &dir.path().join("copy_reported"), true)?;
    let reported = reported.min(copy_all(&reader, &dir.path().join("copy_reported2"), true)?);
    let plain = plain.min(copy_all(&reader, &dir.path().join("copy2"), false)?);
    println!(
        "copy, best of two: {:.0} MB/s without progress, {:.0} MB/s with a per-chunk progress callback",
        mb / plain,
        mb / reported
    );

    synthetic_graph(200_000)?;
    shape_inference(160_000)?;
    many_variables(dir.path(), 10_000)?;

    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/fixtures");
    for entry in std::fs::read_dir(&root)? {
        let fixture = entry?.path();
        let Ok(json) = std::fs::read_to_string(fixture.join("fixture.json")) else {
            continue;
        };
        let json: serde_json::Value = serde_json::from_str(&json)?;
        let spec = |field: &str| -> Vec<String> {
            json[field]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v["tensor"].as_str().unwrap_or("")))
                .collect()
        };
        let options = {
            let mut custom = servegraph::ExportOptions::default();
            custom.serving.inputs = spec("inputs")
                .iter()
                .map(|s| s.parse())
                .collect::<Result<_, _>>()?;
            custom.serving.outputs = spec("outputs")
                .iter()
                .map(|s| s.parse())
                .collect::<Result<_, _>>()?;
            custom
        };
        let out = dir.path().join(fixture.file_name().unwrap_or_default());
        let started = Instant::now();
        let report = servegraph::export_serving_model(&fixture, &out, &options)?;
        println!(
            "export {:<20} {:>4} -> {:>3} nodes in {:.1} ms",
            fixture.file_name().unwrap_or_default().to_string_lossy(),
            report.nodes_before,
            report.nodes_after,
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
