//! `northstar.toml`: the purchase model, the health score, the segment rules and the triggers.
//!
//! The format is a contract (issue 6, "The config format"); [`DEFAULT_CONFIG`] documents every
//! key. Parsing is strict: an unknown key, a value of the wrong type, or a value that makes no
//! sense is a [`ConfigError`] naming the file, line and column, the key path and what was
//! expected. Array-of-table indexes in key paths count from 0 (`segment[1].when` is the second
//! `[[segment]]`).
//!
//! Omitted sections and keys take their value from [`DEFAULT_CONFIG`], with one exception:
//! the default `[[trigger]]` list (which names the default `at_risk` segment) applies only when
//! `[[segment]]` is omitted too. A file with its own segments and no `[[trigger]]` has no
//! triggers. `segment = []`, `trigger = []` and `measure = []` (inside `[health]`) are allowed
//! and mean "none".

use std::collections::BTreeSet;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use toml::Spanned;

use crate::expr::CompiledExpr;
use crate::webhook::validate_webhook_url;

/// The configuration used when there is no `northstar.toml`, fully commented. Parsing it gives
/// [`Config::default`]; the README shows it.
pub const DEFAULT_CONFIG: &str = r#"# northstar.toml: how `northstar refresh` scores, segments and acts on customers.
# Every section and key is optional; an omitted one takes the value shown here.
# Unknown keys are errors. Expressions (`when`) use CEL syntax: https://cel.dev

[model]
# Purchase model for P(alive), expected purchases and CLV: auto | bgnbd | pnbd | mbgnbd.
# "auto" picks the best model by the holdout report (BG/NBD when that is not available).
purchase = "auto"
# CLV horizon in months (a whole number >= 1).
horizon_months = 12
# Monthly discount rate for CLV (>= 0); 0.01 is 1% a month.
discount_rate = 0.01

[health]
# The health score is 0..100, the weighted mean of the measures below.
# Tier: score >= green -> "green"; score >= yellow -> "yellow"; else "red" (0 <= yellow <= green <= 100).
green = 76
yellow = 51

# Each measure scores one per-customer field 0..100: 0 at `bad`, 100 at `good`, linear in between,
# clamped outside. `bad` greater than `good` means lower is better. A field that is missing for a
# customer drops out and the other weights are rescaled to sum to 1; with no field present the
# customer has no health score and no tier. Weights are >= 0 and need not sum to 100.
# Fields: p_alive, expected_purchases, clv, clv_percentile (0..1), frequency, recency, T,
# monetary_value, mrr, active_users_30d, dau_mau, sessions_30d, avg_session_minutes,
# features_used_30d, usage_trend, days_since_last_activity, and any numeric column of the
# customers file (nps, open_tickets, ...).
[[health.measure]]
field = "p_alive"                    # probability the customer is still active
weight = 25
bad = 0.2
good = 0.9
[[health.measure]]
field = "clv_percentile"             # rank of the customer's CLV, 0 (lowest) .. 1 (highest)
weight = 15
bad = 0.1
good = 0.9
[[health.measure]]
field = "dau_mau"                    # the account's daily over monthly active users
weight = 10
bad = 0.05
good = 0.5
[[health.measure]]
field = "sessions_30d"               # sessions in the last 30 days
weight = 10
bad = 1
good = 20
[[health.measure]]
field = "features_used_30d"          # distinct features used in the last 30 days
weight = 10
bad = 0
good = 5
[[health.measure]]
field = "usage_trend"                # events vs the previous 30 days: -0.5 is half as many
weight = 10
bad = -0.5
good = 0.2
[[health.measure]]
field = "days_since_last_activity"   # lower is better
weight = 15
bad = 30
good = 1
[[health.measure]]
field = "mrr"                        # monthly recurring revenue; scale bad/good to your prices
weight = 5
bad = 0
good = 500

# Segments: an ordered list of rules; the first whose `when` holds wins. A customer no rule
# matches is "unsegmented" (with a final `when = "true"` rule, nobody is).
# Conditions see every field above plus health (0..100), tier ("green"|"yellow"|"red"),
# segment_before (the segment in the previous snapshot) and customer_id.
# A missing (null) field makes a comparison false (`!=` included) and never raises an error;
# test for it with `x == null` / `x != null`.
# Segment names (and trigger names) use letters, digits, "_", "-" and "."; "unsegmented" is reserved.
[[segment]]
name = "at_risk"                     # At-Risk: red tier, usage halving, going quiet, or likely gone
when = "tier == 'red' || usage_trend <= -0.5 || days_since_last_activity >= 14 || p_alive < 0.3"
[[segment]]
name = "champion"                    # High-Potential Champions: healthy, valuable, broad adoption
when = "tier == 'green' && clv_percentile >= 0.75 && features_used_30d >= 3"
[[segment]]
name = "stable"                      # Stable & Satisfied: everyone else (the inactive are at_risk)
when = "true"

# Triggers turn changes into actions, once per (trigger, customer, as-of date).
#   on = "segment_entered"  fires when a customer's segment becomes `segment` (a customer's first
#                           snapshot enters its segment);
#   on = "segment_left"     fires when a customer's segment was `segment` and no longer is;
#   on = "event"            fires when the customer has a usage event named `event` (e.g.
#                           "limit_hit", "locked_feature_click") since the previous refresh.
#   when (optional)         a further condition over the customer's fields in this snapshot;
#                           event triggers also see `event` (event.name, event.feature,
#                           event.user_id, event.timestamp, event.data).
#   action = "task"         a task for the customer-success team (`northstar tasks`);
#   action = "webhook"      an HTTP POST of the action's JSON body to `url` (http or https),
#                           signed with X-Northstar-Signature: sha256=<HMAC-SHA256 of the body>,
#                           the secret read from the environment variable named by `secret_env`,
#                           retried with exponential backoff up to `max_attempts` (default 8).
# Each action has the idempotency key "{trigger}:{customer_id}:{as_of}", so refreshing the same
# date twice creates nothing new. Trigger names use letters, digits, "_", "-" and ".".
# The default trigger below applies when the file has neither [[trigger]] nor [[segment]];
# a file with its own segments and no [[trigger]] has no triggers (`trigger = []` disables them).
[[trigger]]
name = "cs-task-on-risk"
on = "segment_entered"
segment = "at_risk"
action = "task"

