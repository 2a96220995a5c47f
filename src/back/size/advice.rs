//! Limits a SavedModel must stay under and what would bring it there: for
//! each limit exceeded or close, every flag that lowers what the limit
//! measures, with the bytes it would take off, computed from an
//! [`Inventory`] by the same per-tensor rules the conversions use.

use std::fmt::{self, Display, Formatter};

use serde::Serialize;

use super::inventory::{Inventory, Precision, sum_files};

/// The legacy AI Platform (MLS1) limit on the whole directory, in decimal bytes.
pub const MLS1_BYTES: u64 = 500 * 1000 * 1000;
/// The N1 machine types' limit on the whole directory, in decimal bytes.
pub const N1_BYTES: u64 = 10 * 1000 * 1000 * 1000;
/// TensorFlow Serving and older TensorFlow refuse a larger `saved_model.pb`.
pub const TF_SERVING_GRAPH_BYTES: u64 = 1 << 30;
/// Protobuf refuses a larger message, so no `saved_model.pb` can be larger.
pub const PROTOBUF_BYTES: u64 = 2 << 30;

/// A measure within this fraction of its limit (in per mille) is "close".
const CLOSE_PER_MILLE: u64 = 900;

/// What a limit is put on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Every file in the directory.
    Total,
    /// `saved_model.pb` alone.
    SavedModel,
}

/// Which limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    Mls1,
    N1,
    TfServingGraph,
    ProtobufMessage,
    /// The `--max-size` an export was given.
    MaxSize,
}

/// A limit and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limit {
    pub kind: LimitKind,
    pub bytes: u64,
}

/// The limits every SavedModel is held to.
pub const SERVICE_LIMITS: [Limit; 4] = [
    Limit {
        kind: LimitKind::Mls1,
        bytes: MLS1_BYTES,
    },
    Limit {
        kind: LimitKind::N1,
        bytes: N1_BYTES,
    },
    Limit {
        kind: LimitKind::TfServingGraph,
        bytes: TF_SERVING_GRAPH_BYTES,
    },
    Limit {
        kind: LimitKind::ProtobufMessage,
        bytes: PROTOBUF_BYTES,
    },
];

impl Limit {
    pub fn measure(&self) -> Measure {
        match self.kind {
            LimitKind::Mls1 | LimitKind::N1 | LimitKind::MaxSize => Measure::Total,
            LimitKind::TfServingGraph | LimitKind::ProtobufMessage => Measure::SavedModel,
        }
    }
}

impl Display for LimitKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::Mls1 => "500 MB MLS1 limit",
            LimitKind::N1 => "10 GB N1 limit",
            LimitKind::TfServingGraph => "1 GiB TF Serving limit",
            LimitKind::ProtobufMessage => "2 GiB protobuf limit",
            LimitKind::MaxSize => "size limit",
        })
    }
}

/// Where a measure stands against its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Under,
    /// Under, but within 10% of the limit.
    Close,
    Over,
}

/// One limit checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitCheck {
    pub limit: LimitKind,
    pub measure: Measure,
    pub limit_bytes: u64,
    pub bytes: u64,
    pub standing: Standing,
}

/// A flag (or a file left out) that lowers a measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "remedy")]
pub enum Remedy {
    /// `--weights f16` or `--weights int8`.
    Weights { precision: Precision },
    /// `--freeze`, with `--weights` when given.
    Freeze { precision: Option<Precision> },
    /// Files serving does not read (outside `saved_model.pb`, `variables/`
    /// and `assets/`), left out of the upload.
    RemoveFiles { files: Vec<String> },
}

/// What one remedy would do to one limit's measure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advice {
    pub limit: LimitKind,
    pub limit_bytes: u64,
    #[serde(flatten)]
    pub remedy: Remedy,
    /// Bytes the measure would lose.
    pub saves_bytes: u64,
    /// The measure afterwards.
    pub projected_bytes: u64,
    /// `projected_bytes <= limit_bytes`.
    pub brings_under: bool,
    /// How far `saves_bytes` can be relied on.
    pub precision_of_figures: Figures,
}

/// How exact an advice's figures are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Figures {
    /// The bytes the files would lose.
    Exact,
    /// At most these bytes: `--weights` leaves float32 any tensor that
    /// feeds integer or index math, which only the export can tell.
    AtMost,
    /// A freeze also drops the restore ops and adds a few bytes of framing
    /// per constant, neither counted.
    About,
}

impl Remedy {
    /// How exact this remedy's figures are.
    pub fn figures(&self) -> Figures {
        match self {
            Remedy::Weights { .. } => Figures::AtMost,
            Remedy::Freeze { .. } => Figures::About,
            Remedy::RemoveFiles { .. } => Figures::Exact,
        }
    }
}

