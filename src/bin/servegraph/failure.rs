//! A failed command as the user reads it: the message chain, what it is
//! about (the culprit: a file, node, tensor or flag), the flag that answers
//! it, and under `--json` the same as one object on stdout,
//! `{"error": {"kind", "message", "culprit", "hint"}}`, so a script reading
//! stdout learns why as well as the exit code.

use servegraph::Error;
use servegraph::error::{PassError, ReadError, WriteError};

/// An error the command line itself finds (not the library): a path that
/// is not what the subcommand takes, say.
#[derive(Debug)]
pub struct CliError {
    pub kind: &'static str,
    pub message: String,
    pub culprit: Option<String>,
    pub hint: Option<String>,
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// The stage an error comes from, a stable word for scripts: `read`,
/// `pass`, `write`, `check`, `size`, ... ; `usage` for the command line's
/// own checks.
pub fn kind(error: &(dyn std::error::Error + 'static)) -> &'static str {
    if let Some(cli) = error.downcast_ref::<CliError>() {
        return cli.kind;
    }
    // A flag's value the command line parses with the library's types.
    if error.downcast_ref::<PassError>().is_some() {
        return "usage";
    }
    let Some(error) = error.downcast_ref::<Error>() else {
        return "error";
    };
    match error {
        Error::Read(_) => "read",
        Error::Pass(_) => "pass",
        Error::Write(_) => "write",
        Error::Bundle(_) => "checkpoint",
        Error::Ir(_) => "graph",
        Error::Check(_) => "check",
        Error::Variant(_) => "variant",
        Error::Vocab(_) => "vocabulary",
        Error::Size(_) => "size",
        Error::Warmup(_) => "warmup",
        Error::Explain(_) => "xai-metadata",
        Error::ObjectGraph(_) => "object-graph",
        Error::Transform(_) => "transform",
        Error::NodeExplain(_) => "explain",
        Error::Tf2(_) => "tf2",
    }
}

/// What the error is about, when it names one thing: the path, node,
/// tensor, checkpoint key or flag value at fault.
pub fn culprit(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(cli) = error.downcast_ref::<CliError>() {
        return cli.culprit.clone();
    }
    if let Some(error) = error.downcast_ref::<PassError>() {
        return pass_culprit(error);
    }
    match error.downcast_ref::<Error>()? {
        Error::Read(error) => read_culprit(error),
        Error::Pass(error) => pass_culprit(error),
        Error::Write(error) => write_culprit(error),
        Error::Check(servegraph::check::CheckError::NoCheckpoint { variables }) => {
            variables.first().cloned()
        }
        _ => None,
    }
}

fn read_culprit(error: &ReadError) -> Option<String> {
    let path = match error {
        ReadError::Io { path, .. }
        | ReadError::Decode { path, .. }
        | ReadError::Text { path, .. }
        | ReadError::NotFound { path, .. }
        | ReadError::DoesNotExist { path }
        | ReadError::Unrecognized { path }
        | ReadError::NotAModelDirectory { path }
        | ReadError::CheckpointsWithoutState { path, .. }
        | ReadError::NotASavedModel { path }
        | ReadError::NoMetaGraph { path, .. }
        | ReadError::Graph { path, .. } => path,
        _ => return None,
    };
    Some(path.display().to_string())
}

fn pass_culprit(error: &PassError) -> Option<String> {
    Some(match error {
        PassError::BadSpec { what, spec, .. } => format!("--{what} {spec}"),
        PassError::InputComponent { input, .. } => format!("--input {input}"),
        PassError::TrainingOpRemains { node, .. } => node.clone(),
        PassError::BakedBatch(baked) => baked.node.clone(),
        PassError::UnknownTransform { name, .. } | PassError::UnknownPass { name, .. } => {
            name.clone()
        }
        _ => return None,
    })
}

fn write_culprit(error: &WriteError) -> Option<String> {
    match error {
        WriteError::OutputExists { path } => Some(path.display().to_string()),
        WriteError::NoCheckpoint { variables } => variables.first().cloned(),
        WriteError::MissingVariable { variable, .. } => Some(variable.clone()),
        _ => None,
    }
}

/// The error as the `--json` object.
pub fn to_json(
    error: &(dyn std::error::Error + 'static),
    hint: Option<String>,
) -> serde_json::Value {
    let hint = hint.or_else(|| {
        error
            .downcast_ref::<CliError>()
            .and_then(|e| e.hint.clone())
    });
    serde_json::json!({
        "error": {
            "kind": kind(error),
            "message": servegraph::error::messages(error).join(": "),
            "culprit": culprit(error),
            "hint": hint,
        }
    })
}