# A webhook trigger, for example (there is none by default):
# [[trigger]]
# name = "upsell-on-limit"
# on = "event"
# event = "limit_hit"
# when = "segment == 'champion'"
# action = "webhook"
# url = "http://127.0.0.1:9000/hooks/upsell"
# secret_env = "NORTHSTAR_WEBHOOK_SECRET"
# max_attempts = 8
"#;

/// The default number of delivery attempts of a webhook before it is marked dead.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// The segment of a customer no rule matches.
pub const UNSEGMENTED: &str = "unsegmented";

/// A `northstar.toml` that could not be used.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// The text is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// File name, for messages.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (characters).
        column: usize,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// A value that parses but makes no sense (a negative weight, an expression that does not
    /// compile, a trigger naming an unknown segment, ...).
    #[error("{}{key}: {message}", location_prefix(.location))]
    Invalid {
        /// Where the key is, when the config came from a file.
        location: Option<Location>,
        /// Key path, such as `health.measure[2].weight` or `segment[1].when`.
        key: String,
        /// What is wrong, with the bad value, and what was expected.
        message: String,
    },
}

/// A position in a config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// File name, for messages.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters).
    pub column: usize,
}

fn location_prefix(location: &Option<Location>) -> String {
    match location {
        Some(l) => format!("{}:{}:{}: ", l.file, l.line, l.column),
        None => String::new(),
    }
}

impl ConfigError {
    /// The 1-based line of the error, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Syntax { line, .. } => Some(*line),
            ConfigError::Invalid { location, .. } => location.as_ref().map(|l| l.line),
        }
    }

    /// The key path of a semantic error (`None` for syntax errors).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Syntax { .. } => None,
            ConfigError::Invalid { key, .. } => Some(key),
        }
    }
}

/// The purchase model `refresh` fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PurchaseModel {
    /// The best model by the holdout report, or BG/NBD when that is not available.
    Auto,
    /// BG/NBD (Fader, Hardie & Lee 2005).
    Bgnbd,
    /// Pareto/NBD (Schmittlein, Morrison & Colombo 1987).
    Pnbd,
    /// MBG/NBD (Batislam, Denizel & Filiztekin 2007).
    Mbgnbd,
}

impl PurchaseModel {
    const ALL: [(&'static str, PurchaseModel); 4] = [
        ("auto", PurchaseModel::Auto),
        ("bgnbd", PurchaseModel::Bgnbd),
        ("pnbd", PurchaseModel::Pnbd),
        ("mbgnbd", PurchaseModel::Mbgnbd),
    ];

    /// The config spelling: `auto`, `bgnbd`, `pnbd` or `mbgnbd`.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map(|(s, _)| *s)
            .unwrap_or("auto")
    }
}

/// `[model]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `purchase`, default `auto`.
    pub purchase: PurchaseModel,
    /// `horizon_months`, default 12; at least 1.
    pub horizon_months: u32,
    /// `discount_rate`, monthly, default 0.01; finite and >= 0.
    pub discount_rate: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            purchase: PurchaseModel::Auto,
            horizon_months: 12,
            discount_rate: 0.01,
        }
    }
}

/// `[health]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// `green`: a score >= this is green (default 76).
    pub green: f64,
    /// `yellow`: a score >= this (and below green) is yellow, else red (default 51).
    pub yellow: f64,
    /// `[[health.measure]]`, in file order.
    #[serde(rename = "measure")]
    pub measures: Vec<Measure>,
}

/// One `[[health.measure]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    /// The per-customer field scored.
    pub field: String,
    /// Its weight (>= 0, default 1).
    pub weight: f64,
    /// The value that scores 0.
    pub bad: f64,
    /// The value that scores 100 (`bad > good` means lower is better).
    pub good: f64,
}

/// One `[[segment]]` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRule {
    /// Segment name.
    pub name: String,
    /// CEL condition.
    pub when: String,
}

/// What a trigger fires on (`on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerOn {
    /// The customer's segment became the trigger's segment.
    SegmentEntered,
    /// The customer's segment was the trigger's segment and no longer is.
    SegmentLeft,
    /// The customer has a usage event with the trigger's event name.
    Event,
}

impl TriggerOn {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerOn::SegmentEntered => "segment_entered",
            TriggerOn::SegmentLeft => "segment_left",
            TriggerOn::Event => "event",
        }
    }
}

/// What a trigger does (`action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    /// A row in the tasks table.
    Task,
    /// A signed HTTP POST.
    Webhook,
}

/// One `[[trigger]]`. After validation: `segment` is set (and names a segment) exactly when
/// `on` is a segment event; `event` is set exactly when `on = "event"`; `url` and `secret_env`
/// are set exactly when `action = "webhook"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// Trigger name (unique; letters, digits, `_`, `-`, `.`).
    pub name: String,
    /// What it fires on.
    pub on: TriggerOn,
    /// The segment, for `segment_entered` / `segment_left`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// The event name, for `on = "event"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Optional CEL condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// What it does.
    pub action: ActionType,
    /// Webhook URL (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Name of the environment variable holding the webhook secret (never the secret itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// Delivery attempts before a webhook is marked dead (default 8).
    pub max_attempts: u32,
}

