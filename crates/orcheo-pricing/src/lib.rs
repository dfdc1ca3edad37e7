//! What a model's tokens cost: the price table, and the arithmetic of a span's and a run's cost.
//!
//! - [`table`]: [`PriceTable`], US dollars per million input, output and cached-input tokens
//!   for each model (and provider), read from TOML: the built-in table ([`DEFAULT_PRICES`],
//!   with the date its prices were taken), an operator's file whose entries replace or add to
//!   it, and `[tenants.<tenant>]` sections that do the same for one tenant;
//! - [`cost`]: [`Cost`] of one span's own tokens, [`RunCost`] of a run, [`TraceCosts`] of every
//!   span of a normalized trace.
//!
//! Invariants: no I/O — the caller reads the file and passes its text; an unknown model is never
//! priced at zero: its cost is `null` and says why ([`Unpriced`]), and a run's cost names the
//! models it could not price. Cached input tokens are a part of the input tokens:
//! `cost = (input − cached)·input_price + cached·cached_price + output·output_price`.
#![forbid(unsafe_code)]

pub mod cost;
pub mod table;

pub use cost::{Cost, RunCost, RunCostSum, TraceCosts, Unpriced};
pub use table::{DEFAULT_PRICES, Entry, Price, PriceFileError, PriceTable, Prices};
