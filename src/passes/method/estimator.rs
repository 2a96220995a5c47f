//! `--estimator-signatures`: beside a classify or regress signature, the
//! copies Estimator's `export_saved_model` writes with a parsing receiver,
//! so that clients written against an Estimator export find the same keys:
//! `classification` (the classify signature again) and, for a binary
//! classifier, `regression` (its positive-class probability, the predict
//! output `logistic` a binary head names); or `regression` (the regress
//! signature again).

use super::{MethodError, PREDICT_SIGNATURE, ServingMethod, first_broken_rule, method_signature};
use crate::model::method_rules::{REGRESS_METHOD, REGRESS_OUTPUTS};
use crate::model::{Model, Signature};

/// The key of Estimator's copy of a classify signature.
pub const CLASSIFICATION_SIGNATURE: &str = "classification";
/// The key of Estimator's regress signature.
pub const REGRESSION_SIGNATURE: &str = "regression";
/// The predict output a binary classifier's positive-class probability
/// goes by in Estimator's binary heads.
pub const LOGISTIC_OUTPUT: &str = "logistic";

/// The signatures Estimator adds beside `served` (answering `method`), from
/// `predict`; written into `model` unless the served key is one of them.
/// Returns the keys added.
pub fn add_estimator_signatures(
    model: &mut Model,
    method: ServingMethod,
    served_key: &str,
    served: &Signature,
    predict: &Signature,
) -> Result<Vec<String>, MethodError> {
    let mut copies: Vec<(&str, Signature)> = Vec::new();
    match method {
        ServingMethod::Classify => {
            copies.push((CLASSIFICATION_SIGNATURE, served.clone()));
            if let Some(logistic) = predict.outputs.get(LOGISTIC_OUTPUT) {
                let regression = method_signature(
                    REGRESS_METHOD,
                    predict,
                    [(REGRESS_OUTPUTS, logistic.clone())],
                );
                copies.push((REGRESSION_SIGNATURE, regression));
            }
        }
        ServingMethod::Regress => copies.push((REGRESSION_SIGNATURE, served.clone())),
        ServingMethod::Predict => {}
    }
    let mut added = Vec::new();
    for (key, signature) in copies {
        if key == served_key || key == PREDICT_SIGNATURE {
            continue;
        }
        first_broken_rule(key, &signature)?;
        model.signatures.insert(key.to_string(), signature);
        added.push(key.to_string());
    }
    Ok(added)
}
