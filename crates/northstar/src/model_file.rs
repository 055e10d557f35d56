//! Model files: the JSON object `fit` prints and `predict`/`clv` read back. A hand-written file
//! with only `model` and `params` is accepted too, so published estimates can be applied.

use anyhow::{anyhow, bail, Context, Result};
use northstar_models::{
    BetaDiscreteWeibull, BgBb, BgNbd, FitReport, GammaGamma, MbgNbd, ModelParams, ParetoNbd,
    PurchaseModel, RetentionModel, ShiftedBetaGeometric, SimulatePurchases,
};
use serde_json::{json, Map, Value};
use std::path::Path;

/// A model read from a file.
pub enum LoadedModel {
    /// A purchase model (BG/NBD, MBG/NBD, Pareto/NBD).
    Purchase(Box<dyn PurchaseProcess>),
    /// Gamma-Gamma spend model.
    GammaGamma(GammaGamma),
    /// BG/BB discrete-time purchase model.
    BgBb(BgBb),
    /// A subscription retention model (sBG, BdW).
    Retention(Box<dyn RetentionModel>),
}

/// Every purchase model, as both a prediction and a simulation model.
pub trait PurchaseProcess: PurchaseModel + SimulatePurchases {}
impl<T: PurchaseModel + SimulatePurchases> PurchaseProcess for T {}

/// Builds a purchase model of kind `model` (`bgnbd`, `mbgnbd`, `pnbd`) from named values.
pub fn purchase_model(
    model: &str,
    value: &dyn Fn(&'static [&'static str]) -> Result<Vec<f64>>,
) -> Result<Option<Box<dyn PurchaseProcess>>> {
    Ok(Some(match model {
        "bgnbd" => Box::new(BgNbd::from_values(&value(BgNbd::NAMES)?)?),
        "mbgnbd" => Box::new(MbgNbd::from_values(&value(MbgNbd::NAMES)?)?),
        "pnbd" => Box::new(ParetoNbd::from_values(&value(ParetoNbd::NAMES)?)?),
        _ => return Ok(None),
    }))
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
            "{}: missing \"model\" (expected bgnbd, mbgnbd, pnbd, gg, bgbb, sbg or bdw)",
            path.display()
        )
    })?;
    let values = |names: &'static [&'static str]| named_values(&value, model, names);
    if let Some(purchase) =
        purchase_model(model, &values).with_context(|| format!("{}", path.display()))?
    {
        return Ok(LoadedModel::Purchase(purchase));
    }
    match model {
        "gg" => Ok(LoadedModel::GammaGamma(
            GammaGamma::from_values(&values(GammaGamma::NAMES)?)
                .with_context(|| format!("{}", path.display()))?,
        )),
        "bgbb" => Ok(LoadedModel::BgBb(
            BgBb::from_values(&values(BgBb::NAMES)?)
                .with_context(|| format!("{}", path.display()))?,
        )),
        "sbg" | "bdw" if value.get("cohorts").is_some() => bail!(
            "{}: this file holds one fit per cohort (fit --by-cohort); refit without --by-cohort, \
             or write one cohort's object to its own file",
            path.display()
        ),
        "sbg" => Ok(LoadedModel::Retention(Box::new(
            ShiftedBetaGeometric::from_values(&values(ShiftedBetaGeometric::NAMES)?)
                .with_context(|| format!("{}", path.display()))?,
        ))),
        "bdw" => Ok(LoadedModel::Retention(Box::new(
            BetaDiscreteWeibull::from_values(&values(BetaDiscreteWeibull::NAMES)?)
                .with_context(|| format!("{}", path.display()))?,
        ))),
        other => bail!(
            "{}: unknown model \"{other}\" (expected bgnbd, mbgnbd, pnbd, gg, bgbb, sbg or bdw)",
            path.display()
        ),
    }
}

/// The values of `names` in the file's `params` object, in order.
fn named_values(value: &Value, model: &str, names: &[&str]) -> Result<Vec<f64>> {
    let params = value
        .get("params")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("missing \"params\" object"))?;
    names
        .iter()
        .map(|name| {
            params.get(*name).and_then(Value::as_f64).ok_or_else(|| {
                anyhow!(
                    "params.{name} is missing or not a number (a {model} model needs {})",
                    names.join(", ")
                )
            })
        })
        .collect()
}
