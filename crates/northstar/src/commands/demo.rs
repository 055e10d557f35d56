//! `northstar demo`: the whole pipeline on the bundled CDNOW sample: summarize the 39-week
//! calibration period, fit BG/NBD and Gamma-Gamma, and value every customer.

use crate::commands::clv::customer_values;
use crate::commands::fit::fit_table;
use crate::commands::predict::purchase_predictions;
use crate::model_file::fit_to_json;
use anyhow::{Context, Result};
use chrono::NaiveDate;
use northstar_data::{
    summarize_file, ColumnRef, Delimiter, Summary, SummaryOptions, TimeUnit, TransactionFormat,
};
use northstar_models::clv::{ClvOptions, Discounting, DAYS_PER_MONTH};
use northstar_models::gamma_gamma::SpendData;
use northstar_models::{BgNbd, CompressedRfm, FitOptions, GammaGamma, ModelParams, Rfm};
use serde_json::Map;
use std::io::Write;

/// The CDNOW sample (Fader, Hardie & Lee 2005), compiled into the binary so the demo runs anywhere.
const CDNOW_SAMPLE: &str = include_str!("../../../../data/CDNOW_sample.txt");

/// Runs the demo.
pub fn run() -> Result<()> {
    let mut file = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
    file.write_all(CDNOW_SAMPLE.as_bytes())?;
    let format = TransactionFormat {
        delimiter: Delimiter::Whitespace,
        has_header: false,
        customer_col: ColumnRef::Position(2),
        date_col: ColumnRef::Position(3),
        amount_col: Some(ColumnRef::Position(5)),
        ..TransactionFormat::default()
    };
    let options = SummaryOptions {
        observation_end: NaiveDate::from_ymd_opt(1997, 9, 30),
        calibration_end: None,
        time_unit: TimeUnit::Week,
    };
    let Summary::Rfm(rows) = summarize_file(file.path(), &format, &options, &mut |_| {})? else {
        unreachable!("no calibration split was requested");
    };
    let ids: Vec<String> = rows.iter().map(|r| r.customer_id.clone()).collect();
    let customers = rows
        .iter()
        .map(|r| Rfm::try_new(r.frequency as f64, r.recency, r.t, Some(r.monetary_value)))
        .collect::<Result<Vec<Rfm>, _>>()?;

    println!(
        "northstar demo: CDNOW sample (Fader, Hardie & Lee 2005), {} customers",
        customers.len()
    );
    println!(
        "calibration period: first purchases in Q1 1997, observed to 1997-09-30, times in weeks\n"
    );
    let fit_options = FitOptions::default();
    let (purchase, report) = BgNbd::fit(&CompressedRfm::new(&customers, None), &fit_options)?;
    let json = fit_to_json(&purchase, &report, Map::new());
    print!("{}", fit_table("BG/NBD", &json, &report, BgNbd::NAMES));
    println!("  (published: r=0.2426, alpha=4.4136, a=0.7929, b=2.4259, LL=-9582.43)\n");
    let spend_data = SpendData::new(&customers, None)?;
    let (spend, report) = GammaGamma::fit(&spend_data, &fit_options)?;
    let json = fit_to_json(&spend, &report, Map::new());
    let title = format!(
        "Gamma-Gamma ({} repeat customers)",
        spend_data.n_customers()
    );
    print!("{}", fit_table(&title, &json, &report, GammaGamma::NAMES));
    println!("  (published on the 946 repeat customers: p=6.25, q=3.74, v=15.45)\n");

    let months = 12;
    let horizon = months as f64 * DAYS_PER_MONTH / TimeUnit::Week.days();
    let (p_alive, expected) = purchase_predictions(&purchase, &customers, horizon);
    let clv_options = ClvOptions {
        months,
        discounting: Discounting::Monthly { rate: 0.01 },
        days_per_time_unit: TimeUnit::Week.days(),
    };
    let clv = customer_values(&purchase, &spend, &customers, &clv_options)?;

    let mut order: Vec<usize> = (0..customers.len()).collect();
    order.sort_by(|&a, &b| clv[b].total_cmp(&clv[a]));
    println!("Top 10 customers by 12-month CLV (1% monthly discount rate):");
    println!(
        "  {:<8} {:>9} {:>8} {:>9} {:>8} {:>18} {:>10}",
        "customer", "frequency", "recency", "P(alive)", "spend", "E[purchases, 12m]", "CLV"
    );
    for &i in order.iter().take(10) {
        let c = &customers[i];
        println!(
            "  {:<8} {:>9} {:>8.2} {:>9.3} {:>8.2} {:>18.2} {:>10.2}",
            ids[i],
            c.frequency(),
            c.recency(),
            p_alive[i],
            c.monetary_value().unwrap_or(0.0),
            expected[i],
            clv[i]
        );
    }
    let n = customers.len() as f64;
    let likely_alive = p_alive.iter().filter(|&&p| p > 0.5).count() as f64;
    println!("\nSummary");
    println!("  customers:                         {}", customers.len());
    println!(
        "  likely alive (P(alive) > 0.5):     {:.1}%",
        100.0 * likely_alive / n
    );
    println!(
        "  mean P(alive):                     {:.3}",
        p_alive.iter().sum::<f64>() / n
    );
    println!(
        "  expected purchases, next 12 months: {:.0}",
        expected.iter().sum::<f64>()
    );
    println!(
        "  total CLV, next 12 months:          ${:.2}",
        clv.iter().sum::<f64>()
    );
    Ok(())
}
