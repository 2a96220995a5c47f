//! The tests that need nothing but the crate: the CLI, the library API, the
//! formats, the bad-input corpus, the fuzz regressions. One binary, linked
//! once; `cargo test --test offline` is the quick inner loop beside the unit
//! tests (`cargo test --lib`).

#[path = "../common/mod.rs"]
mod common;

mod bad_inputs;
mod cli;
mod cli_errors;
mod cli_show;
mod cli_vocab;
mod docs;
mod examples_cli;
mod explain_metadata;
mod formats;
mod freeze;
mod fuzz_regressions;
mod graph_checks;
mod help_text;
mod input_shapes;
mod inventory;
mod left_behind;
mod library_api;
mod lint;
mod lint_cli;
mod moving_averages;
mod narrowed_read;
mod near_misses;
mod node_explain;
mod output_safety;
mod removal_categories;
mod report_output;
mod report_screen;
mod robustness;
mod serving_versions;
mod shape_inference;
mod size_budgets;
mod snapshots;
mod staged_api;
mod storage_cli;
mod transform_cli;
mod validate_matrix;
