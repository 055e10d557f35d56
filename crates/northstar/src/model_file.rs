//! Model files: the JSON object `fit` prints and `predict`/`clv` read back. A hand-written file
//! with only `model` and `params` is accepted too, so published estimates can be applied.

use anyhow::{anyhow, bail, Context, Result};
use northstar_models::{BgNbd, FitReport, GammaGamma, ModelParams};
use serde_json::{json, Map, Value};
use std::path::Path;

/// A model read from a file.
pub enum LoadedModel {
    /// BG/NBD purchase model.
    BgNbd(BgNbd),
    /// Gamma-Gamma spend model.
    GammaGamma(GammaGamma),
}

/// The fit's JSON object: model, params, std_errors, log_likelihood, aic, bic, n_customers,
/// converged, iterations, termination, plus any `extra` fields.
pub fn fit_to_json<P: ModelParams>(
    model: &P,
    report: &FitReport,
    extra: Map<String, Value>,
) -> Value {
    let named = |values: Vec<Option<f64>>| -> Map<String, Value> {
        P::NAMES
            .iter()
            .zip(values)
            .map(|(name, v)| (name.to_string(), v.map_or(Value::Null, |v| json!(v))))
            .collect()
    };
    let mut object = Map::new();
    object.insert("model".into(), json!(P::MODEL));
    object.insert(
        "params".into(),
        Value::Object(named(model.values().into_iter().map(Some).collect())),
    );
    object.insert(
        "std_errors".into(),
        Value::Object(named(report.std_errors.clone())),
    );
    object.insert("log_likelihood".into(), json!(report.log_likelihood));
    object.insert("aic".into(), json!(report.aic));
    object.insert("bic".into(), json!(report.bic));
    object.insert("n_customers".into(), json!(report.n_observations));
    object.insert("converged".into(), json!(report.converged));
    object.insert("iterations".into(), json!(report.iterations));
    object.insert("termination".into(), json!(report.termination));
    object.extend(extra);
    Value::Object(object)
}

/// Reads a model file.
pub fn load(path: &Path) -> Result<LoadedModel> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not valid JSON (expected a model file from `northstar fit -o`)",
            path.display()
        )
    })?;
    let model = value.get("model").and_then(Value::as_str).ok_or_else(|| {
        anyhow!(
            "{}: missing \"model\" (expected \"bgnbd\" or \"gg\")",
            path.display()
        )
    })?;
    match model {
        "bgnbd" => Ok(LoadedModel::BgNbd(params_from(path, &value)?)),
        "gg" => Ok(LoadedModel::GammaGamma(params_from(path, &value)?)),
        other => bail!(
            "{}: unknown model \"{other}\" (expected \"bgnbd\" or \"gg\")",
            path.display()
        ),
    }
}

fn params_from<P: ModelParams>(path: &Path, value: &Value) -> Result<P> {
    let params = value
        .get("params")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("{}: missing \"params\" object", path.display()))?;
    let values = P::NAMES
        .iter()
        .map(|name| {
            params.get(*name).and_then(Value::as_f64).ok_or_else(|| {
                anyhow!(
                    "{}: params.{name} is missing or not a number (a {} model needs {})",
                    path.display(),
                    P::MODEL,
                    P::NAMES.join(", ")
                )
            })
        })
        .collect::<Result<Vec<f64>>>()?;
    P::from_values(&values).with_context(|| format!("{}", path.display()))
}
