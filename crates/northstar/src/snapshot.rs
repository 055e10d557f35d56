//! What `northstar refresh` computes: one snapshot of every customer as of a date, from what the
//! store holds, with the actions it triggers.
//!
//! * transactions → RFM (lifetimes semantics, weeks) → a purchase model (the config's choice, or
//!   with `purchase = "auto"` the best of BG/NBD, Pareto/NBD and MBG/NBD on a holdout split) and
//!   Gamma-Gamma → `p_alive`, `expected_purchases` and `clv` over `horizon_months`;
//! * subscriptions → `mrr` on the as-of date;
//! * events → the engagement fields of `northstar engagement`;
//! * customers → their numeric and text columns;
//! * then health, tier, segment and the triggered actions ([`northstar_act`]).
//!
//! A field that cannot be computed (P(alive) without transactions, MRR without subscriptions) is
//! null; the health score drops it and renormalizes.

use crate::commands::clv::customer_values;
use crate::commands::fit::{fit_purchase_model_with, ModelKind};
use crate::commands::predict::purchase_predictions;
use crate::model_file::fit_to_json;
use crate::stored_engagement::engagement_on;
use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate};
use northstar_act::{
    CompiledConfig, Config, Fields, PurchaseModel as PurchaseChoice, TriggerEvent,
};
use northstar_data::{summarize_records, RfmRow, Summary, SummaryOptions, TimeUnit};
use northstar_models::clv::{ClvOptions, Discounting, DAYS_PER_MONTH};
use northstar_models::evaluation::evaluate_holdout;
use northstar_models::gamma_gamma::SpendData;
use northstar_models::{FitOptions, GammaGamma, Rfm, SpendModel};
use northstar_saas::PricedPeriod;
use northstar_store::{ActionKind, CustomerScore, JsonText, NewAction, Snapshot, Store};
use rayon::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The time unit of the stored RFM summaries and fitted rates.
const TIME_UNIT: TimeUnit = TimeUnit::Week;
/// `auto` compares the models only with at least this much history…
const MIN_AUTO_HISTORY_DAYS: i64 = 84;
/// …and at least this many customers in the calibration period.
const MIN_AUTO_CUSTOMERS: usize = 50;
/// Fits for scoring: no standard errors (nobody reads them here), and a gradient tolerance that
/// moves predictions by far less than their own uncertainty.
const SCORING_FIT: FitOptions = FitOptions {
    max_iterations: 1000,
    gradient_tolerance: 1e-5,
    standard_errors: false,
};
/// `auto` compares the models on at most this many calibration customers.
const AUTO_SAMPLE_CUSTOMERS: usize = 20_000;
/// Gamma-Gamma needs a few repeat customers to say anything.
const MIN_SPEND_CUSTOMERS: usize = 10;

/// A computed snapshot, ready for [`Store::write_snapshot`].
pub struct Computed {
    /// The header: date, model and config JSON.
    pub snapshot: Snapshot,
    /// One row per customer, ordered by customer id.
    pub scores: Vec<CustomerScore>,
    /// The actions the snapshot triggers (the store ignores those it already has).
    pub actions: Vec<NewAction>,
    /// The previous snapshot's date, if there was one.
    pub previous_as_of: Option<NaiveDate>,
}

/// Prints how long each step took, to standard error, when enabled.
pub struct StepTimer {
    enabled: bool,
    last: std::time::Instant,
}

impl StepTimer {
    /// A timer that prints only when `enabled`.
    pub fn new(enabled: bool) -> Self {
        StepTimer {
            enabled,
            last: std::time::Instant::now(),
        }
    }

    /// Prints a line when enabled.
    pub fn note(&self, line: &str) {
        if self.enabled {
            eprintln!("{line}");
        }
    }

    /// Reports the time since the previous step.
    pub fn step(&mut self, name: &str) {
        if self.enabled {
            eprintln!("{name}: {:.2} s", self.last.elapsed().as_secs_f64());
        }
        self.last = std::time::Instant::now();
    }
}