/// The limits checked and the advice for those exceeded or close.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub limits: Vec<LimitCheck>,
    /// No limit is exceeded or close.
    pub under_every_limit: bool,
    pub advice: Vec<Advice>,
}

/// The directory's total and `saved_model.pb` after a remedy.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Outcome {
    total: u64,
    saved_model: u64,
}

/// Checks `inventory` against `limits` and, for each limit exceeded or
/// close, lists every remedy that lowers its measure.
pub fn assess(inventory: &Inventory, limits: &[Limit]) -> Assessment {
    let now = Outcome {
        total: inventory.total_bytes(),
        saved_model: inventory.saved_model_bytes,
    };
    let checks: Vec<LimitCheck> = limits.iter().map(|l| check(l, now)).collect();
    let remedies = remedies(inventory);
    let mut advice = Vec::new();
    for (limit, checked) in limits.iter().zip(&checks) {
        if checked.standing == Standing::Under {
            continue;
        }
        for remedy in &remedies {
            advice.extend(advise(limit, checked.bytes, remedy, inventory));
        }
    }
    Assessment {
        under_every_limit: checks.iter().all(|c| c.standing == Standing::Under),
        limits: checks,
        advice,
    }
}

fn check(limit: &Limit, now: Outcome) -> LimitCheck {
    let bytes = measured(limit.measure(), now);
    let close_from = u128::from(limit.bytes) * u128::from(CLOSE_PER_MILLE) / 1000;
    let standing = if bytes > limit.bytes {
        Standing::Over
    } else if u128::from(bytes) > close_from {
        Standing::Close
    } else {
        Standing::Under
    };
    LimitCheck {
        limit: limit.kind,
        measure: limit.measure(),
        limit_bytes: limit.bytes,
        bytes,
        standing,
    }
}

fn measured(measure: Measure, outcome: Outcome) -> u64 {
    match measure {
        Measure::Total => outcome.total,
        Measure::SavedModel => outcome.saved_model,
    }
}

/// Every remedy worth weighing for this inventory: a precision only when
/// smaller than the one its weights are stored at already.
fn remedies(inventory: &Inventory) -> Vec<Remedy> {
    let precisions = inventory.stored.smaller_precisions();
    let mut all: Vec<Remedy> = precisions
        .iter()
        .map(|&precision| Remedy::Weights { precision })
        .collect();
    // A precision that converts nothing would only repeat the plain freeze.
    let converting = precisions
        .iter()
        .copied()
        .filter(|&p| inventory.variable_savings(p) > 0 || inventory.constant_savings(p) > 0);
    let freezes = std::iter::once(None).chain(converting.map(Some));
    all.extend(freezes.map(|precision| Remedy::Freeze { precision }));
    if !inventory.other.is_empty() {
        let files = inventory.other.iter().map(|f| f.path.clone()).collect();
        all.push(Remedy::RemoveFiles { files });
    }
    all
}

/// The advice `remedy` gives for `limit`, if it lowers the limit's measure.
fn advise(limit: &Limit, bytes: u64, remedy: &Remedy, inventory: &Inventory) -> Option<Advice> {
    let after = measured(limit.measure(), outcome(remedy, inventory)?);
    let saves_bytes = bytes.checked_sub(after).filter(|saved| *saved > 0)?;
    Some(Advice {
        limit: limit.kind,
        limit_bytes: limit.bytes,
        remedy: remedy.clone(),
        saves_bytes,
        projected_bytes: after,
        brings_under: after <= limit.bytes,
        precision_of_figures: remedy.figures(),
    })
}

/// The total and `saved_model.pb` after `remedy`; `None` when it cannot
/// apply (a freeze that would pass either `saved_model.pb` limit).
fn outcome(remedy: &Remedy, inventory: &Inventory) -> Option<Outcome> {
    let total = inventory.total_bytes();
    let saved_model = inventory.saved_model_bytes;
    match remedy {
        Remedy::Weights { precision } => {
            let in_graph = inventory.constant_savings(*precision);
            let saved = inventory.variable_savings(*precision) + in_graph;
            Some(Outcome {
                total: total.saturating_sub(saved),
                saved_model: saved_model.saturating_sub(in_graph),
            })
        }
        Remedy::Freeze { precision } => frozen(inventory, *precision),
        Remedy::RemoveFiles { .. } => Some(Outcome {
            total: total.saturating_sub(sum_files(&inventory.other)),
            saved_model,
        }),
    }
}

