//! Passes by name: what each does, the arguments it takes, and how to build
//! it from parsed arguments. The export pipeline ([`Pipeline::serving`]) and
//! `servegraph transform` both build their passes here, so a name means the
//! same pass everywhere and an unknown name or argument is one error that
//! lists the valid ones.
//!
//! Names are `snake_case` (the Graph Transform Tool's spelling, and the only
//! one its `--transforms` syntax can write); a pass's own kebab-case
//! [`Pass::name`] finds its entry too.
//!
//! [`Pipeline::serving`]: super::Pipeline::serving

use std::collections::BTreeMap;

use super::{Pass, PassError, ServingSpec};

/// What an argument's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// `true` or `false` (`1`/`0` too); a bare flag means true.
    Bool,
    /// A decimal integer.
    Int,
    /// A decimal number.
    Float,
    /// Any text.
    Text,
}

impl ArgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArgKind::Bool => "bool",
            ArgKind::Int => "int",
            ArgKind::Float => "float",
            ArgKind::Text => "string",
        }
    }
}

/// One argument a pass takes.
#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    pub name: &'static str,
    pub kind: ArgKind,
    /// The pass cannot be built without it.
    pub required: bool,
    /// It may be given more than once (`op=Identity, op=CheckNumerics`).
    pub repeated: bool,
    /// The value used when it is not given, as the user would write it.
    pub default: Option<&'static str>,
    pub doc: &'static str,
}

impl ArgSpec {
    /// An optional argument given at most once.
    pub const fn optional(name: &'static str, kind: ArgKind, doc: &'static str) -> ArgSpec {
        ArgSpec {
            name,
            kind,
            required: false,
            repeated: false,
            default: None,
            doc,
        }
    }

    pub const fn required(self) -> ArgSpec {
        ArgSpec {
            required: true,
            ..self
        }
    }

    pub const fn repeated(self) -> ArgSpec {
        ArgSpec {
            repeated: true,
            ..self
        }
    }

    pub const fn default(self, value: &'static str) -> ArgSpec {
        ArgSpec {
            default: Some(value),
            ..self
        }
    }
}

/// The arguments one pass was given, checked against its [`ArgSpec`]s.
/// A value of `None` is a flag written without `=value`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassArgs {
    pass: String,
    values: BTreeMap<String, Vec<Option<String>>>,
}

impl PassArgs {
    /// Arguments for `pass` (unchecked until [`Registry::build`]).
    pub fn new(pass: &str, given: &[(String, Option<String>)]) -> PassArgs {
        let mut values: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
        for (name, value) in given {
            values.entry(name.clone()).or_default().push(value.clone());
        }
        PassArgs {
            pass: pass.into(),
            values,
        }
    }