/// Computes the snapshot of `as_of`. `events_reader` is a second handle on the same store:
/// the engagement metrics stream the events through it on another thread while the purchase
/// model is fitted.
pub fn compute(
    store: &dyn Store,
    events_reader: &mut (dyn Store + Send),
    config: &Config,
    compiled: &CompiledConfig,
    as_of: NaiveDate,
    timer: &mut StepTimer,
) -> Result<Computed> {
    let (purchases, engagement) = std::thread::scope(|scope| {
        let started = std::time::Instant::now();
        let engagement = scope.spawn(move || {
            let report = engagement_on(events_reader, as_of);
            (report, started.elapsed())
        });
        let purchases = purchase_scores(store, config, as_of, timer);
        let (engagement, took) = engagement
            .join()
            .map_err(|_| anyhow::anyhow!("the engagement computation failed unexpectedly"))?;
        timer.note(&format!(
            "engagement (alongside): {:.2} s",
            took.as_secs_f64()
        ));
        anyhow::Ok((purchases?, engagement?))
    })?;
    timer.step("waiting for engagement");
    let mrr = mrr_on(store, as_of)?;
    timer.step("MRR");
    let attributes: BTreeMap<String, Map<String, Value>> = store.customers()?.into_iter().collect();

    let previous = store.previous_snapshot(as_of)?;
    let previous_as_of = previous.as_ref().map(|s| s.as_of);
    let segments_before = match previous_as_of {
        Some(day) => store.segments_at(day)?,
        None => HashMap::new(),
    };
    let events = trigger_events(store, config, previous_as_of, as_of)?;
    timer.step("customers, previous snapshot, trigger events");

    // Every customer any dataset knows of, by id.
    let mut ids: BTreeSet<&str> = BTreeSet::new();
    if let Some(p) = &purchases {
        ids.extend(p.rows.iter().map(|r| r.customer_id.as_str()));
    }
    ids.extend(mrr.keys().map(String::as_str));
    if let Some(e) = &engagement {
        ids.extend(e.accounts.iter().map(|a| a.customer_id.as_str()));
    }
    ids.extend(attributes.keys().map(String::as_str));

    let purchase_index: HashMap<&str, usize> = purchases
        .as_ref()
        .map(|p| {
            p.rows
                .iter()
                .enumerate()
                .map(|(i, r)| (r.customer_id.as_str(), i))
                .collect()
        })
        .unwrap_or_default();
    let percentiles = purchases
        .as_ref()
        .and_then(|p| p.clv.as_deref().map(percentile_ranks));

    let no_events = Vec::new();
    let ids: Vec<&str> = ids.into_iter().collect();
    let score_one = |id: &str| -> Result<(CustomerScore, Vec<NewAction>)> {
        let mut fields = Fields::new();
        fields.set_text("customer_id", id);
        if let Some(attrs) = attributes.get(id) {
            for (name, value) in attrs {
                match value {
                    Value::Number(n) => fields.set_number(name, n.as_f64()),
                    Value::String(s) => fields.set_text(name, s),
                    Value::Bool(b) => fields.set_text(name, if *b { "true" } else { "false" }),
                    _ => fields.set_null(name),
                }
            }
        }
        if let (Some(p), Some(&i)) = (&purchases, purchase_index.get(id)) {
            let row = &p.rows[i];
            fields.set_number("frequency", Some(row.frequency as f64));
            fields.set_number("recency", Some(row.recency));
            fields.set_number("T", Some(row.t));
            fields.set_number("monetary_value", Some(row.monetary_value));
            fields.set_number("p_alive", Some(p.p_alive[i]));
            fields.set_number("expected_purchases", Some(p.expected_purchases[i]));
            fields.set_number("expected_spend", p.expected_spend.as_ref().map(|s| s[i]));
            fields.set_number("clv", p.clv.as_ref().map(|c| c[i]));
            fields.set_number("clv_percentile", percentiles.as_ref().map(|c| c[i]));
        } else {
            for name in [
                "frequency",
                "recency",
                "T",
                "monetary_value",
                "p_alive",
                "expected_purchases",
                "expected_spend",
                "clv",
                "clv_percentile",
            ] {
                fields.set_null(name);
            }
        }
        fields.set_number("mrr", mrr.get(id).copied());
        let account = engagement.as_ref().and_then(|e| e.account(id));
        fields.set_number(
            "active_users_30d",
            account.map(|a| a.active_users_30d as f64),
        );
        fields.set_number("dau_mau", account.and_then(|a| a.dau_mau));
        fields.set_number("sessions_30d", account.map(|a| a.sessions_30d as f64));
        fields.set_number(
            "avg_session_minutes",
            account.and_then(|a| a.avg_session_minutes),
        );
        fields.set_number(
            "features_used_30d",
            account.map(|a| a.features_used_30d as f64),
        );
        fields.set_number("usage_trend", account.map(|a| a.usage_trend));
        fields.set_number(
            "days_since_last_activity",
            account.map(|a| a.days_since_last_activity as f64),
        );

        let health = compiled.score_health(&fields);
        fields.set_number("health", health.score);
        fields.set_opt_text("tier", health.tier.map(|t| t.as_str()));
        let before = segments_before.get(id).map(String::as_str);
        fields.set_opt_text("segment_before", before);
        let segment = compiled
            .segment_for(&fields)
            .with_context(|| format!("customer {id:?}"))?
            .to_string();
        fields.set_text("segment", &segment);
        let customer_events = events.get(id).unwrap_or(&no_events);
        let actions = compiled
            .triggers_for_customer(id, as_of, &fields, customer_events)
            .with_context(|| format!("customer {id:?}"))?
            .into_iter()
            .map(new_action)
            .collect();
        let score = CustomerScore {
            customer_id: id.to_string(),
            fields: JsonText::from_value(&fields)?,
            health: health.score,
            tier: health.tier.map(|t| t.as_str().to_string()),
            segment,
            segment_before: before.map(str::to_string),
            explanation: JsonText::from_value(&health)?,
        };
        Ok((score, actions))
    };
    let scored: Vec<(CustomerScore, Vec<NewAction>)> = ids
        .par_iter()
        .map(|id| score_one(id))
        .collect::<Result<_>>()?;
    let mut scores = Vec::with_capacity(scored.len());
    let mut actions = Vec::new();
    for (score, customer_actions) in scored {
        scores.push(score);
        actions.extend(customer_actions);
    }

    timer.step("health, segments, triggers");
    let model = json!({
        "purchase": purchases.as_ref().map(|p| p.model.clone()),
        "spend": purchases.as_ref().and_then(|p| p.spend_model.clone()),
        "selection": purchases.as_ref().map(|p| p.selection.clone()),
        "horizon_months": config.model.horizon_months,
        "discount_rate": config.model.discount_rate,
        "time_unit": TIME_UNIT.name(),
        "engagement": engagement.as_ref().map(|e| json!({
            "dau": e.dau, "wau": e.wau, "mau": e.mau, "stickiness": e.stickiness,
            "feature_adoption": e.feature_adoption,
        })),
    });
    Ok(Computed {
        snapshot: Snapshot {
            as_of,
            created_at: String::new(),
            model,
            config: serde_json::from_str(&config.to_json())?,
        },
        scores,
        actions,
        previous_as_of,
    })
}

