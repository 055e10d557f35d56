//! The CLV calculator: formula LTV, discounted LTV, LTV:CAC, CAC payback, purchase-based LTV
//! and the viral K-factor, from whichever inputs are given.
//!
//! * `lifetime_months` = 1 / churn (or as given);
//! * `ltv` = arpa × gross margin / churn (= arpa × gross margin × lifetime months);
//! * `discounted_ltv`: a margin `m = arpa × gross margin` paid at the start of each month,
//!   surviving with probability `1 − c` a month, growing by `e` a month, discounted monthly by
//!   `d = (1 + D)^(1/12) − 1` from an annual rate `D`:
//!   `Σₖ m ((1+e)(1−c)/(1+d))ᵏ = m / (1 − (1+e)(1−c)/(1+d))`; the series diverges (an error)
//!   when `(1+e)(1−c)/(1+d) ≥ 1`;
//! * `ltv_cac` = ltv / cac and `payback_months` = cac / m;
//! * `aov_ltv` = aov × purchases per year × lifespan in years;
//! * `k_factor` = invites per user × invite conversion.

use std::fmt;

/// The healthy LTV:CAC line: below 3:1 is flagged.
pub const HEALTHY_LTV_CAC: f64 = 3.0;
/// Above 5:1, acquisition spend could likely grow.
pub const HIGH_LTV_CAC: f64 = 5.0;

/// How retention is given: a monthly churn rate or an expected lifetime in months.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Retention {
    /// Monthly churn rate, `0 < c ≤ 1`.
    Churn(f64),
    /// Expected lifetime in months, `≥ 1` (churn = 1 / lifetime).
    LifetimeMonths(f64),
}

/// The calculator's inputs; every field is optional, and groups of fields go together.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CalcInputs {
    /// Average revenue per account per month.
    pub arpa: Option<f64>,
    /// Monthly churn or expected lifetime.
    pub retention: Option<Retention>,
    /// Gross margin as a fraction (default 1).
    pub gross_margin: Option<f64>,
    /// Customer acquisition cost.
    pub cac: Option<f64>,
    /// Annual discount rate `D` (default 0).
    pub discount_rate: Option<f64>,
    /// Monthly expansion rate `e` of a surviving customer's margin (default 0).
    pub expansion_rate: Option<f64>,
    /// Average order value.
    pub aov: Option<f64>,
    /// Purchases per year.
    pub purchases_per_year: Option<f64>,
    /// Customer lifespan in years.
    pub lifespan_years: Option<f64>,
    /// Invitations sent per user.
    pub invites_per_user: Option<f64>,
    /// Share of invitations that convert.
    pub invite_conversion: Option<f64>,
}

/// Where LTV:CAC stands against the usual lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LtvCacStatus {
    /// Below 3:1: each customer returns less than three times its acquisition cost.
    BelowHealthy,
    /// From 3:1 to 5:1.
    Healthy,
    /// Above 5:1: acquisition spend could likely grow.
    AboveFive,
}

/// What the calculator computed; `None` where the inputs do not allow a figure.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CalcResult {
    /// Monthly churn used.
    pub churn: Option<f64>,
    /// Expected lifetime in months.
    pub lifetime_months: Option<f64>,
    /// Gross margin used.
    pub gross_margin: f64,
    /// Monthly margin per customer, arpa × gross margin.
    pub monthly_margin: Option<f64>,
    /// arpa × gross margin / churn.
    pub ltv: Option<f64>,
    /// Monthly discount rate `d = (1 + D)^(1/12) − 1`.
    pub monthly_discount_rate: Option<f64>,
    /// The discounted, expansion-adjusted LTV.
    pub discounted_ltv: Option<f64>,
    /// ltv / cac.
    pub ltv_cac: Option<f64>,
    /// Where LTV:CAC stands.
    pub ltv_cac_status: Option<LtvCacStatus>,
    /// cac / monthly margin.
    pub payback_months: Option<f64>,
    /// aov × purchases per year × lifespan years.
    pub aov_ltv: Option<f64>,
    /// invites per user × invite conversion.
    pub k_factor: Option<f64>,
    /// Plain-language notes (the LTV:CAC flag).
    pub notes: Vec<String>,
}

