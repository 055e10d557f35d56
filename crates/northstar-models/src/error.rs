//! Errors of the models crate. User errors (bad parameters, bad data) are kept apart from
//! failures of the numerical machinery.

use thiserror::Error;

/// Everything that can go wrong in the models crate.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// A model parameter is outside its domain.
    #[error("parameter {name} = {value} is invalid: expected {expected}")]
    InvalidParameter {
        /// The parameter's name, as in the model's JSON (`r`, `alpha`, ...).
        name: &'static str,
        /// The value given.
        value: f64,
        /// What the value must be.
        expected: &'static str,
    },
    /// A customer's RFM record breaks the rules of the summary.
    #[error("{field} = {value} is invalid: expected {expected}")]
    InvalidRfm {
        /// The field (`frequency`, `recency`, `T`, `monetary_value`, `weight`).
        field: &'static str,
        /// The value given.
        value: f64,
        /// What the value must be.
        expected: String,
    },
    /// There is nothing to fit.
    #[error("no data to fit: {0}")]
    NoData(String),
    /// The optimizer failed on every method tried.
    #[error("fitting failed: {0}")]
    FitFailed(String),
}
