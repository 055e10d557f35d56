//! # northstar-models
//!
//! The pure math of northstar: probabilistic customer-lifetime-value models, their likelihoods,
//! maximum-likelihood fitting, predictions, simulation and discounted CLV. No I/O.
//!
//! ```
//! use northstar_models::{BgNbd, CompressedRfm, FitOptions, PurchaseModel, Rfm};
//! let customers = vec![
//!     Rfm::try_new(2.0, 30.43, 38.86, None).unwrap(),
//!     Rfm::try_new(1.0, 1.71, 38.86, None).unwrap(),
//!     Rfm::try_new(0.0, 0.0, 38.86, None).unwrap(),
//!     Rfm::try_new(0.0, 0.0, 38.86, None).unwrap(),
//!     Rfm::try_new(5.0, 30.0, 38.0, None).unwrap(),
//! ];
//! let (model, report) = BgNbd::fit(&CompressedRfm::new(&customers, None), &FitOptions::default()).unwrap();
//! let p = model.expected_probability_alive(&customers[0]);
//! assert!((0.0..=1.0).contains(&p) && report.log_likelihood < 0.0);
//! ```
#![deny(missing_docs)]

pub mod clv;
mod error;
pub mod evaluation;
pub mod fit;
pub mod models;
mod rfm;
pub mod special;

pub use error::ModelError;
pub use fit::{FitOptions, FitReport};
pub use models::beta_discrete_weibull::{self, BetaDiscreteWeibull};
pub use models::bg_bb::{self, BgBb, BgBbCustomer, CompressedBgBb};
pub use models::bg_nbd::{self, BgNbd};
pub use models::contractual::{self, ContractualData, RetentionModel, SimulateTenure, Tenure};
pub use models::gamma_gamma::{self, GammaGamma};
pub use models::mbg_nbd::{self, MbgNbd};
pub use models::pareto_nbd::{self, ParetoNbd};
pub use models::shifted_beta_geometric::{self, ShiftedBetaGeometric};
pub use models::{ModelParams, PurchaseModel, SimulatePurchases, SpendModel};
pub use rfm::{validate_weight, CompressedRfm, CompressedRow, Rfm};
