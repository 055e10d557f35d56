//! Maximum-likelihood fitting shared by every model.
//!
//! The optimizer works on `θ = ln(params)`, so positivity needs no bounds. It minimises the mean
//! negative log-likelihood with L-BFGS (argmin, Moré–Thuente line search) using the model's
//! analytic gradient; if that fails or stops short of convergence, Nelder–Mead restarts from the
//! best point and L-BFGS polishes the result. Standard errors come from the observed information
//! (the Hessian of the log-likelihood, by central differences of the analytic gradient).

use crate::ModelError;
use argmin::core::{CostFunction, Error as ArgminError, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::quasinewton::LBFGS;

/// A log-likelihood over a fixed data set, as a function of the model's natural parameters.
pub trait Likelihood: Sync {
    /// Parameter names in order, as they appear in model files.
    fn param_names(&self) -> &'static [&'static str];
    /// Total (weighted) log-likelihood and its gradient with respect to the natural parameters.
    fn value_and_gradient(&self, params: &[f64]) -> (f64, Vec<f64>);
    /// Number of observations (the total weight), used for BIC and for scaling the objective.
    fn n_observations(&self) -> f64;
    /// A reasonable starting point (natural parameters, all > 0).
    fn initial_params(&self) -> Vec<f64>;
}

/// Optimizer settings.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    /// Iteration cap for each optimizer run.
    pub max_iterations: u64,
    /// Convergence threshold on the largest component of the mean log-likelihood's gradient
    /// with respect to the log-parameters.
    pub gradient_tolerance: f64,
    /// Whether to compute standard errors (a numeric Hessian: two gradient evaluations per
    /// parameter). Scoring pipelines that only need the estimates can skip them.
    pub standard_errors: bool,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            max_iterations: 1000,
            gradient_tolerance: 1e-7,
            standard_errors: true,
        }
    }
}

/// The outcome of a maximum-likelihood fit.
#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    /// Estimated parameters, in the order of [`Likelihood::param_names`].
    pub params: Vec<f64>,
    /// Standard errors from the observed information; `None` when it is not positive definite.
    pub std_errors: Vec<Option<f64>>,
    /// Maximised log-likelihood.
    pub log_likelihood: f64,
    /// `2k - 2 LL`.
    pub aic: f64,
    /// `k ln(n) - 2 LL`.
    pub bic: f64,
    /// Number of observations (total weight).
    pub n_observations: f64,
    /// Optimizer iterations, all runs together.
    pub iterations: u64,
    /// Whether the gradient at the optimum is below the tolerance.
    pub converged: bool,
    /// Why the optimizer stopped, in words.
    pub termination: String,
}

/// One evaluation: the point, the cost and the gradient there.
type Evaluation = (Vec<f64>, f64, Vec<f64>);

/// The objective seen by argmin: mean negative log-likelihood over log-parameters.
struct LogSpaceObjective<'a, L: Likelihood> {
    likelihood: &'a L,
    scale: f64,
    /// argmin asks for the cost and the gradient at the same point separately; both come from
    /// one pass over the data, so the last pass is kept.
    last: std::sync::Mutex<Option<Evaluation>>,
}

impl<'a, L: Likelihood> LogSpaceObjective<'a, L> {
    fn new(likelihood: &'a L, scale: f64) -> Self {
        Self {
            likelihood,
            scale,
            last: std::sync::Mutex::new(None),
        }
    }

    fn evaluate(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, cost, grad)) = last.as_ref() {
            if at.as_slice() == theta {
                return (*cost, grad.clone());
            }
        }
        let params: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
        let (ll, grad) = self.likelihood.value_and_gradient(&params);
        let grad_theta: Vec<f64> = grad
            .iter()
            .zip(&params)
            .map(|(g, p)| -g * p / self.scale)
            .collect();
        let cost = -ll / self.scale;
        *last = Some((theta.to_vec(), cost, grad_theta.clone()));
        (cost, grad_theta)
    }
}

