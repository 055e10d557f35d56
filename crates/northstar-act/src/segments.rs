//! Segments: an ordered list of CEL rules, the first that holds wins.

use std::collections::BTreeSet;

use crate::config::{ActionType, Config, ConfigError, Location, TriggerOn, UNSEGMENTED};
use crate::expr::{CompiledExpr, ExprError, Runtime};
use crate::fields::Fields;
use crate::health::{score_health, HealthScore};
use crate::webhook::validate_webhook_url;

/// A [`Config`] with its conditions compiled, ready to score, segment and trigger many
/// customers. It is `Send + Sync`: share one across threads.
#[derive(Debug)]
pub struct CompiledConfig {
    pub(crate) config: Config,
    pub(crate) segment_when: Vec<CompiledExpr>,
    pub(crate) trigger_when: Vec<Option<CompiledExpr>>,
    pub(crate) runtime: Runtime,
}

fn invalid(location: Option<Location>, key: String, message: String) -> ConfigError {
    ConfigError::Invalid {
        location,
        key,
        message,
    }
}

impl CompiledConfig {
    /// Compiles every condition. A config from [`Config::from_toml`] always compiles (it was
    /// checked while parsing); one built in code or read back from JSON is checked here: its
    /// conditions, and that triggers name existing segments and complete webhooks.
    ///
    /// ```
    /// use northstar_act::{CompiledConfig, Config};
    /// let compiled = CompiledConfig::new(&Config::default())?;
    /// assert_eq!(compiled.segment_names().collect::<Vec<_>>(), ["at_risk", "champion", "stable"]);
    /// # Ok::<(), northstar_act::ConfigError>(())
    /// ```
    pub fn new(config: &Config) -> Result<CompiledConfig, ConfigError> {
        let origin = config.origin.as_ref();
        let mut segment_when = Vec::with_capacity(config.segments.len());
        for (i, s) in config.segments.iter().enumerate() {
            let loc = origin.and_then(|o| o.segment_when.get(i).cloned());
            let e = CompiledExpr::compile(&s.when)
                .map_err(|m| invalid(loc.clone(), format!("segment[{i}].when"), m))?;
            if e.references_variable("event") {
                return Err(invalid(
                    loc,
                    format!("segment[{i}].when"),
                    "uses `event`, which only triggers with on = \"event\" can see".into(),
                ));
            }
            segment_when.push(e);
        }
        let names: BTreeSet<&str> = config.segments.iter().map(|s| s.name.as_str()).collect();
        let mut trigger_when = Vec::with_capacity(config.triggers.len());
        for (i, t) in config.triggers.iter().enumerate() {
            let loc = origin.and_then(|o| o.trigger_when.get(i).cloned().flatten());
            let key = |k: &str| format!("trigger[{i}].{k}");
            match t.on {
                TriggerOn::SegmentEntered | TriggerOn::SegmentLeft => match &t.segment {
                    Some(s) if names.contains(s.as_str()) => {}
                    Some(s) => {
                        return Err(invalid(
                            None,
                            key("segment"),
                            format!("unknown segment {s:?}"),
                        ))
                    }
                    None => return Err(invalid(None, key("segment"), "missing".into())),
                },
                TriggerOn::Event => {
                    if t.event.as_deref().is_none_or(|e| e.trim().is_empty()) {
                        return Err(invalid(None, key("event"), "missing".into()));
                    }
                }
            }
            if t.action == ActionType::Webhook {
                match &t.url {
                    Some(u) => validate_webhook_url(u)
                        .map_err(|e| invalid(None, key("url"), e.to_string()))?,
                    None => return Err(invalid(None, key("url"), "missing".into())),
                }
                if t.secret_env.is_none() {
                    return Err(invalid(None, key("secret_env"), "missing".into()));
                }
                if t.max_attempts == 0 {
                    return Err(invalid(
                        None,
                        key("max_attempts"),
                        "got 0, expected at least 1".into(),
                    ));
                }
            }
            let e = match &t.when {
                Some(w) => {
                    let e = CompiledExpr::compile(w)
                        .map_err(|m| invalid(loc.clone(), key("when"), m))?;
                    if t.on != TriggerOn::Event && e.references_variable("event") {
                        return Err(invalid(
                            loc,
                            key("when"),
                            "uses `event`, which only triggers with on = \"event\" can see".into(),
                        ));
                    }
                    Some(e)
                }
                None => None,
            };
            trigger_when.push(e);
        }
        let runtime = Runtime::new(segment_when.iter().chain(trigger_when.iter().flatten()));
        Ok(CompiledConfig {
            config: config.clone(),
            segment_when,
            trigger_when,
            runtime,
        })
    }

    /// The config compiled.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configured segment names, in rule order (without `"unsegmented"`).
    pub fn segment_names(&self) -> impl Iterator<Item = &str> {
        self.config.segments.iter().map(|s| s.name.as_str())
    }

    /// Every field name some condition reads (`event` included when a trigger uses it); a
    /// caller can warn about names it never fills (a typo reads as null).
    pub fn referenced_fields(&self) -> BTreeSet<&str> {
        self.segment_when
            .iter()
            .chain(self.trigger_when.iter().flatten())
            .flat_map(|e| e.variables())
            .collect()
    }

    /// [`score_health`] with this config's `[health]`.
    pub fn score_health(&self, fields: &Fields) -> HealthScore {
        score_health(&self.config.health, fields)
    }

