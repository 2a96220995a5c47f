//! Compiles `proto/` into Rust types with prost-build. protox parses the
//! `.proto` files in pure Rust, so building servegraph needs no `protoc`.
//! The encoded descriptor set is also written to `OUT_DIR` so that
//! prost-reflect can read and print protobuf text format at run time.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from("proto");
    let mut files: Vec<PathBuf> = std::fs::read_dir(proto_dir.join("tensorflow"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    files.sort();
    println!("cargo:rerun-if-changed=proto");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let descriptors = protox::compile(&files, [&proto_dir])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("file_descriptor_set.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;

    prost_build::Config::new()
        .btree_map(["."])
        .bytes(["."])
        // A map entry is as big as its largest variant: unboxed, every
        // attr costs a TensorProto's ~400 bytes (and a BTreeMap leaf eleven
        // of them), whatever it holds.
        .boxed(".tensorflow.AttrValue.value.tensor")
        .boxed(".tensorflow.AttrValue.value.list")
        .compile_fds(descriptors)?;
    Ok(())
}