/// A whole `northstar.toml`, validated. Serializes to JSON with the TOML key names (for storing
/// with a snapshot); it holds no secrets, only environment variable names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[model]`.
    pub model: ModelConfig,
    /// `[health]`.
    pub health: HealthConfig,
    /// `[[segment]]`, in order.
    #[serde(rename = "segment")]
    pub segments: Vec<SegmentRule>,
    /// `[[trigger]]`, in order.
    #[serde(rename = "trigger")]
    pub triggers: Vec<Trigger>,
    /// Where each expression came from, for error messages of [`crate::CompiledConfig::new`].
    #[serde(skip)]
    pub(crate) origin: Option<Origin>,
}

/// Positions of the expressions of a parsed file.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Origin {
    pub(crate) segment_when: Vec<Location>,
    pub(crate) trigger_when: Vec<Option<Location>>,
}

impl Default for Config {
    /// The parse of [`DEFAULT_CONFIG`].
    fn default() -> Self {
        // DEFAULT_CONFIG is a constant checked by the tests; failing here is a build defect.
        Config::from_toml(DEFAULT_CONFIG, "<default config>")
            .expect("DEFAULT_CONFIG is valid (tested)")
    }
}

// ---------------------------------------------------------------------------------------------
// Raw, spanned shapes as written in the file.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    model: Option<Spanned<RawModel>>,
    health: Option<Spanned<RawHealth>>,
    segment: Option<Vec<Spanned<RawSegment>>>,
    trigger: Option<Vec<Spanned<RawTrigger>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    purchase: Option<Spanned<String>>,
    horizon_months: Option<Spanned<i64>>,
    discount_rate: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    green: Option<Spanned<f64>>,
    yellow: Option<Spanned<f64>>,
    measure: Option<Vec<Spanned<RawMeasure>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeasure {
    field: Option<Spanned<String>>,
    weight: Option<Spanned<f64>>,
    bad: Option<Spanned<f64>>,
    good: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSegment {
    name: Option<Spanned<String>>,
    when: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    name: Option<Spanned<String>>,
    on: Option<Spanned<String>>,
    segment: Option<Spanned<String>>,
    event: Option<Spanned<String>>,
    when: Option<Spanned<String>>,
    action: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    secret_env: Option<Spanned<String>>,
    max_attempts: Option<Spanned<i64>>,
}

/// Maps byte offsets to 1-based line and column and builds errors.
struct Src<'a> {
    text: &'a str,
    file: &'a str,
}

impl Src<'_> {
    fn location(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        // Step back to a char boundary so slicing cannot panic.
        let mut offset = offset;
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = before[line_start..].chars().count() + 1;
        Location {
            file: self.file.to_string(),
            line,
            column,
        }
    }

    fn invalid(&self, span: Range<usize>, key: String, message: String) -> ConfigError {
        ConfigError::Invalid {
            location: Some(self.location(span.start)),
            key,
            message,
        }
    }
}

fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn is_valid_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn show(s: &str) -> String {
    format!("{s:?}")
}

impl Config {
    /// Parses and validates a `northstar.toml`. `file` names the file in messages.
    ///
    /// ```
    /// use northstar_act::Config;
    /// let cfg = Config::from_toml("[model]\nhorizon_months = 6\n", "northstar.toml")?;
    /// assert_eq!(cfg.model.horizon_months, 6);
    /// assert_eq!(cfg.segments.len(), 3); // omitted sections take the defaults
    ///
    /// let err = Config::from_toml("[health]\ngreen = 70\nyelow = 40\n", "northstar.toml").unwrap_err();
    /// assert!(err.to_string().starts_with("northstar.toml:3:1: unknown field `yelow`"), "{err}");
    /// # Ok::<(), northstar_act::ConfigError>(())
    /// ```
    pub fn from_toml(text: &str, file: &str) -> Result<Config, ConfigError> {
        let src = Src { text, file };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let loc = src.location(e.span().map(|s| s.start).unwrap_or(0));
            ConfigError::Syntax {
                file: file.to_string(),
                line: loc.line,
                column: loc.column,
                message: e.message().trim().to_string(),
            }
        })?;
        // The defaults come from DEFAULT_CONFIG itself, so the documented values and the
        // behaviour cannot drift apart. Parsing the default never recurses into this branch
        // more than once: DEFAULT_CONFIG has every section.
        let need_default = raw.model.is_none() || raw.health.is_none() || raw.segment.is_none();
        let defaults = if need_default {
            Some(Config::default())
        } else {
            None
        };
        let default_model = || {
            defaults
                .as_ref()
                .map(|d| d.model.clone())
                .unwrap_or_default()
        };

        let model = match raw.model {
            None => default_model(),
            Some(m) => parse_model(&src, m.into_inner())?,
        };
        let health = match raw.health {
            None => defaults
                .as_ref()
                .map(|d| d.health.clone())
                .unwrap_or(HealthConfig {
                    green: 76.0,
                    yellow: 51.0,
                    measures: Vec::new(),
                }),
            Some(h) => parse_health(&src, h)?,
        };
        let mut origin = Origin::default();
        let segments_given = raw.segment.is_some();
        let segments = match raw.segment {
            None => {
                if let Some(o) = defaults.as_ref().and_then(|d| d.origin.as_ref()) {
                    origin.segment_when = o.segment_when.clone();
                }
                defaults
                    .as_ref()
                    .map(|d| d.segments.clone())
                    .unwrap_or_default()
            }
            Some(list) => parse_segments(&src, list, &mut origin)?,
        };
        let triggers = match raw.trigger {
            None if !segments_given => {
                if let Some(o) = defaults.as_ref().and_then(|d| d.origin.as_ref()) {
                    origin.trigger_when = o.trigger_when.clone();
                }
                defaults
                    .as_ref()
                    .map(|d| d.triggers.clone())
                    .unwrap_or_default()
            }
            None => Vec::new(),
            Some(list) => parse_triggers(&src, list, &segments, &mut origin)?,
        };
        Ok(Config {
            model,
            health,
            segments,
            triggers,
            origin: Some(origin),
        })
    }

    /// The config as JSON, for storing with a snapshot. It holds no secret: webhook secrets are
    /// only named (`secret_env`).
    ///
    /// ```
    /// let json = northstar_act::Config::default().to_json();
    /// assert!(json.contains(r#""purchase":"auto""#));
    /// ```
    pub fn to_json(&self) -> String {
        // Serializing plain structs of strings and finite numbers cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// Reads back a config stored with [`Config::to_json`] (no validation beyond types; call
    /// [`crate::CompiledConfig::new`] to compile its expressions).
    pub fn from_json(json: &str) -> Result<Config, serde_json::Error> {
        serde_json::from_str(json)
    }
}