    /// Every value given for `name`, in order (a bare flag reads as `true`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.values
            .get(name)
            .into_iter()
            .flatten()
            .map(|v| v.as_deref().unwrap_or("true"))
            .collect()
    }

    /// The value of `name`, if given.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.all(name).into_iter().next()
    }

    fn bad(&self, name: &str, value: &str, expected: &'static str) -> PassError {
        PassError::BadArgument {
            pass: self.pass.clone(),
            arg: name.into(),
            value: value.into(),
            expected,
        }
    }

    /// The value of a bool argument; `default` when absent.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, PassError> {
        match self.text(name) {
            None => Ok(default),
            Some(v) => parse_bool(v).ok_or_else(|| self.bad(name, v, "true or false")),
        }
    }

    /// The value of an int argument, if given.
    pub fn int(&self, name: &str) -> Result<Option<i64>, PassError> {
        self.text(name)
            .map(|v| v.parse().map_err(|_| self.bad(name, v, "an integer")))
            .transpose()
    }

    /// The value of a float argument, if given.
    pub fn float(&self, name: &str) -> Result<Option<f64>, PassError> {
        self.text(name)
            .map(|v| v.parse().map_err(|_| self.bad(name, v, "a number")))
            .transpose()
    }

    /// A required text argument (checked present by [`Registry::build`]).
    pub fn required_text(&self, name: &str) -> Result<&str, PassError> {
        self.text(name).ok_or_else(|| PassError::MissingArgument {
            pass: self.pass.clone(),
            arg: name.into(),
        })
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// What a constructor may draw on besides its arguments: the export's
/// serving spec, or the `--inputs`/`--outputs` of a transform run.
#[derive(Debug, Clone, Default)]
pub struct BuildContext {
    pub spec: ServingSpec,
    /// Node or tensor names the graph is fed through.
    pub inputs: Vec<String>,
    /// Node or tensor names whose values must not change.
    pub outputs: Vec<String>,
}

/// Builds a pass from its checked arguments.
pub type Constructor = fn(&PassArgs, &BuildContext) -> Result<Box<dyn Pass>, PassError>;

/// A pass by name.
#[derive(Clone)]
pub struct PassEntry {
    pub name: &'static str,
    /// One line: what the pass does.
    pub doc: &'static str,
    pub args: &'static [ArgSpec],
    pub build: Constructor,
}

impl PassEntry {
    /// Checks `args` against the entry's specs.
    fn check(&self, args: &PassArgs) -> Result<(), PassError> {
        for (name, values) in &args.values {
            let spec = self.args.iter().find(|a| a.name == name).ok_or_else(|| {
                PassError::UnknownArgument {
                    pass: self.name.into(),
                    arg: name.clone(),
                    known: self.args.iter().map(|a| a.name.to_string()).collect(),
                }
            })?;
            check_values(self.name, spec, values)?;
        }
        match self
            .args
            .iter()
            .find(|a| a.required && !args.values.contains_key(a.name))
        {
            Some(missing) => Err(PassError::MissingArgument {
                pass: self.name.into(),
                arg: missing.name.into(),
            }),
            None => Ok(()),
        }
    }
}

fn check_values(pass: &str, spec: &ArgSpec, values: &[Option<String>]) -> Result<(), PassError> {
    if values.len() > 1 && !spec.repeated {
        return Err(PassError::RepeatedArgument {
            pass: pass.into(),
            arg: spec.name.into(),
        });
    }
    let bad = |value: &str, expected| PassError::BadArgument {
        pass: pass.into(),
        arg: spec.name.into(),
        value: value.into(),
        expected,
    };
    for value in values {
        let ok = match (spec.kind, value.as_deref()) {
            (ArgKind::Bool, None) => true,
            (_, None) => return Err(bad("", "a value (name=value)")),
            (ArgKind::Bool, Some(v)) => parse_bool(v).is_some(),
            (ArgKind::Int, Some(v)) => v.parse::<i64>().is_ok(),
            (ArgKind::Float, Some(v)) => v.parse::<f64>().is_ok(),
            (ArgKind::Text, Some(_)) => true,
        };
        if !ok {
            return Err(bad(value.as_deref().unwrap_or(""), spec.kind.as_str()));
        }
    }
    Ok(())
}

/// The passes that can be named.
#[derive(Clone, Default)]
pub struct Registry {
    entries: Vec<PassEntry>,
}

impl Registry {
    /// No passes.
    pub fn empty() -> Registry {
        Registry::default()
    }

    /// Adds (or replaces) the entry of its name.
    pub fn register(&mut self, entry: PassEntry) {
        match self.entries.iter_mut().find(|e| e.name == entry.name) {
            Some(existing) => *existing = entry,
            None => self.entries.push(entry),
        }
    }

    /// Every entry, in registration order.
    pub fn entries(&self) -> &[PassEntry] {
        &self.entries
    }

    /// The entry called `name` (`-` and `_` alike), or an error listing the known ones.
    pub fn get(&self, name: &str) -> Result<&PassEntry, PassError> {
        let wanted = name.replace('-', "_");
        self.entries
            .iter()
            .find(|e| e.name == wanted)
            .ok_or_else(|| PassError::UnknownTransform {
                name: name.into(),
                known: self.entries.iter().map(|e| e.name.to_string()).collect(),
            })
    }

    /// Builds the pass `name` from `args`, after checking them.
    pub fn build(
        &self,
        name: &str,
        args: &[(String, Option<String>)],
        cx: &BuildContext,
    ) -> Result<Box<dyn Pass>, PassError> {
        let entry = self.get(name)?;
        let args = PassArgs::new(entry.name, args);
        entry.check(&args)?;
        (entry.build)(&args, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(name: &str, value: &str) -> (String, Option<String>) {
        (name.into(), Some(value.into()))
    }

    #[test]
    fn an_unknown_pass_is_an_error_listing_the_known_ones() {
        let err = Registry::standard()
            .build("fold_everything", &[], &BuildContext::default())
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(text.contains("fold_everything"), "{text}");
        assert!(text.contains("strip_unused_nodes"), "{text}");
        assert!(text.contains("dropout"), "{text}");
    }

    #[test]
    fn an_unknown_argument_is_an_error_listing_the_valid_ones() {
        let err = Registry::standard()
            .build(
                "remove_nodes",
                &[arg("ops", "Identity")],
                &BuildContext::default(),
            )
            .err()
            .unwrap();
        match err {
            PassError::UnknownArgument { pass, arg, known } => {
                assert_eq!((pass.as_str(), arg.as_str()), ("remove_nodes", "ops"));
                assert!(known.contains(&"op".to_string()), "{known:?}");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn arguments_are_checked_for_presence_repetition_and_type() {
        let registry = Registry::standard();
        let cx = BuildContext::default();
        let missing = registry.build("set_device", &[], &cx).err().unwrap();
        assert!(
            matches!(missing, PassError::MissingArgument { .. }),
            "{missing}"
        );
        let twice = [arg("device", "/cpu:0"), arg("device", "/cpu:1")];
        let repeated = registry.build("set_device", &twice, &cx).err().unwrap();
        assert!(
            matches!(repeated, PassError::RepeatedArgument { .. }),
            "{repeated}"
        );
        let bad = [arg("max_inputs", "many"), arg("op", "Identity")];
        let typed = registry.build("remove_nodes", &bad, &cx).err().unwrap();
        assert!(matches!(typed, PassError::BadArgument { .. }), "{typed}");
        let bare = [("op".to_string(), None)];
        let no_value = registry.build("remove_nodes", &bare, &cx).err().unwrap();
        assert!(
            matches!(no_value, PassError::BadArgument { .. }),
            "{no_value}"
        );
    }

    #[test]
    fn every_serving_pass_builds_without_arguments_under_its_pipeline_name() {
        let registry = Registry::standard();
        let cx = BuildContext::default();
        for entry in super::super::registry_entries::serving_entries() {
            let pass = registry.build(entry.name, &[], &cx).unwrap();
            assert_eq!(
                pass.name().replace('-', "_"),
                entry.name.replace("strip_training_ops", "prune")
            );
        }
        let pipeline = super::super::Pipeline::serving(&ServingSpec::default());
        assert_eq!(
            pipeline.names().len(),
            super::super::Pipeline::serving_pass_names(&ServingSpec::default()).len()
        );
    }

    #[test]
    fn kebab_case_pass_names_find_their_entry() {
        let registry = Registry::standard();
        let pass = registry
            .build("batch-norm", &[], &BuildContext::default())
            .unwrap();
        assert_eq!(pass.name(), "batch-norm");
    }

    #[test]
    fn a_bare_flag_reads_as_true() {
        let args = PassArgs::new("x", &[("ignore_errors".into(), None)]);
        assert!(args.bool("ignore_errors", false).unwrap());
        assert!(
            !PassArgs::new("x", &[])
                .bool("ignore_errors", false)
                .unwrap()
        );
    }
}