/// A freeze moves every variable's bytes (at `precision`) into
/// `saved_model.pb` and drops `variables/`. The restore ops it removes and
/// the few bytes of framing each constant adds are not counted. `None`
/// without variables, or when `saved_model.pb` would pass 1 GiB or one
/// constant 2 GiB (a freeze is then refused).
fn frozen(inventory: &Inventory, precision: Option<Precision>) -> Option<Outcome> {
    if inventory.tensors.is_empty() {
        return None;
    }
    let (constants, data) = match precision {
        Some(p) => (
            inventory.constant_savings(p),
            inventory
                .variables_data_bytes()
                .saturating_sub(inventory.variable_savings(p)),
        ),
        None => (0, inventory.variables_data_bytes()),
    };
    let data = data.saturating_sub(inventory.unaccounted_data_bytes);
    let saved_model = inventory
        .saved_model_bytes
        .saturating_sub(constants)
        .saturating_add(data);
    if saved_model > TF_SERVING_GRAPH_BYTES || inventory.largest_tensor(precision) > PROTOBUF_BYTES
    {
        return None;
    }
    let rest = sum_files(&inventory.assets).saturating_add(sum_files(&inventory.other));
    Some(Outcome {
        total: saved_model.saturating_add(rest),
        saved_model,
    })
}

impl Display for Remedy {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Remedy::Weights { precision } => write!(f, "--weights {}", precision_flag(*precision)),
            Remedy::Freeze { precision: None } => f.write_str("--freeze"),
            Remedy::Freeze { precision: Some(p) } => {
                write!(f, "--freeze --weights {}", precision_flag(*p))
            }
            Remedy::RemoveFiles { files } => {
                write!(f, "leaving out {}", files.join(", "))
            }
        }
    }
}