    /// The customer's segment: the name of the first rule whose condition holds, or
    /// [`UNSEGMENTED`] (`"unsegmented"`) when none does, so every customer lands in exactly one
    /// segment. `fields` should hold `health` and `tier` (and `segment_before`) already; set
    /// `customer_id` too so errors name the customer.
    ///
    /// A condition that fails (a type mismatch such as `tier > 3`) or does not give a bool is
    /// an [`ExprError`] naming the segment and the customer. A null field never fails: it
    /// makes comparisons false (see [`crate::expr`]).
    ///
    /// ```
    /// use northstar_act::{CompiledConfig, Config, Fields};
    /// let compiled = CompiledConfig::new(&Config::default())?;
    /// let mut f = Fields::new();
    /// f.set_text("tier", "red");
    /// assert_eq!(compiled.segment_for(&f).unwrap(), "at_risk");
    /// # Ok::<(), northstar_act::ConfigError>(())
    /// ```
    pub fn segment_for(&self, fields: &Fields) -> Result<&str, ExprError> {
        let scope = self.runtime.scope(fields, None, None);
        for (rule, e) in self.config.segments.iter().zip(&self.segment_when) {
            if e.eval_bool(&scope, &format!("segment {:?}", rule.name))? {
                return Ok(&rule.name);
            }
        }
        Ok(UNSEGMENTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> CompiledConfig {
        CompiledConfig::new(&Config::default()).unwrap()
    }

    /// A healthy, active customer: every default at_risk condition is false.
    fn healthy() -> Fields {
        let mut f = Fields::new();
        f.set_text("customer_id", "c1");
        f.set_number("health", Some(80.0));
        f.set_text("tier", "green");
        f.set_number("p_alive", Some(0.9));
        f.set_number("usage_trend", Some(0.1));
        f.set_number("days_since_last_activity", Some(2.0));
        f.set_number("clv_percentile", Some(0.5));
        f.set_number("features_used_30d", Some(2.0));
        f
    }

    #[test]
    fn red_tier_is_at_risk() {
        let mut f = healthy();
        f.set_text("tier", "red");
        assert_eq!(defaults().segment_for(&f).unwrap(), "at_risk");
    }

    #[test]
    fn halving_usage_going_quiet_or_low_p_alive_is_at_risk() {
        let c = defaults();
        let mut f = healthy();
        f.set_number("usage_trend", Some(-0.5)); // <= -0.5
        assert_eq!(c.segment_for(&f).unwrap(), "at_risk");
        let mut f = healthy();
        f.set_number("days_since_last_activity", Some(14.0)); // >= 14
        assert_eq!(c.segment_for(&f).unwrap(), "at_risk");
        let mut f = healthy();
        f.set_number("p_alive", Some(0.29)); // < 0.3
        assert_eq!(c.segment_for(&f).unwrap(), "at_risk");
    }

    #[test]
    fn green_high_clv_percentile_and_three_features_is_champion() {
        let mut f = healthy();
        f.set_number("clv_percentile", Some(0.8));
        f.set_number("features_used_30d", Some(3.0));
        assert_eq!(defaults().segment_for(&f).unwrap(), "champion");
    }

    #[test]
    fn two_features_is_not_enough_for_champion() {
        let mut f = healthy();
        f.set_number("clv_percentile", Some(0.8));
        assert_eq!(defaults().segment_for(&f).unwrap(), "stable");
    }

    #[test]
    fn null_usage_trend_does_not_make_at_risk_fire_by_itself() {
        let mut f = healthy();
        f.set_number("usage_trend", None);
        f.set_number("days_since_last_activity", None);
        f.set_number("p_alive", None);
        assert_eq!(defaults().segment_for(&f).unwrap(), "stable");
    }

    #[test]
    fn customer_without_any_field_lands_in_stable() {
        // tier null, everything null: no comparison holds, the catch-all does.
        assert_eq!(defaults().segment_for(&Fields::new()).unwrap(), "stable");
    }

    #[test]
    fn no_matching_rule_gives_unsegmented() {
        let cfg = Config::from_toml(
            "[[segment]]\nname = \"vip\"\nwhen = \"clv > 1000\"\n",
            "n.toml",
        )
        .unwrap();
        let c = CompiledConfig::new(&cfg).unwrap();
        let mut f = Fields::new();
        f.set_number("clv", Some(10.0));
        assert_eq!(c.segment_for(&f).unwrap(), UNSEGMENTED);
        f.set_number("clv", Some(1000.5));
        assert_eq!(c.segment_for(&f).unwrap(), "vip");
    }

    #[test]
    fn runtime_type_error_names_segment_and_customer() {
        let cfg = Config::from_toml(
            "[[segment]]\nname = \"odd\"\nwhen = \"tier > 3\"\n",
            "n.toml",
        )
        .unwrap();
        let c = CompiledConfig::new(&cfg).unwrap();
        let err = c.segment_for(&healthy()).unwrap_err().to_string();
        assert_eq!(
            err,
            "segment \"odd\" (when = \"tier > 3\") failed for customer \"c1\": cannot compare \"green\" (text) with 3 (integer)"
        );
    }

    #[test]
    fn compiling_a_hand_built_config_checks_expressions_and_references() {
        let mut cfg = Config::default();
        cfg.segments[1].when = "tier ==".into();
        let err = CompiledConfig::new(&cfg).unwrap_err();
        assert_eq!(err.key(), Some("segment[1].when"));
        // The default config's text is known, so the line is too.
        assert!(err.line().is_some());

        let mut cfg = Config::default();
        cfg.triggers[0].segment = Some("nope".into());
        let err = CompiledConfig::new(&cfg).unwrap_err();
        assert_eq!(err.key(), Some("trigger[0].segment"));
    }

    #[test]
    fn compiled_config_is_send_and_sync() {
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<CompiledConfig>();
    }
}