/// The last date any stored dataset mentions: the default as-of date.
pub fn latest_data_date(store: &dyn Store) -> Result<Option<NaiveDate>> {
    let mut latest: Option<NaiveDate> = None;
    let mut see = |day: NaiveDate| latest = Some(latest.map_or(day, |l| l.max(day)));
    store.for_each_transaction(&mut |_, day, _| see(day))?;
    store.for_each_subscription(&mut |row| see(row.start_date))?;
    if let Some(ms) = store.latest_event_ms()? {
        if let Some(t) = DateTime::from_timestamp_millis(ms) {
            see(t.date_naive());
        }
    }
    Ok(latest)
}

/// The end of `day` (23:59:59.999 UTC) in milliseconds since the epoch.
fn end_of_day_ms(day: NaiveDate) -> i64 {
    day.and_hms_milli_opt(23, 59, 59, 999)
        .expect("a valid time")
        .and_utc()
        .timestamp_millis()
}

/// Purchase-model outputs per RFM row.
struct PurchaseScores {
    rows: Vec<RfmRow>,
    p_alive: Vec<f64>,
    expected_purchases: Vec<f64>,
    expected_spend: Option<Vec<f64>>,
    clv: Option<Vec<f64>>,
    model: Value,
    spend_model: Option<Value>,
    selection: Value,
}