impl<L: Likelihood> CostFunction for LogSpaceObjective<'_, L> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, theta: &Vec<f64>) -> Result<f64, ArgminError> {
        let (cost, _) = self.evaluate(theta);
        // Nelder–Mead only compares values, so +inf safely rejects a point outside the domain.
        Ok(if cost.is_finite() {
            cost
        } else {
            f64::INFINITY
        })
    }
}

impl<L: Likelihood> Gradient for LogSpaceObjective<'_, L> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, theta: &Vec<f64>) -> Result<Vec<f64>, ArgminError> {
        let (cost, grad) = self.evaluate(theta);
        if cost.is_finite() && grad.iter().all(|g| g.is_finite()) {
            Ok(grad)
        } else {
            Err(ArgminError::msg("log-likelihood is not finite here"))
        }
    }
}

struct RunOutcome {
    theta: Vec<f64>,
    iterations: u64,
    termination: String,
}

fn run_lbfgs<L: Likelihood>(
    objective: LogSpaceObjective<'_, L>,
    start: Vec<f64>,
    options: &FitOptions,
) -> Result<RunOutcome, ArgminError> {
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
        .with_tolerance_grad(options.gradient_tolerance * 1e-2)?
        .with_tolerance_cost(1e-15)?;
    let result = Executor::new(objective, solver)
        .configure(|state| state.param(start).max_iters(options.max_iterations))
        .run()?;
    let state = result.state();
    let theta = state
        .get_best_param()
        .cloned()
        .ok_or_else(|| ArgminError::msg("L-BFGS returned no parameters"))?;
    Ok(RunOutcome {
        theta,
        iterations: state.get_iter(),
        termination: format!(
            "L-BFGS: {}",
            state
                .get_termination_reason()
                .map_or("unknown", |r| r.text())
        ),
    })
}

fn run_nelder_mead<L: Likelihood>(
    objective: LogSpaceObjective<'_, L>,
    start: &[f64],
    options: &FitOptions,
) -> Result<RunOutcome, ArgminError> {
    let mut simplex = vec![start.to_vec()];
    for i in 0..start.len() {
        let mut vertex = start.to_vec();
        vertex[i] += 0.5;
        simplex.push(vertex);
    }
    let solver = NelderMead::new(simplex).with_sd_tolerance(1e-12)?;
    let result = Executor::new(objective, solver)
        .configure(|state| state.max_iters(options.max_iterations * 5))
        .run()?;
    let state = result.state();
    let theta = state
        .get_best_param()
        .cloned()
        .ok_or_else(|| ArgminError::msg("Nelder-Mead returned no parameters"))?;
    Ok(RunOutcome {
        theta,
        iterations: state.get_iter(),
        termination: format!(
            "Nelder-Mead: {}",
            state
                .get_termination_reason()
                .map_or("unknown", |r| r.text())
        ),
    })
}

/// A log-parameter beyond ±this (a parameter above 8,100 or below 1.2e-4 relative to the unit
/// scale the models use) counts as having run off to the boundary.
const BOUNDARY_LOG_PARAM: f64 = 9.0;

