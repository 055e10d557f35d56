//! Times `ln_hyp2f1_a_a1` (`ln 2F1(a, b; a+1; z)` and its gradient) on the calls the Pareto/NBD
//! likelihood makes for SaaS-like fitted values, and prints the median time per call.
//!
//! The calls follow `ln_bracket` with r = 1.2, s = 14, α = 3, β = 704, x = 0..=50 and
//! t = 1..=100 weeks: a = r+s+x, b ∈ {r+x, r+x+1}, z = (β-α)/(β+t). Run it on two revisions back
//! to back to compare them (it only uses the public function); it also prints a checksum of the
//! results, and the times of the subset that the doubling-interval integral used to handle.
//!
//! ```text
//! cargo run --release -p northstar-models --example hyp2f1_timing
//! ```

use std::hint::black_box;
use std::time::Instant;

use northstar_models::special::ln_hyp2f1_a_a1;

fn main() {
    let (r, s, alpha, beta) = (1.2, 14.0, 3.0, 704.0);
    let mut calls = Vec::new();
    for x in 0..=50 {
        let x = x as f64;
        for t in 1..=100 {
            let z = (beta - alpha) / (beta + t as f64);
            for b in [r + x, r + x + 1.0] {
                calls.push((r + s + x, b, z));
            }
        }
    }
    // The calls that went to the doubling-interval integral before the log-distance quadrature
    // (the power series took the others).
    let integral: Vec<_> = calls
        .iter()
        .copied()
        .filter(|&(_, b, z)| (b + 1.0) * z / (1.0 - z) + 37.0 / -z.ln() >= 400.0)
        .collect();

    let checksum: f64 = calls
        .iter()
        .map(|&(a, b, z)| {
            let f = ln_hyp2f1_a_a1(a, b, z);
            f.value + f.d_a + f.d_b + f.d_z
        })
        .sum();
    println!(
        "{} calls ({} formerly on the integral path), checksum {checksum:.12e}",
        calls.len(),
        integral.len()
    );
    for (label, set) in [
        ("all calls", &calls),
        ("former integral-path calls", &integral),
    ] {
        let mut rounds: Vec<f64> = (0..15).map(|_| time_per_call(set)).collect();
        rounds.sort_by(f64::total_cmp);
        println!(
            "{label}: {:.0} ns/call (median of 15 rounds; min {:.0}, max {:.0})",
            rounds[7], rounds[0], rounds[14]
        );
    }
}

fn time_per_call(calls: &[(f64, f64, f64)]) -> f64 {
    let start = Instant::now();
    let mut acc = 0.0;
    for &(a, b, z) in calls {
        let f = ln_hyp2f1_a_a1(black_box(a), black_box(b), black_box(z));
        acc += f.value + f.d_a + f.d_b + f.d_z;
    }
    black_box(acc);
    start.elapsed().as_nanos() as f64 / calls.len() as f64
}