fn summarize(store: &dyn Store, options: &SummaryOptions) -> Result<Summary> {
    summarize_records::<anyhow::Error>(
        &mut |each| {
            store.for_each_transaction(each)?;
            Ok(())
        },
        options,
    )
}

fn purchase_scores(
    store: &dyn Store,
    config: &Config,
    as_of: NaiveDate,
    timer: &mut StepTimer,
) -> Result<Option<PurchaseScores>> {
    if store.dataset_counts()?.transactions == 0 {
        return Ok(None);
    }
    let options = SummaryOptions {
        observation_end: Some(as_of),
        calibration_end: None,
        time_unit: TIME_UNIT,
    };
    let Summary::Rfm(rows) = summarize(store, &options).context("summarizing the transactions")?
    else {
        unreachable!("no calibration end was given");
    };
    let rfm = rows
        .iter()
        .map(|r| Rfm::try_new(r.frequency as f64, r.recency, r.t, Some(r.monetary_value)))
        .collect::<Result<Vec<Rfm>, _>>()?;
    timer.step("RFM summary");

    let (kind, selection) = match config.model.purchase {
        PurchaseChoice::Auto => choose_model(store, as_of, &rows)?,
        PurchaseChoice::Bgnbd => (ModelKind::Bgnbd, json!({"rule": "config"})),
        PurchaseChoice::Pnbd => (ModelKind::Pnbd, json!({"rule": "config"})),
        PurchaseChoice::Mbgnbd => (ModelKind::Mbgnbd, json!({"rule": "config"})),
    };
    timer.step("choosing the purchase model");
    let fitted = fit_purchase_model_with(kind, &rfm, None, &SCORING_FIT)
        .with_context(|| format!("fitting {} to {} customers", fitted_name(kind), rfm.len()))?;
    timer.step("fitting the purchase model");
    let horizon_weeks = config.model.horizon_months as f64 * DAYS_PER_MONTH / TIME_UNIT.days();
    let (p_alive, expected_purchases) =
        purchase_predictions(fitted.model.as_ref(), &rfm, horizon_weeks);
    timer.step("P(alive), expected purchases");

    let spend = fit_spend(&rfm);
    let (expected_spend, clv, spend_model) = match spend {
        Some((gg, json)) => {
            let options = ClvOptions {
                months: config.model.horizon_months,
                discounting: Discounting::Monthly {
                    rate: config.model.discount_rate,
                },
                days_per_time_unit: TIME_UNIT.days(),
            };
            let clv = customer_values(fitted.model.as_ref(), &gg, &rfm, &options)?;
            let spend: Vec<f64> = rfm.iter().map(|c| gg.expected_spend(c)).collect();
            (Some(spend), Some(clv), Some(json))
        }
        None => (None, None, None),
    };
    timer.step("Gamma-Gamma and CLV");
    Ok(Some(PurchaseScores {
        rows,
        p_alive,
        expected_purchases,
        expected_spend,
        clv,
        model: fitted.json,
        spend_model,
        selection,
    }))
}

fn fitted_name(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Bgnbd => "BG/NBD",
        ModelKind::Pnbd => "Pareto/NBD",
        ModelKind::Mbgnbd => "MBG/NBD",
        _ => "the model",
    }
}