fn precision_flag(precision: Precision) -> &'static str {
    match precision {
        Precision::F16 => "f16",
        Precision::Int8 => "int8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::back::size::inventory::{FileBytes, Piece, StoredTensor, StoredWeights};
    use crate::format::proto::DataType;

    const MB: u64 = 1_000_000;

    fn float_tensor(key: &str, shape: &[i64]) -> StoredTensor {
        let elements: i64 = shape.iter().product();
        StoredTensor {
            key: key.into(),
            dtype: DataType::DtFloat,
            pieces: vec![Piece {
                dtype: DataType::DtFloat,
                shape: shape.to_vec(),
                bytes: elements as u64 * 4,
            }],
            scales: Vec::new(),
        }
    }

    /// A model of `kernel` float32 elements in a [rows, 1000] kernel, a
    /// 1 MB graph, a 2 KB index and a 1 KB fingerprint.
    fn model(rows: i64) -> Inventory {
        Inventory {
            saved_model_bytes: MB,
            variables_index_bytes: 2_000,
            object_graph_bytes: 0,
            tensors: vec![
                float_tensor("dense/kernel", &[rows, 1000]),
                float_tensor("dense/bias", &[1000]),
            ],
            unaccounted_data_bytes: 0,
            assets: Vec::new(),
            other: vec![FileBytes {
                path: "fingerprint.pb".into(),
                bytes: 1_000,
            }],
            graph_constants: Vec::new(),
            stored: StoredWeights::default(),
        }
    }

    fn advice_for(assessment: &Assessment, kind: LimitKind) -> Vec<&Advice> {
        let advice = assessment.advice.iter();
        advice.filter(|a| a.limit == kind).collect()
    }

    fn one<'a>(advice: &[&'a Advice], remedy: &Remedy) -> Option<&'a Advice> {
        advice.iter().copied().find(|a| a.remedy == *remedy)
    }

    #[test]
    fn a_small_model_is_under_every_limit_with_no_advice() {
        let assessment = assess(&model(100), &SERVICE_LIMITS);
        assert!(assessment.under_every_limit);
        assert!(assessment.advice.is_empty());
        assert!(
            assessment
                .limits
                .iter()
                .all(|c| c.standing == Standing::Under)
        );
        assert_eq!(assessment.limits.len(), 4);
    }

    #[test]
    fn over_mls1_each_flag_is_weighed_by_the_bytes_it_saves() {
        // 150,000 x 1000 float32 = 600 MB of kernel.
        let inventory = model(150_000);
        let total = inventory.total_bytes();
        assert_eq!(total, MB + 2_000 + 600 * MB + 4_000 + 1_000);
        let assessment = assess(&inventory, &SERVICE_LIMITS);
        assert!(!assessment.under_every_limit);
        let standing: Vec<Standing> = assessment.limits.iter().map(|c| c.standing).collect();
        assert_eq!(
            standing,
            [
                Standing::Over,
                Standing::Under,
                Standing::Under,
                Standing::Under
            ]
        );
        let mls1 = advice_for(&assessment, LimitKind::Mls1);

        let f16 = one(
            &mls1,
            &Remedy::Weights {
                precision: Precision::F16,
            },
        )
        .unwrap();
        assert_eq!(f16.saves_bytes, 300 * MB);
        assert_eq!(f16.projected_bytes, total - 300 * MB);
        assert!(f16.brings_under);

        // int8: one byte per element plus one 4-byte scale per output column.
        let int8 = one(
            &mls1,
            &Remedy::Weights {
                precision: Precision::Int8,
            },
        )
        .unwrap();
        assert_eq!(int8.saves_bytes, 450 * MB - 4_000);
        assert!(int8.brings_under);

        // A freeze alone only drops the index: still over.
        let freeze = one(&mls1, &Remedy::Freeze { precision: None }).unwrap();
        assert_eq!(freeze.saves_bytes, 2_000);
        assert!(!freeze.brings_under);
        let frozen_f16 = Remedy::Freeze {
            precision: Some(Precision::F16),
        };
        let frozen_f16 = one(&mls1, &frozen_f16).unwrap();
        assert_eq!(frozen_f16.projected_bytes, MB + 300 * MB + 4_000 + 1_000);
        assert!(frozen_f16.brings_under);

        let remove = Remedy::RemoveFiles {
            files: vec!["fingerprint.pb".into()],
        };
        assert_eq!(one(&mls1, &remove).unwrap().saves_bytes, 1_000);
        // N1 is far: no advice for it.
        assert!(advice_for(&assessment, LimitKind::N1).is_empty());
    }

    #[test]
    fn a_freeze_is_not_offered_when_saved_model_pb_would_pass_1_gib() {
        // 2 GB of kernel: frozen as float32 it passes 1 GiB, as f16 (1 GB) it does not.
        let inventory = model(500_000);
        let assessment = assess(&inventory, &SERVICE_LIMITS);
        let mls1 = advice_for(&assessment, LimitKind::Mls1);
        assert!(one(&mls1, &Remedy::Freeze { precision: None }).is_none());
        let f16 = Remedy::Freeze {
            precision: Some(Precision::F16),
        };
        let frozen = one(&mls1, &f16).unwrap();
        assert_eq!(frozen.projected_bytes, MB + 1_000 * MB + 4_000 + 1_000);
        assert!(!frozen.brings_under, "1 GB is over 500 MB");
        let int8 = Remedy::Freeze {
            precision: Some(Precision::Int8),
        };
        assert!(one(&mls1, &int8).is_some());
    }

    #[test]
    fn a_graph_over_1_gib_is_advised_by_its_float_constants() {
        let mut inventory = model(10);
        let constant_bytes = 1_200 * MB;
        inventory.saved_model_bytes = constant_bytes + MB;
        inventory.graph_constants = vec![Piece {
            dtype: DataType::DtFloat,
            shape: vec![300_000_000],
            bytes: constant_bytes,
        }];
        let assessment = assess(&inventory, &SERVICE_LIMITS);
        let graph = advice_for(&assessment, LimitKind::TfServingGraph);
        let f16 = one(
            &graph,
            &Remedy::Weights {
                precision: Precision::F16,
            },
        )
        .unwrap();
        assert_eq!(f16.projected_bytes, 600 * MB + MB);
        assert!(f16.brings_under);
        // A freeze converting the constants too lowers it; a plain freeze
        // (which grows it) or leaving out other files does not.
        assert!(one(&graph, &Remedy::Freeze { precision: None }).is_none());
        assert!(
            graph
                .iter()
                .all(|a| !matches!(a.remedy, Remedy::RemoveFiles { .. }))
        );
        let frozen = one(
            &graph,
            &Remedy::Freeze {
                precision: Some(Precision::F16),
            },
        );
        assert_eq!(frozen.unwrap().projected_bytes, 601 * MB + 20_000 + 4_000);
        let protobuf = assessment
            .limits
            .iter()
            .find(|c| c.limit == LimitKind::ProtobufMessage);
        assert_eq!(protobuf.unwrap().standing, Standing::Under);
    }

    /// `model(rows)` as an export with `--weights f16` writes it: every
    /// float tensor of at least `min_elements` stored as float16.
    fn stored_as_f16(rows: i64, min_elements: u64) -> Inventory {
        let mut inventory = model(rows);
        for tensor in &mut inventory.tensors {
            for piece in &mut tensor.pieces {
                if crate::format::bundle::reader::num_elements(&piece.shape).unwrap()
                    >= min_elements
                {
                    piece.dtype = DataType::DtHalf;
                    piece.bytes /= 2;
                }
            }
        }
        inventory.stored = StoredWeights {
            precision: Some(Precision::F16),
            min_elements,
        };
        inventory
    }

    #[test]
    fn an_export_stored_as_f16_is_advised_int8_from_its_float16_weights() {
        // 300,000 x 1000 float16 = 600 MB of kernel.
        let inventory = stored_as_f16(300_000, 1024);
        let assessment = assess(&inventory, &SERVICE_LIMITS);
        let mls1 = advice_for(&assessment, LimitKind::Mls1);
        let remedies: Vec<String> = mls1.iter().map(|a| a.remedy.to_string()).collect();
        assert!(remedies.iter().all(|r| !r.contains("f16")), "{remedies:?}");
        // From float16: one byte per element less, minus a 4-byte scale per column.
        let int8 = Remedy::Weights {
            precision: Precision::Int8,
        };
        let int8 = one(&mls1, &int8).unwrap();
        assert_eq!(int8.saves_bytes, 300 * MB - 4_000);
        assert!(int8.brings_under);
        // Adding --freeze keeps the float16 data as it is.
        let freeze = one(&mls1, &Remedy::Freeze { precision: None }).unwrap();
        assert_eq!(freeze.saves_bytes, 2_000);
    }

    #[test]
    fn the_export_s_own_threshold_decides_what_int8_would_convert() {
        // The 1,000-element bias went to float16 too under --weights-min-size 0.
        let inventory = stored_as_f16(100, 0);
        let bias = inventory.tensors[1].bytes_after(Precision::Int8, &inventory.stored);
        assert_eq!(bias, 1_000 + 4);
        let mut default_threshold = inventory.clone();
        default_threshold.stored.min_elements = 1024;
        let kept =
            default_threshold.tensors[1].bytes_after(Precision::Int8, &default_threshold.stored);
        assert_eq!(kept, 2_000);
    }

    #[test]
    fn an_export_stored_as_int8_is_advised_no_precision() {
        let mut inventory = model(150_000);
        inventory.stored.precision = Some(Precision::Int8);
        let assessment = assess(&inventory, &SERVICE_LIMITS);
        let remedies: Vec<String> = advice_for(&assessment, LimitKind::Mls1)
            .iter()
            .map(|a| a.remedy.to_string())
            .collect();
        assert_eq!(remedies, ["--freeze", "leaving out fingerprint.pb"]);
    }

    #[test]
    fn a_precision_that_converts_nothing_is_not_advised() {
        // Only a 1,000-element bias is float: below the threshold.
        let mut inventory = model(0);
        inventory.other[0].bytes = 600 * MB;
        let assessment = assess(&inventory, &SERVICE_LIMITS);
        let remedies: Vec<String> = advice_for(&assessment, LimitKind::Mls1)
            .iter()
            .map(|a| a.remedy.to_string())
            .collect();
        assert_eq!(remedies, ["--freeze", "leaving out fingerprint.pb"]);
    }

    #[test]
    fn within_ten_percent_of_a_limit_is_close_and_advised() {
        // 120,000 x 1000 float32 = 480 MB, plus the rest: 96% of 500 MB.
        let assessment = assess(&model(120_000), &SERVICE_LIMITS);
        assert_eq!(assessment.limits[0].standing, Standing::Close);
        assert!(!assessment.under_every_limit);
        assert!(!advice_for(&assessment, LimitKind::Mls1).is_empty());
    }

    #[test]
    fn a_max_size_is_refused_with_what_would_fit() {
        let inventory = model(1_000);
        let total = inventory.total_bytes();
        assert!(crate::back::size::check_budget(&inventory, total).is_ok());
        let err = crate::back::size::check_budget(&inventory, 3_100_000).unwrap_err();
        let crate::back::size::SizeError::OverBudget {
            projected,
            limit,
            advice,
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!((*projected, *limit), (total, 3_100_000));
        let fits: Vec<String> = advice
            .iter()
            .filter(|a| a.brings_under)
            .map(|a| a.remedy.to_string())
            .collect();
        assert_eq!(
            fits,
            [
                "--weights f16",
                "--weights int8",
                "--freeze --weights f16",
                "--freeze --weights int8"
            ]
        );
        let message = err.to_string();
        assert!(
            message.contains("over the size limit of 3.1 MB (3,100,000 bytes)"),
            "{message}"
        );
        assert!(
            message.contains("it would fit with: --weights f16 saves up to 2.0 MB"),
            "{message}"
        );
    }
}