fn parse_model(src: &Src, m: RawModel) -> Result<ModelConfig, ConfigError> {
    let mut out = ModelConfig::default();
    if let Some(p) = m.purchase {
        let name = p.get_ref().as_str();
        out.purchase = PurchaseModel::ALL
            .iter()
            .find(|(s, _)| *s == name)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                src.invalid(
                    p.span(),
                    "model.purchase".into(),
                    format!(
                        "unknown model {}, expected one of \"auto\", \"bgnbd\", \"pnbd\", \"mbgnbd\"",
                        show(name)
                    ),
                )
            })?;
    }
    if let Some(h) = m.horizon_months {
        let v = *h.get_ref();
        if !(1..=1200).contains(&v) {
            return Err(src.invalid(
                h.span(),
                "model.horizon_months".into(),
                format!("got {v}, expected a whole number of months from 1 to 1200"),
            ));
        }
        out.horizon_months = v as u32;
    }
    if let Some(d) = m.discount_rate {
        let v = *d.get_ref();
        if !v.is_finite() || v < 0.0 {
            return Err(src.invalid(
                d.span(),
                "model.discount_rate".into(),
                format!("got {v}, expected a monthly rate >= 0 (0.01 is 1% a month)"),
            ));
        }
        out.discount_rate = v;
    }
    Ok(out)
}

fn parse_health(src: &Src, h: Spanned<RawHealth>) -> Result<HealthConfig, ConfigError> {
    let header = h.span();
    let h = h.into_inner();
    let mut green = 76.0;
    let mut yellow = 51.0;
    let mut green_span = header.clone();
    let mut yellow_span = header.clone();
    if let Some(g) = h.green {
        green = *g.get_ref();
        green_span = g.span();
    }
    if let Some(y) = h.yellow {
        yellow = *y.get_ref();
        yellow_span = y.span();
    }
    for (key, v, span) in [
        ("health.green", green, &green_span),
        ("health.yellow", yellow, &yellow_span),
    ] {
        if !(0.0..=100.0).contains(&v) {
            return Err(src.invalid(
                span.clone(),
                key.into(),
                format!("got {v}, expected a score from 0 to 100"),
            ));
        }
    }
    if yellow > green {
        return Err(src.invalid(
            yellow_span,
            "health.yellow".into(),
            format!(
                "got {yellow}, which is above health.green = {green}; expected yellow <= green"
            ),
        ));
    }
    let measures = match h.measure {
        None => Config::default().health.measures,
        Some(list) => {
            let mut measures = Vec::with_capacity(list.len());
            for (i, m) in list.into_iter().enumerate() {
                measures.push(parse_measure(src, i, m)?);
            }
            if !measures.is_empty() && measures.iter().all(|m| m.weight == 0.0) {
                return Err(src.invalid(
                    header,
                    "health.measure".into(),
                    "every weight is 0; expected at least one weight above 0".into(),
                ));
            }
            measures
        }
    };
    Ok(HealthConfig {
        green,
        yellow,
        measures,
    })
}

fn parse_measure(src: &Src, i: usize, m: Spanned<RawMeasure>) -> Result<Measure, ConfigError> {
    let header = m.span();
    let m = m.into_inner();
    let key = |k: &str| format!("health.measure[{i}].{k}");
    let field = m.field.ok_or_else(|| {
        src.invalid(
            header.clone(),
            key("field"),
            "missing; expected the name of a per-customer field, such as \"p_alive\"".into(),
        )
    })?;
    if field.get_ref().trim().is_empty() {
        return Err(src.invalid(
            field.span(),
            key("field"),
            "is empty; expected the name of a per-customer field, such as \"p_alive\"".into(),
        ));
    }
    let weight = match m.weight {
        None => 1.0,
        Some(w) => {
            let v = *w.get_ref();
            if !v.is_finite() || v < 0.0 {
                return Err(src.invalid(
                    w.span(),
                    key("weight"),
                    format!("got {v}, expected a finite weight >= 0"),
                ));
            }
            v
        }
    };
    let mut ends = [0.0; 2];
    let mut end_spans = [header.clone(), header.clone()];
    for (j, (name, v)) in [("bad", m.bad), ("good", m.good)].into_iter().enumerate() {
        let v = v.ok_or_else(|| {
            src.invalid(
                header.clone(),
                key(name),
                format!(
                    "missing; expected the value of {} that scores {}",
                    field.get_ref(),
                    if j == 0 { 0 } else { 100 }
                ),
            )
        })?;
        if !v.get_ref().is_finite() {
            return Err(src.invalid(
                v.span(),
                key(name),
                format!("got {}, expected a finite number", v.get_ref()),
            ));
        }
        ends[j] = *v.get_ref();
        end_spans[j] = v.span();
    }
    if ends[0] == ends[1] {
        return Err(src.invalid(
            end_spans[1].clone(),
            key("good"),
            format!(
                "equals bad ({}); expected two different values (bad > good means lower is better)",
                ends[0]
            ),
        ));
    }
    Ok(Measure {
        field: field.into_inner(),
        weight,
        bad: ends[0],
        good: ends[1],
    })
}

