//! The format layer: the bytes TensorFlow writes and reads, with no notion of
//! graphs, passes or serving. Everything above builds on these; nothing here
//! looks up.
//!
//! - [`proto`]: the protobuf types, generated from our own `.proto` files;
//! - [`text`]: protobuf text format (`.pbtxt`, `checkpoint` state files);
//! - [`wire`]: protobuf's wire format, read in place and edited without loss;
//! - [`varint`]: base-128 varints as TensorBundle tables spell them;
//! - [`dtypes`]: element sizes, dtype names, shape protos;
//! - [`attr_map`]: a node's attrs, kept small;
//! - [`tensor`]: typed tensor values ⇄ `TensorProto` and checkpoint bytes;
//! - [`bundle`]: the TensorBundle (checkpoint V2) reader and writer;
//! - [`limits`]: the caps on what an input file can make us allocate;
//! - [`units`]: byte counts as users write them and as reports print them.

pub mod attr_map;
pub mod bundle;
pub mod dtypes;
pub mod limits;
pub mod node_def_ref;
pub mod proto;
pub mod tensor;
pub mod text;
pub mod units;
pub mod varint;
pub mod wire;