/// Gamma-Gamma on the repeat customers, or `None` when there are too few of them or the fit
/// fails (CLV is then null).
fn fit_spend(rfm: &[Rfm]) -> Option<(GammaGamma, Value)> {
    let data = SpendData::new(rfm, None).ok()?;
    if rfm.len() - data.n_excluded() < MIN_SPEND_CUSTOMERS {
        return None;
    }
    let (model, report) = GammaGamma::fit(&data, &FitOptions::default()).ok()?;
    let mut extra = Map::new();
    extra.insert("n_excluded".into(), json!(data.n_excluded()));
    let json = fit_to_json(&model, &report, extra);
    // p·x + q ≤ 1 would make a customer's expected spend infinite.
    rfm.iter()
        .all(|c| model.expected_spend(c).is_finite())
        .then_some((model, json))
}

/// `purchase = "auto"`: fits BG/NBD, Pareto/NBD and MBG/NBD on a calibration period and keeps
/// the one with the lowest per-customer MAE on the holdout (the last quarter of the history,
/// 4 to 52 weeks), on an evenly spaced sample of at most 20,000 customers. BG/NBD when the
/// history or the customer base is too short to compare.
fn choose_model(
    store: &dyn Store,
    as_of: NaiveDate,
    rows: &[RfmRow],
) -> Result<(ModelKind, Value)> {
    let history_days = rows
        .iter()
        .map(|r| (r.t * TIME_UNIT.days()).round() as i64)
        .max()
        .unwrap_or(0);
    let fallback = |reason: &str| {
        Ok((
            ModelKind::Bgnbd,
            json!({"rule": "auto", "fallback": reason}),
        ))
    };
    if history_days < MIN_AUTO_HISTORY_DAYS {
        return fallback("less than 12 weeks of purchase history");
    }
    let holdout_days = (history_days / 4).clamp(28, 364);
    let calibration_end = as_of - chrono::Days::new(holdout_days as u64);
    let options = SummaryOptions {
        observation_end: Some(as_of),
        calibration_end: Some(calibration_end),
        time_unit: TIME_UNIT,
    };
    let Summary::CalibrationHoldout(split) = summarize(store, &options)? else {
        unreachable!("a calibration end was given");
    };
    if split.len() < MIN_AUTO_CUSTOMERS {
        return fallback("fewer than 50 customers in the calibration period");
    }
    // The comparison only ranks the models, so a large base is compared on an evenly spaced
    // sample (the winner is then fitted on everyone).
    let step = split.len().div_ceil(AUTO_SAMPLE_CUSTOMERS);
    let sample: Vec<_> = split.iter().step_by(step).collect();
    let calibration = sample
        .iter()
        .map(|r| Rfm::try_new(r.frequency_cal as f64, r.recency_cal, r.t_cal, None))
        .collect::<Result<Vec<Rfm>, _>>()?;
    let actual: Vec<f64> = sample.iter().map(|r| r.frequency_holdout as f64).collect();
    let durations: Vec<f64> = sample.iter().map(|r| r.duration_holdout).collect();
    let mut compared = Vec::new();
    let mut best: Option<(ModelKind, f64)> = None;
    for kind in [ModelKind::Bgnbd, ModelKind::Pnbd, ModelKind::Mbgnbd] {
        let Ok(fitted) = fit_purchase_model_with(kind, &calibration, None, &SCORING_FIT) else {
            compared.push(json!({"model": fitted_name(kind), "error": "fit failed"}));
            continue;
        };
        let evaluation = evaluate_holdout(fitted.model.as_ref(), &calibration, &actual, &durations);
        compared.push(json!({"model": fitted.json["model"], "mae": evaluation.mae}));
        if evaluation.mae.is_finite() && best.is_none_or(|(_, mae)| evaluation.mae < mae) {
            best = Some((kind, evaluation.mae));
        }
    }
    let Some((kind, _)) = best else {
        return fallback("no model could be fitted on the calibration period");
    };
    Ok((
        kind,
        json!({
            "rule": "auto",
            "calibration_end": calibration_end.to_string(),
            "holdout_days": holdout_days,
            "customers": split.len(),
            "compared_on": sample.len(),
            "compared": compared,
        }),
    ))
}