/// Why the calculator cannot compute.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CalcError {
    /// An input is out of its range.
    #[error("--{name} {value} is invalid; expected {expected}")]
    Invalid {
        /// The input's flag name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What is accepted.
        expected: &'static str,
    },
    /// An input needs another one.
    #[error("--{name} needs {needs}")]
    Missing {
        /// The input given.
        name: &'static str,
        /// What else is needed.
        needs: &'static str,
    },
    /// The discounted LTV series does not converge.
    #[error("the discounted LTV series diverges: (1 + expansion)(1 − churn)/(1 + monthly discount) = {ratio:.6} is not below 1, so the sum of future margins is infinite; expected expansion to stay below churn plus discounting (lower --expansion-rate, or raise --churn or --discount-rate)")]
    Diverges {
        /// `(1+e)(1−c)/(1+d)`.
        ratio: f64,
    },
    /// No input was given.
    #[error("nothing to compute; give --arpa with --churn or --lifetime-months, --aov with --purchases-per-year and --lifespan-years, or --invites-per-user with --invite-conversion")]
    Nothing,
}

fn check(
    name: &'static str,
    value: Option<f64>,
    ok: impl Fn(f64) -> bool,
    expected: &'static str,
) -> Result<(), CalcError> {
    match value {
        Some(v) if !(v.is_finite() && ok(v)) => Err(CalcError::Invalid {
            name,
            value: v,
            expected,
        }),
        _ => Ok(()),
    }
}

impl LtvCacStatus {
    /// Classifies a ratio: below 3 → [`BelowHealthy`](Self::BelowHealthy), above 5 →
    /// [`AboveFive`](Self::AboveFive), else [`Healthy`](Self::Healthy).
    ///
    /// ```
    /// use northstar_saas::LtvCacStatus;
    /// assert_eq!(LtvCacStatus::of(2.9), LtvCacStatus::BelowHealthy);
    /// assert_eq!(LtvCacStatus::of(3.0), LtvCacStatus::Healthy);
    /// assert_eq!(LtvCacStatus::of(5.1), LtvCacStatus::AboveFive);
    /// ```
    pub fn of(ratio: f64) -> LtvCacStatus {
        if ratio < HEALTHY_LTV_CAC {
            LtvCacStatus::BelowHealthy
        } else if ratio > HIGH_LTV_CAC {
            LtvCacStatus::AboveFive
        } else {
            LtvCacStatus::Healthy
        }
    }

    /// A sentence about the ratio.
    ///
    /// ```
    /// use northstar_saas::LtvCacStatus;
    /// assert!(LtvCacStatus::of(2.0).note(2.0).contains("below the healthy 3:1 line"));
    /// assert!(LtvCacStatus::of(6.0).note(6.0).contains("acquisition spend could likely grow"));
    /// ```
    pub fn note(self, ratio: f64) -> String {
        match self {
            LtvCacStatus::BelowHealthy => format!(
                "LTV:CAC is {ratio:.2}:1, below the healthy 3:1 line: a customer returns less than three times what it cost to acquire"
            ),
            LtvCacStatus::Healthy => format!("LTV:CAC is {ratio:.2}:1, within the healthy 3:1 to 5:1 range"),
            LtvCacStatus::AboveFive => format!(
                "LTV:CAC is {ratio:.2}:1, above 5:1: acquisition spend could likely grow"
            ),
        }
    }
}

impl fmt::Display for LtvCacStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LtvCacStatus::BelowHealthy => "below_healthy",
            LtvCacStatus::Healthy => "healthy",
            LtvCacStatus::AboveFive => "above_five",
        })
    }
}

