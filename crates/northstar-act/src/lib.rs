//! Acting on CLV: the `northstar.toml` config, health scores, CEL segments, triggers and
//! webhook signing. Pure: no file, network or environment access; callers pass text, fields,
//! events and secrets in.
//!
//! * [`Config::from_toml`] parses and validates `northstar.toml` (every error names the file,
//!   line, column and key); [`DEFAULT_CONFIG`] is the commented default.
//! * [`score_health`] turns a customer's [`Fields`] into a 0–100 [`HealthScore`] and a
//!   [`Tier`].
//! * [`CompiledConfig::segment_for`] picks the first segment rule that holds (CEL, null-safe:
//!   see [`expr`]).
//! * [`CompiledConfig::triggers_for_customer`] gives the [`Action`]s a snapshot causes, each with
//!   an idempotency key and its exact JSON body.
//! * [`sign`], [`verify`], [`backoff_delay_ms`] and [`validate_webhook_url`] help deliver them.
//!
//! ```
//! use chrono::NaiveDate;
//! use northstar_act::{CompiledConfig, Config, Fields};
//!
//! let config = Config::from_toml("[model]\nhorizon_months = 6\n", "northstar.toml")?;
//! let compiled = CompiledConfig::new(&config)?;
//!
//! let mut f = Fields::new();
//! f.set_text("customer_id", "acme");
//! f.set_number("p_alive", Some(0.2));              // scores 0 (bad = 0.2)
//! f.set_number("days_since_last_activity", Some(20.0));
//! let health = compiled.score_health(&f);
//! f.set_number("health", health.score);
//! f.set_opt_text("tier", health.tier.map(|t| t.as_str()));
//! assert_eq!(f.text("tier"), Some("red"));
//!
//! let segment = compiled.segment_for(&f).unwrap().to_string();
//! assert_eq!(segment, "at_risk");
//! f.set_text("segment", &segment); // segment_before unset: first snapshot
//! let as_of = NaiveDate::from_ymd_opt(2024, 3, 31).unwrap();
//! let actions = compiled.triggers_for_customer("acme", as_of, &f, &[]).unwrap();
//! assert_eq!(actions[0].trigger, "cs-task-on-risk");
//! # Ok::<(), northstar_act::ConfigError>(())
//! ```
#![deny(missing_docs)]

pub mod config;
pub mod expr;
pub mod fields;
pub mod health;
pub mod segments;
pub mod triggers;
pub mod webhook;

pub use config::{
    ActionType, Config, ConfigError, HealthConfig, Location, Measure, ModelConfig, PurchaseModel,
    SegmentRule, Trigger, TriggerOn, DEFAULT_CONFIG, DEFAULT_MAX_ATTEMPTS, UNSEGMENTED,
};
pub use expr::{CompiledExpr, ExprError};
pub use fields::{FieldValue, Fields};
pub use health::{measure_score, score_health, HealthScore, MeasureScore, Tier};
pub use segments::CompiledConfig;
pub use triggers::{idempotency_key, Action, ActionKind, TriggerEvent};
pub use webhook::{
    backoff_delay_ms, sign, validate_webhook_url, verify, UrlError, SIGNATURE_HEADER,
};
