//! The health score: a weighted mean of per-field scores, and its tier.

use serde::{Deserialize, Serialize};

use crate::config::HealthConfig;
use crate::fields::Fields;

/// Health tier, as in Gainsight: green ≥ `green`, yellow ≥ `yellow`, red otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// score ≥ green.
    Green,
    /// yellow ≤ score < green.
    Yellow,
    /// score < yellow.
    Red,
}

impl Tier {
    /// `"green"`, `"yellow"` or `"red"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Green => "green",
            Tier::Yellow => "yellow",
            Tier::Red => "red",
        }
    }

    /// The tier of a score under the given thresholds.
    ///
    /// ```
    /// use northstar_act::Tier;
    /// assert_eq!(Tier::of(76.0, 76.0, 51.0), Tier::Green);
    /// assert_eq!(Tier::of(75.9, 76.0, 51.0), Tier::Yellow);
    /// assert_eq!(Tier::of(50.9, 76.0, 51.0), Tier::Red);
    /// ```
    pub fn of(score: f64, green: f64, yellow: f64) -> Tier {
        if score >= green {
            Tier::Green
        } else if score >= yellow {
            Tier::Yellow
        } else {
            Tier::Red
        }
    }
}

/// One measure's part in a customer's score, so the score explains itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasureScore {
    /// The field measured.
    pub field: String,
    /// The customer's value; `None` when missing, null or not a number.
    pub value: Option<f64>,
    /// 0..100; `None` when the value is missing.
    pub score: Option<f64>,
    /// The configured weight.
    pub weight: f64,
    /// The weight's share among the measures present for this customer (0 when missing; the
    /// present ones sum to 1).
    pub effective_weight: f64,
}

/// A customer's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthScore {
    /// 0..100, or `None` when no measure (with a weight above 0) is present for the customer.
    pub score: Option<f64>,
    /// The tier of `score`; `None` exactly when `score` is `None`.
    pub tier: Option<Tier>,
    /// Every configured measure, in config order.
    pub measures: Vec<MeasureScore>,
}

/// Scores one measure: 0 at `bad`, 100 at `good`, linear between, clamped outside. Works in
/// either direction (`bad > good` means lower is better).
///
/// ```
/// assert_eq!(northstar_act::measure_score(0.5, 0.25, 0.75), 50.0);
/// assert_eq!(northstar_act::measure_score(6.0, 30.0, 0.0), 80.0); // lower is better
/// assert_eq!(northstar_act::measure_score(2.0, 0.2, 0.9), 100.0); // clamped
/// ```
pub fn measure_score(value: f64, bad: f64, good: f64) -> f64 {
    // 100 * (v - bad) / (good - bad): multiplying first keeps round values exact (76 stays 76).
    let s = 100.0 * (value - bad) / (good - bad);
    if s.is_nan() {
        0.0
    } else {
        s.clamp(0.0, 100.0)
    }
}