/// Each value's share of values at or below it (the largest gets 1).
fn percentile_ranks(values: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len().max(1) as f64;
    values
        .iter()
        .map(|v| sorted.partition_point(|s| s <= v) as f64 / n)
        .collect()
}

/// MRR per customer on `day`, for every customer with a subscription row starting by then
/// (0 once churned).
fn mrr_on(store: &dyn Store, day: NaiveDate) -> Result<BTreeMap<String, f64>> {
    let mut mrr = BTreeMap::new();
    let mut error = None;
    store.for_each_subscription(&mut |row| {
        if row.start_date > day || error.is_some() {
            return;
        }
        match PricedPeriod::try_new(
            row.start_date,
            row.end_date,
            row.amount,
            row.interval,
            row.interval_count,
            row.quantity,
        ) {
            Ok(period) => {
                let active = if period.is_active_on(day) {
                    period.mrr()
                } else {
                    0.0
                };
                *mrr.entry(row.customer_id.clone()).or_insert(0.0) += active;
            }
            Err(e) => error = Some(anyhow::anyhow!("stored subscription row {}: {e}", row.line)),
        }
    })?;
    match error {
        Some(e) => Err(e),
        None => Ok(mrr),
    }
}

/// The events that event triggers look at: after the previous snapshot's date, up to and
/// including `as_of`, grouped by customer.
fn trigger_events(
    store: &dyn Store,
    config: &Config,
    previous_as_of: Option<NaiveDate>,
    as_of: NaiveDate,
) -> Result<HashMap<String, Vec<TriggerEvent>>> {
    let names: BTreeSet<&str> = config
        .triggers
        .iter()
        .filter_map(|t| t.event.as_deref())
        .collect();
    let mut by_customer: HashMap<String, Vec<TriggerEvent>> = HashMap::new();
    if names.is_empty() {
        return Ok(by_customer);
    }
    let names: Vec<&str> = names.into_iter().collect();
    let after = previous_as_of.map(end_of_day_ms);
    for event in store.events_between(after, end_of_day_ms(as_of), &names)? {
        let timestamp = DateTime::from_timestamp_millis(event.timestamp_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        by_customer
            .entry(event.customer_id)
            .or_default()
            .push(TriggerEvent {
                name: event.event,
                timestamp,
                user_id: event.user_id,
                feature: event.feature,
                data: json!({
                    "session_id": event.session_id,
                    "duration_seconds": event.duration_seconds,
                }),
            });
    }
    Ok(by_customer)
}

fn new_action(action: northstar_act::Action) -> NewAction {
    let (kind, max_attempts) = match action.kind {
        northstar_act::ActionKind::Task => (ActionKind::Task, 1),
        northstar_act::ActionKind::Webhook {
            url,
            secret_env,
            max_attempts,
        } => (
            ActionKind::Webhook {
                url,
                secret_env: Some(secret_env),
            },
            max_attempts,
        ),
    };
    NewAction {
        idempotency_key: action.idempotency_key,
        trigger: action.trigger,
        customer_id: action.customer_id,
        as_of: action.as_of,
        kind,
        body: action.body,
        max_attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_rank_is_the_share_at_or_below_with_ties_sharing_the_upper_rank() {
        assert_eq!(
            percentile_ranks(&[10.0, 30.0, 20.0, 20.0]),
            vec![0.25, 1.0, 0.75, 0.75]
        );
    }

    #[test]
    fn end_of_day_is_the_last_millisecond_in_utc() {
        let day = NaiveDate::from_ymd_opt(1970, 1, 2).unwrap();
        assert_eq!(end_of_day_ms(day), 2 * 86_400_000 - 1);
    }
}
