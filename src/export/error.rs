//! Errors, one enum per stage, gathered under [`Error`]. Every variant says
//! where the problem is: the file, the node, the tensor or the checkpoint key.

pub use crate::back::explain::ExplainError;
pub use crate::back::size::SizeError;
pub use crate::back::warmup::WarmupError;
pub use crate::back::write::WriteError;
pub use crate::export::VariantError;
pub use crate::format::bundle::BundleError;
pub use crate::format::text::TextError;
pub use crate::front::check::CheckError;
pub use crate::front::object_graph::ObjectGraphError;
pub use crate::front::read::ReadError;
pub use crate::ir::IrError;
pub use crate::passes::PassError;
pub use crate::passes::node_explain::NodeExplainError;
pub use crate::passes::transform_spec::TransformError;
pub use crate::tf2::Tf2Error;
pub use crate::vocab::VocabError;

/// The messages of `error` and of its sources, outermost first, for printing
/// one per line. A cause whose text the line before already contains (a
/// message that embeds its cause) is left out, so no text is printed twice.
pub fn messages(error: &dyn std::error::Error) -> Vec<String> {
    let mut lines = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !lines.last().is_some_and(|last| last.contains(&text)) {
            lines.push(text);
        }
        source = cause.source();
    }
    lines
}

/// Any servegraph failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Pass(#[from] PassError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Ir(#[from] IrError),
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error(transparent)]
    Variant(#[from] VariantError),
    #[error(transparent)]
    Vocab(#[from] VocabError),
    #[error(transparent)]
    Size(#[from] SizeError),
    #[error(transparent)]
    Warmup(#[from] WarmupError),
    #[error(transparent)]
    Explain(#[from] ExplainError),
    #[error(transparent)]
    ObjectGraph(#[from] ObjectGraphError),
    /// Boxed: it carries a parse position and a pass error.
    #[error(transparent)]
    Transform(Box<TransformError>),
    #[error(transparent)]
    NodeExplain(#[from] NodeExplainError),
    #[error(transparent)]
    Tf2(Tf2Error),
}

/// A stage the lean route shares with the graph route reports as that
/// stage, whichever route ran it.
impl From<Tf2Error> for Error {
    fn from(error: Tf2Error) -> Error {
        match error {
            Tf2Error::Write(error) => Error::Write(error),
            Tf2Error::Read(error) => Error::Read(error),
            Tf2Error::Size(error) => Error::Size(error),
            error => Error::Tf2(error),
        }
    }
}

impl From<TransformError> for Error {
    fn from(error: TransformError) -> Error {
        Error::Transform(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the model: {source}")]
    struct Embeds {
        source: std::io::Error,
    }

    fn not_found() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")
    }

    #[test]
    fn a_chain_never_repeats_a_cause_its_message_embeds() {
        let embedded = Embeds {
            source: not_found(),
        };
        assert_eq!(messages(&embedded), ["cannot open the model: no such file"]);
        let chained = ReadError::Io {
            path: "run/model.ckpt-5.meta".into(),
            source: not_found(),
        };
        assert_eq!(
            messages(&chained),
            ["cannot read run/model.ckpt-5.meta", "no such file"]
        );
    }
}