/// Maximises a log-likelihood and reports estimates, fit statistics and standard errors.
///
/// ```
/// use northstar_models::fit::{maximize_likelihood, FitOptions, Likelihood};
/// /// Exponential waiting times with rate `lambda`: LL = n ln λ - λ Σx.
/// struct Exponential { n: f64, sum: f64 }
/// impl Likelihood for Exponential {
///     fn param_names(&self) -> &'static [&'static str] { &["lambda"] }
///     fn value_and_gradient(&self, p: &[f64]) -> (f64, Vec<f64>) {
///         (self.n * p[0].ln() - p[0] * self.sum, vec![self.n / p[0] - self.sum])
///     }
///     fn n_observations(&self) -> f64 { self.n }
///     fn initial_params(&self) -> Vec<f64> { vec![1.0] }
/// }
/// let fit = maximize_likelihood(&Exponential { n: 10.0, sum: 4.0 }, &FitOptions::default()).unwrap();
/// assert!((fit.params[0] - 2.5).abs() < 1e-6 && fit.converged);
/// ```
pub fn maximize_likelihood<L: Likelihood>(
    likelihood: &L,
    options: &FitOptions,
) -> Result<FitReport, ModelError> {
    let n = likelihood.n_observations();
    if n.is_nan() || n <= 0.0 {
        return Err(ModelError::NoData(
            "no customers with positive weight".into(),
        ));
    }
    let objective = || LogSpaceObjective::new(likelihood, n);
    let checker = objective();
    let gradient_norm = |theta: &[f64]| {
        let (cost, grad) = checker.evaluate(theta);
        if cost.is_finite() {
            grad.iter().fold(0.0f64, |m, g| m.max(g.abs()))
        } else {
            f64::INFINITY
        }
    };
    let start: Vec<f64> = likelihood.initial_params().iter().map(|p| p.ln()).collect();

    let mut iterations = 0;
    let mut notes = Vec::new();
    let mut best: Option<RunOutcome> = None;
    match run_lbfgs(objective(), start.clone(), options) {
        Ok(run) => best = Some(run),
        Err(e) => notes.push(format!("L-BFGS failed ({e})")),
    }
    // Nelder–Mead helps where L-BFGS stalls inside the parameter space. When L-BFGS has carried
    // a parameter towards 0 or infinity the likelihood is flat along that direction (for
    // example no dropout at all: BG/NBD's a → 0, Pareto/NBD's s → 0), the simplex would only
    // crawl along the ridge at great cost, and the fit is reported as not converged instead.
    let at_boundary = |run: &RunOutcome| run.theta.iter().any(|t| t.abs() > BOUNDARY_LOG_PARAM);
    let needs_fallback = best.as_ref().is_none_or(|run| {
        gradient_norm(&run.theta) > options.gradient_tolerance && !at_boundary(run)
    });
    if let Some(run) = best.as_ref().filter(|run| at_boundary(run)) {
        notes.push(format!(
            "a parameter went to the boundary ({}), so the likelihood has no interior maximum; \
             the data may show no dropout",
            likelihood
                .param_names()
                .iter()
                .zip(&run.theta)
                .filter(|(_, t)| t.abs() > BOUNDARY_LOG_PARAM)
                .map(|(name, t)| format!("{name} = {:.3e}", t.exp()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if needs_fallback {
        let from = best.as_ref().map_or(start.clone(), |run| run.theta.clone());
        if let Some(run) = &best {
            iterations += run.iterations;
            notes.push(run.termination.clone());
        }
        match run_nelder_mead(objective(), &from, options) {
            Ok(nm) => {
                iterations += nm.iterations;
                notes.push(nm.termination.clone());
                match run_lbfgs(objective(), nm.theta.clone(), options) {
                    Ok(polished) if gradient_norm(&polished.theta) <= gradient_norm(&nm.theta) => {
                        best = Some(polished)
                    }
                    _ => best = Some(nm),
                }
            }
            Err(e) => notes.push(format!("Nelder-Mead failed ({e})")),
        }
    }
    let run = best.ok_or_else(|| ModelError::FitFailed(notes.join("; ")))?;
    iterations += run.iterations;
    let params: Vec<f64> = run.theta.iter().map(|t| t.exp()).collect();
    let log_likelihood = -checker.evaluate(&run.theta).0 * n;
    if !log_likelihood.is_finite() || params.iter().any(|p| !p.is_finite()) {
        return Err(ModelError::FitFailed(format!(
            "no finite optimum found ({})",
            notes.join("; ")
        )));
    }
    let converged = gradient_norm(&run.theta) <= options.gradient_tolerance;
    notes.push(run.termination);
    let k = params.len() as f64;
    Ok(FitReport {
        std_errors: if options.standard_errors {
            standard_errors(likelihood, &params)
        } else {
            vec![None; params.len()]
        },
        aic: 2.0 * k - 2.0 * log_likelihood,
        bic: k * n.ln() - 2.0 * log_likelihood,
        log_likelihood,
        params,
        n_observations: n,
        iterations,
        converged,
        termination: notes.join("; then "),
    })
}

/// Central finite differences of a likelihood, to check analytic gradients against in tests.
#[cfg(test)]
pub(crate) fn finite_difference_gradient<L: Likelihood>(
    likelihood: &L,
    params: &[f64],
) -> Vec<f64> {
    (0..params.len())
        .map(|i| {
            let h = 1e-6 * params[i];
            let mut up = params.to_vec();
            let mut down = params.to_vec();
            up[i] += h;
            down[i] -= h;
            (likelihood.value_and_gradient(&up).0 - likelihood.value_and_gradient(&down).0)
                / (2.0 * h)
        })
        .collect()
}

/// Standard errors `sqrt(diag(I⁻¹))`, with `I = -∇²LL` built from central differences of the
/// analytic gradient.
#[allow(clippy::needless_range_loop)] // index notation mirrors the matrix algebra
pub fn standard_errors<L: Likelihood>(likelihood: &L, params: &[f64]) -> Vec<Option<f64>> {
    let k = params.len();
    let mut information = vec![vec![0.0; k]; k];
    for j in 0..k {
        let h = 1e-5 * params[j];
        let mut up = params.to_vec();
        let mut down = params.to_vec();
        up[j] += h;
        down[j] -= h;
        let (_, g_up) = likelihood.value_and_gradient(&up);
        let (_, g_down) = likelihood.value_and_gradient(&down);
        for i in 0..k {
            information[i][j] = -(g_up[i] - g_down[i]) / (2.0 * h);
        }
    }
    for i in 0..k {
        for j in 0..i {
            let mean = 0.5 * (information[i][j] + information[j][i]);
            information[i][j] = mean;
            information[j][i] = mean;
        }
    }
    match invert_positive_definite(&information) {
        Some(cov) => (0..k)
            .map(|i| {
                Some(cov[i][i])
                    .filter(|v| *v > 0.0 && v.is_finite())
                    .map(f64::sqrt)
            })
            .collect(),
        None => vec![None; k],
    }
}

/// Inverse of a symmetric positive-definite matrix by Cholesky; `None` if it is not one.
#[allow(clippy::needless_range_loop)]
fn invert_positive_definite(m: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let k = m.len();
    let mut l = vec![vec![0.0; k]; k];
    for i in 0..k {
        for j in 0..=i {
            let s: f64 = (0..j).map(|p| l[i][p] * l[j][p]).sum();
            if i == j {
                let d = m[i][i] - s;
                if d.is_nan() || d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (m[i][j] - s) / l[j][j];
            }
        }
    }
    // Solve L Lᵀ X = I column by column.
    let mut inv = vec![vec![0.0; k]; k];
    for col in 0..k {
        let mut y = vec![0.0; k];
        for i in 0..k {
            let rhs = if i == col { 1.0 } else { 0.0 };
            y[i] = (rhs - (0..i).map(|p| l[i][p] * y[p]).sum::<f64>()) / l[i][i];
        }
        for i in (0..k).rev() {
            inv[i][col] =
                (y[i] - ((i + 1)..k).map(|p| l[p][i] * inv[p][col]).sum::<f64>()) / l[i][i];
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverts_a_known_matrix() {
        let m = vec![vec![4.0, 2.0], vec![2.0, 3.0]];
        let inv = invert_positive_definite(&m).unwrap();
        // [[4,2],[2,3]]⁻¹ = [[3,-2],[-2,4]] / 8
        assert!((inv[0][0] - 0.375).abs() < 1e-15);
        assert!((inv[0][1] + 0.25).abs() < 1e-15);
        assert!((inv[1][1] - 0.5).abs() < 1e-15);
        assert!(invert_positive_definite(&[vec![-1.0]]).is_none());
    }
}