fn parse_segments(
    src: &Src,
    list: Vec<Spanned<RawSegment>>,
    origin: &mut Origin,
) -> Result<Vec<SegmentRule>, ConfigError> {
    let mut out: Vec<SegmentRule> = Vec::with_capacity(list.len());
    for (i, s) in list.into_iter().enumerate() {
        let header = s.span();
        let s = s.into_inner();
        let name = s.name.ok_or_else(|| {
            src.invalid(
                header.clone(),
                format!("segment[{i}].name"),
                "missing; expected a segment name such as \"at_risk\"".into(),
            )
        })?;
        let n = name.get_ref();
        if !is_valid_name(n) || n == UNSEGMENTED {
            return Err(src.invalid(
                name.span(),
                format!("segment[{i}].name"),
                format!(
                    "got {}, expected letters, digits, \"_\", \"-\" or \".\" (and not the reserved \"{UNSEGMENTED}\")",
                    show(n)
                ),
            ));
        }
        if out.iter().any(|o| &o.name == n) {
            return Err(src.invalid(
                name.span(),
                format!("segment[{i}].name"),
                format!(
                    "duplicate segment name {}; expected each name once",
                    show(n)
                ),
            ));
        }
        let when = s.when.ok_or_else(|| {
            src.invalid(
                header.clone(),
                format!("segment[{i}].when"),
                "missing; expected a condition such as \"tier == 'red'\" (use \"true\" for a catch-all)".into(),
            )
        })?;
        check_expr(src, &when, format!("segment[{i}].when"), false)?;
        origin.segment_when.push(src.location(when.span().start));
        out.push(SegmentRule {
            name: name.into_inner(),
            when: when.into_inner(),
        });
    }
    Ok(out)
}

/// Compiles an expression to check it, naming the key and line on failure.
fn check_expr(
    src: &Src,
    when: &Spanned<String>,
    key: String,
    event_allowed: bool,
) -> Result<(), ConfigError> {
    let compiled = CompiledExpr::compile(when.get_ref())
        .map_err(|message| src.invalid(when.span(), key.clone(), message))?;
    if !event_allowed && compiled.references_variable("event") {
        return Err(src.invalid(
            when.span(),
            key,
            "uses `event`, which only triggers with on = \"event\" can see".into(),
        ));
    }
    Ok(())
}

