//! `export --variant`: a second MetaGraphDef under its own tag set that
//! keeps the training graph's device placements while the served one has
//! them cleared, both over one `variables/` — judged by real TensorFlow.

use crate::common;

use std::path::Path;

use prost::Message;
use servegraph::proto::{MetaGraphDef, SavedModel};

/// Exports `fixture` with its fixture.json tensors and `extra` flags.
fn export(fixture: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    common::export_fixture_cli(fixture, out, extra)
}

fn meta_graph<'a>(saved_model: &'a SavedModel, tags: &[&str]) -> &'a MetaGraphDef {
    saved_model
        .meta_graphs
        .iter()
        .find(|m| m.meta_info_def.as_ref().unwrap().tags == tags)
        .unwrap_or_else(|| panic!("no MetaGraphDef tagged {tags:?}"))
}

/// The devices named in `meta`'s graph, save the restore op's and its
/// inputs' (the written saver pins them to the CPU, as TensorFlow's does).
fn devices(meta: &MetaGraphDef) -> Vec<String> {
    let graph = meta.graph_def.as_ref().unwrap();
    let restore: Vec<&str> = graph
        .node
        .iter()
        .filter(|n| n.op == "RestoreV2")
        .flat_map(|n| std::iter::once(n.name.as_str()).chain(n.input.iter().map(String::as_str)))
        .collect();
    graph
        .node
        .iter()
        .filter(|n| !restore.contains(&n.name.as_str()) && !n.device.is_empty())
        .map(|n| n.device.clone())
        .collect()
}

#[test]
fn a_gpu_variant_loads_beside_the_served_graph_with_every_loader() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let result = export("tiny_mlp", &out, &["--variant", "gpu", "--json"]);
    assert!(result.status.success(), "{}", common::stderr(&result));
    let report: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(report["variants"][0]["name"], "gpu");
    assert_eq!(
        report["variants"][0]["tags"],
        serde_json::json!(["serve", "gpu"])
    );
    let Some(python) = common::tensorflow_python("cli_variants::gpu_variant") else {
        return;
    };
    common::judge(&python, &out, "tiny_mlp", "serve", "tf2,tf1,capi");
    common::judge(&python, &out, "tiny_mlp", "serve,gpu", "tf2,tf1,capi");
}

#[test]
fn the_variant_keeps_device_placements_and_the_served_graph_clears_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let result = export("sharded_partitioned", &out, &["--variant", "gpu"]);
    assert!(result.status.success(), "{}", common::stderr(&result));
    let bytes = std::fs::read(out.join("saved_model.pb")).unwrap();
    let saved_model = SavedModel::decode(bytes.as_slice()).unwrap();
    assert_eq!(saved_model.meta_graphs.len(), 2);
    assert_eq!(
        devices(meta_graph(&saved_model, &["serve"])),
        Vec::<String>::new()
    );
    let kept = devices(meta_graph(&saved_model, &["serve", "gpu"]));
    assert!(
        kept.iter().any(|d| d.ends_with("CPU:1")),
        "the second CPU's placements are kept: {kept:?}"
    );
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        stdout.contains("variant \"gpu\": tags serve,gpu"),
        "{stdout}"
    );
    let Some(python) = common::tensorflow_python("cli_variants::keeps_devices") else {
        return;
    };
    common::judge(
        &python,
        &out,
        "sharded_partitioned",
        "serve",
        "tf2,tf1,capi",
    );
    // Only TF2 places softly: the TF1 and C API loaders, like TensorFlow
    // Serving, need the second CPU the variant was placed on.
    common::judge(&python, &out, "sharded_partitioned", "serve,gpu", "tf2");
}

#[test]
fn an_unknown_or_duplicate_variant_is_an_error_naming_it() {
    let cases: [(&[&str], &str); 3] = [
        (&["--variant", "tpu"], "`tpu`"),
        (&["--variant", "again=serve"], "`again`"),
        (
            &["--variant", "gpu", "--variant", "twin=gpu,serve"],
            "`twin`",
        ),
    ];
    for (flags, culprit) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let result = export("tiny_mlp", &out, flags);
        assert_eq!(result.status.code(), Some(1), "{flags:?}");
        let stderr = common::stderr(&result);
        assert!(stderr.contains(culprit), "{flags:?}: {stderr}");
        assert!(!out.exists(), "{flags:?}: OUT_DIR written");
    }
}