/// Computes every figure the inputs allow.
///
/// The seeds' examples:
///
/// ```
/// use northstar_saas::{calculate, CalcInputs, LtvCacStatus, Retention};
/// let r = calculate(&CalcInputs { arpa: Some(50.0), retention: Some(Retention::LifetimeMonths(24.0)), ..Default::default() })?;
/// assert_eq!(r.ltv, Some(1200.0));
/// let r = calculate(&CalcInputs { arpa: Some(50.0), retention: Some(Retention::LifetimeMonths(36.0)), ..Default::default() })?;
/// assert_eq!(r.ltv, Some(1800.0));
/// let r = calculate(&CalcInputs { aov: Some(72.0), purchases_per_year: Some(4.0), lifespan_years: Some(7.0), ..Default::default() })?;
/// assert_eq!(r.aov_ltv, Some(2016.0));
/// let r = calculate(&CalcInputs { arpa: Some(50.0), retention: Some(Retention::LifetimeMonths(24.0)), cac: Some(600.0), ..Default::default() })?;
/// assert_eq!((r.ltv_cac, r.ltv_cac_status), (Some(2.0), Some(LtvCacStatus::BelowHealthy)));
/// # Ok::<(), northstar_saas::CalcError>(())
/// ```
pub fn calculate(inputs: &CalcInputs) -> Result<CalcResult, CalcError> {
    let i = inputs;
    check("arpa", i.arpa, |v| v >= 0.0, "an amount of 0 or more")?;
    match i.retention {
        Some(Retention::Churn(c)) => check(
            "churn",
            Some(c),
            |v| v > 0.0 && v <= 1.0,
            "a monthly churn rate as a fraction in (0, 1], for example 0.03 for 3%",
        )?,
        Some(Retention::LifetimeMonths(n)) => check(
            "lifetime-months",
            Some(n),
            |v| v >= 1.0,
            "an expected lifetime of 1 month or more",
        )?,
        None => {}
    }
    check(
        "gross-margin",
        i.gross_margin,
        |v| v > 0.0 && v <= 1.0,
        "a fraction in (0, 1], for example 0.8 for 80%",
    )?;
    check("cac", i.cac, |v| v > 0.0, "an amount above 0")?;
    check(
        "discount-rate",
        i.discount_rate,
        |v| v > -1.0,
        "an annual rate as a fraction above -1, for example 0.1 for 10%",
    )?;
    check(
        "expansion-rate",
        i.expansion_rate,
        |v| v > -1.0,
        "a monthly rate as a fraction above -1, for example 0.01 for 1%",
    )?;
    check("aov", i.aov, |v| v >= 0.0, "an amount of 0 or more")?;
    check(
        "purchases-per-year",
        i.purchases_per_year,
        |v| v >= 0.0,
        "0 or more",
    )?;
    check(
        "lifespan-years",
        i.lifespan_years,
        |v| v >= 0.0,
        "0 or more",
    )?;
    check(
        "invites-per-user",
        i.invites_per_user,
        |v| v >= 0.0,
        "0 or more",
    )?;
    check(
        "invite-conversion",
        i.invite_conversion,
        |v| (0.0..=1.0).contains(&v),
        "a fraction in [0, 1]",
    )?;

    if i.arpa.is_some() && i.retention.is_none() {
        return Err(CalcError::Missing {
            name: "arpa",
            needs: "--churn or --lifetime-months",
        });
    }
    for (name, given) in [
        ("cac", i.cac.is_some()),
        ("discount-rate", i.discount_rate.is_some()),
        ("expansion-rate", i.expansion_rate.is_some()),
    ] {
        if given && i.arpa.is_none() {
            return Err(CalcError::Missing {
                name,
                needs: "--arpa with --churn or --lifetime-months",
            });
        }
    }
    let purchase = [i.aov, i.purchases_per_year, i.lifespan_years];
    if purchase.iter().any(Option::is_some) && purchase.iter().any(Option::is_none) {
        let name = if i.aov.is_some() {
            "aov"
        } else if i.purchases_per_year.is_some() {
            "purchases-per-year"
        } else {
            "lifespan-years"
        };
        return Err(CalcError::Missing {
            name,
            needs: "all three of --aov, --purchases-per-year and --lifespan-years",
        });
    }
    match (i.invites_per_user, i.invite_conversion) {
        (Some(_), None) => {
            return Err(CalcError::Missing {
                name: "invites-per-user",
                needs: "--invite-conversion",
            })
        }
        (None, Some(_)) => {
            return Err(CalcError::Missing {
                name: "invite-conversion",
                needs: "--invites-per-user",
            })
        }
        _ => {}
    }
    if i.arpa.is_none() && i.retention.is_none() && i.aov.is_none() && i.invites_per_user.is_none()
    {
        return Err(CalcError::Nothing);
    }

    let gross_margin = i.gross_margin.unwrap_or(1.0);
    let (churn, lifetime_months) = match i.retention {
        Some(Retention::Churn(c)) => (Some(c), Some(1.0 / c)),
        Some(Retention::LifetimeMonths(n)) => (Some(1.0 / n), Some(n)),
        None => (None, None),
    };
    let monthly_margin = i.arpa.map(|a| a * gross_margin);
    let mut result = CalcResult {
        churn,
        lifetime_months,
        gross_margin,
        monthly_margin,
        ltv: None,
        monthly_discount_rate: None,
        discounted_ltv: None,
        ltv_cac: None,
        ltv_cac_status: None,
        payback_months: None,
        aov_ltv: None,
        k_factor: None,
        notes: Vec::new(),
    };

    if let (Some(m), Some(retention)) = (monthly_margin, i.retention) {
        // Written so that the seed examples come out exact: m × N for a lifetime of N months.
        let ltv = match retention {
            Retention::Churn(c) => m / c,
            Retention::LifetimeMonths(n) => m * n,
        };
        result.ltv = Some(ltv);

        let annual = i.discount_rate.unwrap_or(0.0);
        let e = i.expansion_rate.unwrap_or(0.0);
        let one_plus_d = (1.0 + annual).powf(1.0 / 12.0);
        result.monthly_discount_rate = Some(one_plus_d - 1.0);
        // m / (1 − (1+e)(1−c)/(1+d)) = m (1+d) / ((1+d) − (1+e)(1−c)), and
        // (1+d) − (1+e)(1−c) = c(1+e) + (d − e); with a lifetime N (c = 1/N), multiply by N.
        let d = one_plus_d - 1.0;
        let (numerator, denominator) = match retention {
            Retention::Churn(c) => (m * one_plus_d, c * (1.0 + e) + (d - e)),
            Retention::LifetimeMonths(n) => (m * one_plus_d * n, (1.0 + e) + n * (d - e)),
        };
        let ratio = (1.0 + e) * (1.0 - churn.unwrap_or(0.0)) / one_plus_d;
        if denominator.is_nan() || denominator <= 0.0 || ratio >= 1.0 {
            return Err(CalcError::Diverges { ratio });
        }
        result.discounted_ltv = Some(numerator / denominator);

        if let Some(cac) = i.cac {
            let ratio = ltv / cac;
            let status = LtvCacStatus::of(ratio);
            result.ltv_cac = Some(ratio);
            result.ltv_cac_status = Some(status);
            result.notes.push(status.note(ratio));
            result.payback_months = (m > 0.0).then(|| cac / m);
        }
    }
    if let (Some(aov), Some(f), Some(years)) = (i.aov, i.purchases_per_year, i.lifespan_years) {
        result.aov_ltv = Some(aov * f * years);
    }
    if let (Some(invites), Some(conversion)) = (i.invites_per_user, i.invite_conversion) {
        result.k_factor = Some(invites * conversion);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arpa_lifetime(arpa: f64, months: f64) -> CalcInputs {
        CalcInputs {
            arpa: Some(arpa),
            retention: Some(Retention::LifetimeMonths(months)),
            ..Default::default()
        }
    }

    #[test]
    fn reproduces_the_seed_examples_exactly() {
        // Seeds: ARPA $50 × 24-month lifetime = $1,200; × 36 months = $1,800.
        assert_eq!(
            calculate(&arpa_lifetime(50.0, 24.0)).unwrap().ltv,
            Some(1200.0)
        );
        assert_eq!(
            calculate(&arpa_lifetime(50.0, 36.0)).unwrap().ltv,
            Some(1800.0)
        );
        // Seeds: "AOV $72 × 3 purchases a year × 7 years gives $2,016". The formula
        // aov × purchases per year × years gives 72 × 3 × 7 = 1,512; $2,016 is 72 × 4 × 7.
        let aov = |per_year| {
            calculate(&CalcInputs {
                aov: Some(72.0),
                purchases_per_year: Some(per_year),
                lifespan_years: Some(7.0),
                ..Default::default()
            })
            .unwrap()
        };
        assert_eq!(aov(3.0).aov_ltv, Some(1512.0));
        assert_eq!(aov(4.0).aov_ltv, Some(2016.0));
        assert_eq!(aov(3.0).ltv, None);
    }

    #[test]
    fn churn_and_lifetime_give_the_same_ltv_and_lifetime() {
        let by_churn = calculate(&CalcInputs {
            arpa: Some(50.0),
            retention: Some(Retention::Churn(0.04)),
            gross_margin: Some(0.8),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(by_churn.lifetime_months, Some(25.0));
        assert_eq!(by_churn.ltv, Some(1000.0)); // 50 × 0.8 / 0.04
        assert_eq!(by_churn.monthly_margin, Some(40.0));
    }

    #[test]
    fn flags_ltv_cac_below_three_and_notes_above_five() {
        let mut inputs = arpa_lifetime(50.0, 24.0);
        inputs.cac = Some(500.0); // 1200 / 500 = 2.4
        let r = calculate(&inputs).unwrap();
        assert_eq!(r.ltv_cac, Some(2.4));
        assert_eq!(r.ltv_cac_status, Some(LtvCacStatus::BelowHealthy));
        assert!(
            r.notes[0].contains("below the healthy 3:1 line"),
            "{:?}",
            r.notes
        );
        assert_eq!(r.payback_months, Some(10.0)); // 500 / 50

        inputs.cac = Some(200.0); // 6:1
        let r = calculate(&inputs).unwrap();
        assert_eq!(r.ltv_cac_status, Some(LtvCacStatus::AboveFive));
        assert!(r.notes[0].contains("acquisition spend could likely grow"));

        inputs.cac = Some(300.0); // 4:1
        let r = calculate(&inputs).unwrap();
        assert_eq!(r.ltv_cac_status, Some(LtvCacStatus::Healthy));
    }

    #[test]
    fn discounted_ltv_matches_the_geometric_series() {
        // m = 40, c = 0.05, e = 0.01, D = 10% a year.
        let r = calculate(&CalcInputs {
            arpa: Some(50.0),
            retention: Some(Retention::Churn(0.05)),
            gross_margin: Some(0.8),
            discount_rate: Some(0.1),
            expansion_rate: Some(0.01),
            ..Default::default()
        })
        .unwrap();
        let d = 1.1f64.powf(1.0 / 12.0) - 1.0;
        let ratio = 1.01 * 0.95 / (1.0 + d);
        let closed_form = 40.0 / (1.0 - ratio);
        let mut series = 0.0;
        for k in 0..5000 {
            series += 40.0 * ratio.powi(k);
        }
        let got = r.discounted_ltv.unwrap();
        assert!(
            (got - closed_form).abs() < 1e-9 * closed_form,
            "{got} vs {closed_form}"
        );
        assert!((got - series).abs() < 1e-9 * series);
        // Without discounting or expansion it is the plain LTV, exactly.
        let plain = calculate(&arpa_lifetime(50.0, 24.0)).unwrap();
        assert_eq!(plain.discounted_ltv, Some(1200.0));
    }

    #[test]
    fn discounted_ltv_errors_when_the_series_diverges() {
        let err = calculate(&CalcInputs {
            arpa: Some(50.0),
            retention: Some(Retention::Churn(0.02)),
            expansion_rate: Some(0.03),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(err, CalcError::Diverges { ratio } if ratio > 1.0));
        assert!(err.to_string().contains("diverges"));
    }

    #[test]
    fn rejects_incomplete_groups_and_out_of_range_inputs() {
        let only_arpa = CalcInputs {
            arpa: Some(50.0),
            ..Default::default()
        };
        assert!(matches!(
            calculate(&only_arpa),
            Err(CalcError::Missing { name: "arpa", .. })
        ));
        let aov_only = CalcInputs {
            aov: Some(72.0),
            purchases_per_year: Some(3.0),
            ..Default::default()
        };
        assert!(matches!(
            calculate(&aov_only),
            Err(CalcError::Missing { .. })
        ));
        let bad_churn = CalcInputs {
            arpa: Some(50.0),
            retention: Some(Retention::Churn(1.5)),
            ..Default::default()
        };
        assert!(matches!(
            calculate(&bad_churn),
            Err(CalcError::Invalid { name: "churn", .. })
        ));
        let percent_margin = CalcInputs {
            gross_margin: Some(80.0),
            ..arpa_lifetime(50.0, 24.0)
        };
        assert!(calculate(&percent_margin)
            .unwrap_err()
            .to_string()
            .contains("0.8 for 80%"));
        assert_eq!(calculate(&CalcInputs::default()), Err(CalcError::Nothing));
    }

    #[test]
    fn k_factor_is_invites_times_conversion() {
        let r = calculate(&CalcInputs {
            invites_per_user: Some(4.0),
            invite_conversion: Some(0.25),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.k_factor, Some(1.0));
    }
}