fn parse_triggers(
    src: &Src,
    list: Vec<Spanned<RawTrigger>>,
    segments: &[SegmentRule],
    origin: &mut Origin,
) -> Result<Vec<Trigger>, ConfigError> {
    let mut out: Vec<Trigger> = Vec::with_capacity(list.len());
    let segment_names: BTreeSet<&str> = segments.iter().map(|s| s.name.as_str()).collect();
    for (i, t) in list.into_iter().enumerate() {
        let header = t.span();
        let t = t.into_inner();
        let key = |k: &str| format!("trigger[{i}].{k}");
        let missing = |k: &str, what: &str| {
            src.invalid(header.clone(), key(k), format!("missing; expected {what}"))
        };
        let not_used = |s: &Spanned<String>, k: &str, only: &str| {
            src.invalid(
                s.span(),
                key(k),
                format!(
                    "is set to {} but is only used with {only}",
                    show(s.get_ref())
                ),
            )
        };

        let name = t.name.ok_or_else(|| missing("name", "a trigger name"))?;
        let n = name.get_ref();
        if !is_valid_name(n) {
            return Err(src.invalid(
                name.span(),
                key("name"),
                format!(
                    "got {}, expected letters, digits, \"_\", \"-\" or \".\"",
                    show(n)
                ),
            ));
        }
        if out.iter().any(|o| &o.name == n) {
            return Err(src.invalid(
                name.span(),
                key("name"),
                format!(
                    "duplicate trigger name {}; expected each name once",
                    show(n)
                ),
            ));
        }

        let on_s = t
            .on
            .ok_or_else(|| missing("on", "\"segment_entered\", \"segment_left\" or \"event\""))?;
        let on = match on_s.get_ref().as_str() {
            "segment_entered" => TriggerOn::SegmentEntered,
            "segment_left" => TriggerOn::SegmentLeft,
            "event" => TriggerOn::Event,
            other => {
                return Err(src.invalid(
                    on_s.span(),
                    key("on"),
                    format!(
                        "got {}, expected \"segment_entered\", \"segment_left\" or \"event\"",
                        show(other)
                    ),
                ))
            }
        };
        let (segment, event) = match on {
            TriggerOn::SegmentEntered | TriggerOn::SegmentLeft => {
                if let Some(e) = &t.event {
                    return Err(not_used(e, "event", "on = \"event\""));
                }
                let s = t.segment.ok_or_else(|| {
                    missing(
                        "segment",
                        &format!("the segment this on = \"{}\" trigger watches", on.as_str()),
                    )
                })?;
                if !segment_names.contains(s.get_ref().as_str()) {
                    let known: Vec<String> = segments.iter().map(|s| show(&s.name)).collect();
                    return Err(src.invalid(
                        s.span(),
                        key("segment"),
                        format!(
                            "unknown segment {}, expected one of {}",
                            show(s.get_ref()),
                            if known.is_empty() {
                                "(no segments defined)".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
                (Some(s.into_inner()), None)
            }
            TriggerOn::Event => {
                if let Some(s) = &t.segment {
                    return Err(not_used(
                        s,
                        "segment",
                        "on = \"segment_entered\" or \"segment_left\" (use when = \"segment == '...'\")",
                    ));
                }
                let e = t.event.ok_or_else(|| {
                    missing(
                        "event",
                        "the event name this trigger fires on, such as \"limit_hit\"",
                    )
                })?;
                if e.get_ref().trim().is_empty() {
                    return Err(src.invalid(
                        e.span(),
                        key("event"),
                        "is empty; expected an event name such as \"limit_hit\"".into(),
                    ));
                }
                (None, Some(e.into_inner()))
            }
        };

        let when_loc = match &t.when {
            Some(w) => {
                check_expr(src, w, key("when"), on == TriggerOn::Event)?;
                Some(src.location(w.span().start))
            }
            None => None,
        };

        let action_s = t
            .action
            .ok_or_else(|| missing("action", "\"task\" or \"webhook\""))?;
        let action = match action_s.get_ref().as_str() {
            "task" => ActionType::Task,
            "webhook" => ActionType::Webhook,
            other => {
                return Err(src.invalid(
                    action_s.span(),
                    key("action"),
                    format!("got {}, expected \"task\" or \"webhook\"", show(other)),
                ))
            }
        };
        let mut max_attempts = DEFAULT_MAX_ATTEMPTS;
        let (url, secret_env) = match action {
            ActionType::Task => {
                if let Some(u) = &t.url {
                    return Err(not_used(u, "url", "action = \"webhook\""));
                }
                if let Some(s) = &t.secret_env {
                    return Err(not_used(s, "secret_env", "action = \"webhook\""));
                }
                if let Some(m) = &t.max_attempts {
                    return Err(src.invalid(
                        m.span(),
                        key("max_attempts"),
                        format!(
                            "is set to {} but is only used with action = \"webhook\"",
                            m.get_ref()
                        ),
                    ));
                }
                (None, None)
            }
            ActionType::Webhook => {
                let url = t.url.ok_or_else(|| {
                    missing("url", "the http:// or https:// URL the webhook posts to")
                })?;
                if let Err(e) = validate_webhook_url(url.get_ref()) {
                    return Err(src.invalid(url.span(), key("url"), e.to_string()));
                }
                let secret = t.secret_env.ok_or_else(|| {
                    missing(
                        "secret_env",
                        "the name of the environment variable holding the signing secret, such as \"NORTHSTAR_WEBHOOK_SECRET\"",
                    )
                })?;
                if !is_valid_env_name(secret.get_ref()) {
                    return Err(src.invalid(
                        secret.span(),
                        key("secret_env"),
                        format!(
                            "got {}, expected an environment variable name (letters, digits, \"_\"; not starting with a digit), not the secret itself",
                            show(secret.get_ref())
                        ),
                    ));
                }
                if let Some(m) = &t.max_attempts {
                    let v = *m.get_ref();
                    if !(1..=1000).contains(&v) {
                        return Err(src.invalid(
                            m.span(),
                            key("max_attempts"),
                            format!("got {v}, expected a whole number of attempts from 1 to 1000"),
                        ));
                    }
                    max_attempts = v as u32;
                }
                (Some(url.into_inner()), Some(secret.into_inner()))
            }
        };
        origin.trigger_when.push(when_loc);
        out.push(Trigger {
            name: name.into_inner(),
            on,
            segment,
            event,
            when: t.when.map(Spanned::into_inner),
            action,
            url,
            secret_env,
            max_attempts,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of issue 6, "The config format", verbatim.
    const ISSUE_EXAMPLE: &str = r#"[model]
purchase = "auto"          # auto | bgnbd | pnbd | mbgnbd
horizon_months = 12
discount_rate = 0.01       # monthly

[health]
green = 76                 # score >= green -> "green"; >= yellow -> "yellow"; else "red"
yellow = 51
[[health.measure]]
field = "p_alive"
weight = 30
bad = 0.2                  # scores 0 at bad, 100 at good, linear between, clamped (bad > good allowed: lower is better)
good = 0.9

[[segment]]                # first match wins
name = "at_risk"
when = "tier == 'red' || usage_trend <= -0.5 || days_since_last_activity >= 14"
[[segment]]
name = "champion"
when = "tier == 'green' && clv_percentile >= 0.75 && features_used_30d >= 3"
[[segment]]
name = "stable"
when = "true"

[[trigger]]
name = "cs-task-on-risk"
on = "segment_entered"     # segment_entered | segment_left | event
segment = "at_risk"
action = "task"
[[trigger]]
name = "upsell-on-limit"
on = "event"
event = "limit_hit"
when = "segment == 'champion'"
action = "webhook"
url = "http://127.0.0.1:9000/hooks/upsell"
secret_env = "NORTHSTAR_WEBHOOK_SECRET"
max_attempts = 8
"#;

    fn err(text: &str) -> ConfigError {
        Config::from_toml(text, "northstar.toml").unwrap_err()
    }

    #[test]
    fn issue_example_parses_exactly_as_written() {
        let c = Config::from_toml(ISSUE_EXAMPLE, "northstar.toml").unwrap();
        assert_eq!(
            c.model,
            ModelConfig {
                purchase: PurchaseModel::Auto,
                horizon_months: 12,
                discount_rate: 0.01
            }
        );
        assert_eq!((c.health.green, c.health.yellow), (76.0, 51.0));
        assert_eq!(
            c.health.measures,
            vec![Measure {
                field: "p_alive".into(),
                weight: 30.0,
                bad: 0.2,
                good: 0.9
            }]
        );
        let names: Vec<&str> = c.segments.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["at_risk", "champion", "stable"]);
        assert_eq!(c.segments[2].when, "true");
        assert_eq!(c.triggers.len(), 2);
        assert_eq!(
            c.triggers[1],
            Trigger {
                name: "upsell-on-limit".into(),
                on: TriggerOn::Event,
                segment: None,
                event: Some("limit_hit".into()),
                when: Some("segment == 'champion'".into()),
                action: ActionType::Webhook,
                url: Some("http://127.0.0.1:9000/hooks/upsell".into()),
                secret_env: Some("NORTHSTAR_WEBHOOK_SECRET".into()),
                max_attempts: 8,
            }
        );
        assert_eq!(c.triggers[0].on, TriggerOn::SegmentEntered);
        assert_eq!(c.triggers[0].segment.as_deref(), Some("at_risk"));
        assert_eq!(c.triggers[0].action, ActionType::Task);
        crate::CompiledConfig::new(&c).unwrap();
    }

    #[test]
    fn default_config_parses_and_compiles() {
        let c = Config::default();
        assert_eq!(c.model, ModelConfig::default());
        assert_eq!(c.health.measures.len(), 8);
        let total: f64 = c.health.measures.iter().map(|m| m.weight).sum();
        assert_eq!(total, 100.0);
        assert_eq!(c.segments.len(), 3);
        assert_eq!(c.triggers.len(), 1);
        assert_eq!(c.triggers[0].name, "cs-task-on-risk");
        assert!(c.triggers.iter().all(|t| t.action == ActionType::Task));
        crate::CompiledConfig::new(&c).unwrap();
    }

    #[test]
    fn empty_file_is_the_default_config() {
        let c = Config::from_toml("", "northstar.toml").unwrap();
        let d = Config::default();
        assert_eq!(
            (c.model, c.health, c.segments, c.triggers),
            (d.model, d.health, d.segments, d.triggers)
        );
    }

    #[test]
    fn own_segments_without_triggers_mean_no_triggers() {
        let c = Config::from_toml("[[segment]]\nname = \"all\"\nwhen = \"true\"\n", "n").unwrap();
        assert!(c.triggers.is_empty());
        let c = Config::from_toml("trigger = []\n", "n").unwrap();
        assert!(c.triggers.is_empty());
        assert_eq!(c.segments.len(), 3);
    }

    #[test]
    fn health_section_without_measures_keeps_default_measures() {
        let c = Config::from_toml("[health]\ngreen = 80\n", "n").unwrap();
        assert_eq!((c.health.green, c.health.yellow), (80.0, 51.0));
        assert_eq!(c.health.measures.len(), 8);
        let c = Config::from_toml("[health]\nmeasure = []\n", "n").unwrap();
        assert!(c.health.measures.is_empty());
    }

    #[test]
    fn unknown_field_is_rejected_with_its_line() {
        let text = "[health]\ngreen = 76\n\n[[health.measure]]\nfield = \"p_alive\"\nwieght = 30\nbad = 0.2\ngood = 0.9\n";
        let e = err(text);
        assert_eq!(e.line(), Some(6));
        assert_eq!(
            e.to_string(),
            "northstar.toml:6:1: unknown field `wieght`, expected one of `field`, `weight`, `bad`, `good`"
        );
    }

    #[test]
    fn unknown_top_level_section_is_rejected_with_its_line() {
        let e = err("[model]\nhorizon_months = 3\n\n[segments]\nx = 1\n");
        assert_eq!(e.line(), Some(4));
        assert!(e.to_string().contains("unknown field `segments`"), "{e}");
    }

    #[test]
    fn expression_that_does_not_parse_names_key_and_line() {
        let text = "[[segment]]\nname = \"a\"\nwhen = \"true\"\n[[segment]]\nname = \"b\"\nwhen = \"tier == 'red' &&\"\n";
        let e = err(text);
        assert_eq!(e.key(), Some("segment[1].when"));
        assert_eq!(e.line(), Some(6));
        let msg = e.to_string();
        assert!(
            msg.starts_with("northstar.toml:6:8: segment[1].when: does not parse: "),
            "{msg}"
        );
    }

    #[test]
    fn negative_weight_names_key_and_line() {
        let text =
            "[health]\n[[health.measure]]\nfield = \"p_alive\"\nweight = 1\nbad = 0\ngood = 1\n\
                    [[health.measure]]\nfield = \"nps\"\nweight = -3\nbad = 0\ngood = 10\n";
        let e = err(text);
        assert_eq!(e.key(), Some("health.measure[1].weight"));
        assert_eq!(e.line(), Some(9));
        assert_eq!(
            e.to_string(),
            "northstar.toml:9:10: health.measure[1].weight: got -3, expected a finite weight >= 0"
        );
    }

    #[test]
    fn wrong_type_is_a_syntax_error_with_line() {
        let e = err("[model]\nhorizon_months = \"twelve\"\n");
        assert_eq!(e.line(), Some(2));
        assert!(
            e.to_string().contains("invalid type: string \"twelve\""),
            "{e}"
        );
    }

    #[test]
    fn semantic_errors_name_key_and_line() {
        // (text, key, line, a piece of the message)
        let cases: &[(&str, &str, usize, &str)] = &[
            ("[health]\n[[health.measure]]\nfield = \"x\"\nbad = 1\ngood = 1\n", "health.measure[0].good", 5, "equals bad (1)"),
            ("[health]\n[[health.measure]]\nfield = \"x\"\nweight = nan\nbad = 0\ngood = 1\n", "health.measure[0].weight", 4, "got NaN"),
            ("[health]\n[[health.measure]]\nfield = \"x\"\ngood = 1\n", "health.measure[0].bad", 2, "missing"),
            ("[health]\n[[health.measure]]\nfield = \"x\"\nweight = 0\nbad = 0\ngood = 1\n", "health.measure", 1, "every weight is 0"),
            ("[health]\ngreen = 50\nyellow = 60\n", "health.yellow", 3, "above health.green = 50"),
            ("[health]\ngreen = 101\n", "health.green", 2, "from 0 to 100"),
            ("[health]\nyellow = -1\n", "health.yellow", 2, "from 0 to 100"),
            ("[model]\nhorizon_months = 0\n", "model.horizon_months", 2, "got 0"),
            ("[model]\ndiscount_rate = -0.1\n", "model.discount_rate", 2, "got -0.1"),
            ("[model]\npurchase = \"bgbb\"\n", "model.purchase", 2, "unknown model \"bgbb\""),
            ("[[segment]]\nname = \"a\"\nwhen = \"true\"\n[[segment]]\nname = \"a\"\nwhen = \"true\"\n", "segment[1].name", 5, "duplicate segment name \"a\""),
            ("[[segment]]\nname = \"unsegmented\"\nwhen = \"true\"\n", "segment[0].name", 2, "reserved"),
            ("[[segment]]\nname = \"a\"\n", "segment[0].when", 1, "missing"),
            ("[[segment]]\nname = \"a\"\nwhen = \"event.name == 'x'\"\n", "segment[0].when", 3, "uses `event`"),
            ("[[trigger]]\nname = \"t\"\non = \"segment_entered\"\naction = \"task\"\n", "trigger[0].segment", 1, "missing"),
            ("[[trigger]]\nname = \"t\"\non = \"segment_left\"\nsegment = \"gone\"\naction = \"task\"\n", "trigger[0].segment", 4, "unknown segment \"gone\""),
            ("[[trigger]]\nname = \"t\"\non = \"event\"\naction = \"task\"\n", "trigger[0].event", 1, "missing"),
            ("[[trigger]]\nname = \"t\"\non = \"click\"\n", "trigger[0].on", 3, "got \"click\""),
            ("[[trigger]]\nname = \"t\"\non = \"event\"\nevent = \"e\"\naction = \"email\"\n", "trigger[0].action", 5, "got \"email\""),
            ("[[trigger]]\nname = \"t\"\non = \"event\"\nevent = \"e\"\naction = \"webhook\"\nsecret_env = \"S\"\n", "trigger[0].url", 1, "missing"),
            ("[[trigger]]\nname = \"t\"\non = \"event\"\nevent = \"e\"\naction = \"webhook\"\nurl = \"ftp://x/\"\nsecret_env = \"S\"\n", "trigger[0].url", 6, "http:// or https://"),
            ("[[trigger]]\nname = \"t\"\non = \"event\"\nevent = \"e\"\naction = \"webhook\"\nurl = \"http://x/\"\n", "trigger[0].secret_env", 1, "missing"),
            ("[[trigger]]\nname = \"t\"\non = \"event\"\nevent = \"e\"\naction = \"webhook\"\nurl = \"http://x/\"\nsecret_env = \"hunter 2\"\n", "trigger[0].secret_env", 7, "environment variable name"),
            ("[[trigger]]\nname = \"t\"\non = \"event\"\nevent = \"e\"\naction = \"webhook\"\nurl = \"http://x/\"\nsecret_env = \"S\"\nmax_attempts = 0\n", "trigger[0].max_attempts", 8, "got 0"),
            ("[[trigger]]\nname = \"t\"\non = \"event\"\nevent = \"e\"\naction = \"task\"\n[[trigger]]\nname = \"t\"\non = \"event\"\nevent = \"e\"\naction = \"task\"\n", "trigger[1].name", 7, "duplicate trigger name \"t\""),
            ("[[trigger]]\nname = \"a:b\"\non = \"event\"\nevent = \"e\"\naction = \"task\"\n", "trigger[0].name", 2, "got \"a:b\""),
            ("[[trigger]]\nname = \"t\"\non = \"event\"\nevent = \"e\"\nwhen = \"health >\"\naction = \"task\"\n", "trigger[0].when", 5, "does not parse"),
            ("[[trigger]]\nname = \"t\"\non = \"event\"\nevent = \"e\"\naction = \"task\"\nurl = \"http://x/\"\n", "trigger[0].url", 6, "only used with action = \"webhook\""),
        ];
        for (text, key, line, piece) in cases {
            let e = err(text);
            assert_eq!(e.key(), Some(*key), "{text}\n{e}");
            assert_eq!(e.line(), Some(*line), "{text}\n{e}");
            let msg = e.to_string();
            assert!(msg.contains(piece), "{msg}");
            assert!(msg.starts_with(&format!("northstar.toml:{line}:")), "{msg}");
            assert!(msg.contains(&format!(" {key}: ")), "{msg}");
        }
    }

    #[test]
    fn config_json_has_no_secret_only_the_env_var_name() {
        let c = Config::from_toml(ISSUE_EXAMPLE, "northstar.toml").unwrap();
        let secret = "s3cr3t-value-never-in-config";
        // The secret lives in the environment only; the config names the variable.
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains(secret));
        assert!(
            json.contains(r#""secret_env":"NORTHSTAR_WEBHOOK_SECRET""#),
            "{json}"
        );
        assert_eq!(json, c.to_json());
        // And it reads back to the same config.
        let back = Config::from_json(&json).unwrap();
        assert_eq!(back.triggers, c.triggers);
        assert_eq!(back.health, c.health);
        assert!(json.starts_with(r#"{"model":{"purchase":"auto","horizon_months":12,"discount_rate":0.01},"health":{"green":76.0,"yellow":51.0,"measure":[{"field":"p_alive","weight":30.0,"bad":0.2,"good":0.9}]},"segment":[{"name":"at_risk""#), "{json}");
    }

    #[test]
    fn hostile_inputs_are_errors_not_panics() {
        for text in [
            "[[segment]]\nname = \"a\"\nwhen = \"\u{0}\"\n",
            "[[segment]]\nname = \"é\"\nwhen = \"true\"\n",
            "[[segment]]\nname = \"a\"\nwhen = \"((((((((((((((((((((1\"\n",
            "[[segment]]\nname = \"a\"\nwhen = \"'unterminated\"\n",
            "[[segment]]\nname = \"a\"\nwhen = \"a.b.c(\"\n",
            "[model]\nhorizon_months = 99999999999999999999\n",
            "\u{feff}[model]\npurchase = 1\n",
            "[health]\ngreen = inf\n",
            "é = 1",
        ] {
            let e = Config::from_toml(text, "n.toml");
            assert!(e.is_err(), "{text}");
            assert!(e.unwrap_err().line().is_some(), "{text}");
        }
    }
}