/// Scores a customer's health.
///
/// Each measure whose field holds a number is scored with [`measure_score`]. A field that is
/// missing, null or not a number drops out, and the remaining weights are renormalized:
/// `effective_weight = weight / (sum of the weights of the present measures)`, and
/// `score = sum(weight × measure score) / (sum of present weights)`. With no measure present
/// (or only measures of weight 0), the score and the tier are `None`: the customer has no
/// health, and conditions on `health` or `tier` see null.
///
/// ```
/// use northstar_act::{score_health, Config, Fields, Tier};
/// let mut health = Config::default().health;
/// health.measures.truncate(1); // p_alive only: bad 0.2, good 0.9
/// let mut f = Fields::new();
/// f.set_number("p_alive", Some(0.9));
/// let h = score_health(&health, &f);
/// assert_eq!((h.score, h.tier), (Some(100.0), Some(Tier::Green)));
/// ```
pub fn score_health(config: &HealthConfig, fields: &Fields) -> HealthScore {
    let mut measures: Vec<MeasureScore> = config
        .measures
        .iter()
        .map(|m| {
            let value = fields.number(&m.field);
            MeasureScore {
                field: m.field.clone(),
                value,
                score: value.map(|v| measure_score(v, m.bad, m.good)),
                weight: m.weight,
                effective_weight: 0.0,
            }
        })
        .collect();
    let present_weight: f64 = measures
        .iter()
        .filter(|m| m.score.is_some())
        .map(|m| m.weight)
        .sum();
    if present_weight <= 0.0 {
        return HealthScore {
            score: None,
            tier: None,
            measures,
        };
    }
    let mut weighted = 0.0;
    for m in measures.iter_mut() {
        if let Some(s) = m.score {
            m.effective_weight = m.weight / present_weight;
            weighted += m.weight * s;
        }
    }
    let score = (weighted / present_weight).clamp(0.0, 100.0);
    HealthScore {
        score: Some(score),
        tier: Some(Tier::of(score, config.green, config.yellow)),
        measures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Measure;

    fn m(field: &str, weight: f64, bad: f64, good: f64) -> Measure {
        Measure {
            field: field.into(),
            weight,
            bad,
            good,
        }
    }

    fn cfg(measures: Vec<Measure>) -> HealthConfig {
        HealthConfig {
            green: 76.0,
            yellow: 51.0,
            measures,
        }
    }

    #[test]
    fn missing_field_drops_out_and_weights_are_renormalized() {
        let c = cfg(vec![
            m("p_alive", 30.0, 0.25, 0.75),
            m("dau_mau", 10.0, 0.0, 0.5),
            m("nps", 60.0, 0.0, 10.0),
        ]);
        let mut f = Fields::new();
        f.set_number("p_alive", Some(0.5)); // 100 * 0.25 / 0.5 = 50
        f.set_number("dau_mau", Some(0.5)); // 100
        f.set_text("nps", "n/a"); // not a number: drops out
        let h = score_health(&c, &f);
        // (30 * 50 + 10 * 100) / 40 = 2500 / 40 = 62.5
        assert_eq!(h.score, Some(62.5));
        assert_eq!(h.tier, Some(Tier::Yellow));
        assert_eq!(h.measures[0].effective_weight, 0.75); // 30 / 40
        assert_eq!(h.measures[1].effective_weight, 0.25); // 10 / 40
        assert_eq!(h.measures[2].effective_weight, 0.0);
        assert_eq!(h.measures[2].value, None);
        assert_eq!(h.measures[2].score, None);
        assert_eq!(h.measures[0].score, Some(50.0));
    }

    #[test]
    fn bad_above_good_means_lower_is_better() {
        let c = cfg(vec![m("days_since_last_activity", 1.0, 30.0, 0.0)]);
        let mut f = Fields::new();
        f.set_number("days_since_last_activity", Some(6.0)); // 100 * (6 - 30) / (0 - 30) = 80
        assert_eq!(score_health(&c, &f).score, Some(80.0));
        f.set_number("days_since_last_activity", Some(45.0)); // past bad: clamped to 0
        assert_eq!(score_health(&c, &f).score, Some(0.0));
    }

    #[test]
    fn values_beyond_good_or_bad_are_clamped() {
        let c = cfg(vec![m("usage_trend", 1.0, -0.5, 0.5)]);
        let mut f = Fields::new();
        f.set_number("usage_trend", Some(3.0));
        assert_eq!(score_health(&c, &f).score, Some(100.0));
        f.set_number("usage_trend", Some(-2.0));
        let h = score_health(&c, &f);
        assert_eq!((h.score, h.tier), (Some(0.0), Some(Tier::Red)));
    }

    #[test]
    fn tier_edges_76_is_green_and_51_is_yellow() {
        let c = cfg(vec![m("x", 30.0, 0.0, 100.0)]);
        let mut f = Fields::new();
        // score = 100 * 76 / 100 = 76 exactly; weighted 30 * 76 / 30 = 76.
        f.set_number("x", Some(76.0));
        assert_eq!(score_health(&c, &f).score, Some(76.0));
        assert_eq!(score_health(&c, &f).tier, Some(Tier::Green));
        f.set_number("x", Some(75.99));
        assert_eq!(score_health(&c, &f).tier, Some(Tier::Yellow));
        f.set_number("x", Some(51.0));
        assert_eq!(score_health(&c, &f).tier, Some(Tier::Yellow));
        f.set_number("x", Some(50.99));
        assert_eq!(score_health(&c, &f).tier, Some(Tier::Red));
    }

    #[test]
    fn no_present_measure_gives_no_score_and_no_tier() {
        let c = cfg(vec![m("p_alive", 1.0, 0.2, 0.9), m("mrr", 0.0, 0.0, 100.0)]);
        let mut f = Fields::new();
        f.set_number("mrr", Some(50.0)); // present, but weight 0
        let h = score_health(&c, &f);
        assert_eq!((h.score, h.tier), (None, None));
        assert_eq!(h.measures.len(), 2);
        assert_eq!(h.measures[1].score, Some(50.0));
    }

    #[test]
    fn default_measures_score_a_hand_made_customer() {
        let health = crate::Config::default().health;
        let mut f = Fields::new();
        f.set_number("p_alive", Some(0.9)); // 100, weight 25
        f.set_number("clv_percentile", Some(0.5)); // 100 * 0.4 / 0.8 = 50, weight 15
        f.set_number("days_since_last_activity", Some(30.0)); // 0, weight 15
                                                              // Others missing: (25 * 100 + 15 * 50 + 15 * 0) / 55 = 3250 / 55 = 59.0909...
        let h = score_health(&health, &f);
        assert!((h.score.unwrap() - 3250.0 / 55.0).abs() < 1e-12);
        assert_eq!(h.tier, Some(Tier::Yellow));
    }
}
