//! The cost of tokens: of one span's own ([`Cost`]), of a run ([`RunCost`]), and of every span of
//! a normalized trace ([`TraceCosts`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use orcheo_trace_model::{TokenUsage, TraceTree};
use serde::Serialize;

use crate::table::{Price, Prices};

/// Why tokens have no cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Unpriced {
    /// The span names no model.
    NoModel,
    /// The span's model is not in the price table.
    ModelNotInPriceTable,
}

/// The cost of a span's own tokens (its model call), never a silent zero: `usd` is `null` when
/// the tokens could not be priced, and `unpriced` says why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cost {
    /// US dollars; `null` when the tokens could not be priced.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub usd: Option<f64>,
    /// The price table's model name that priced the tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub priced_as: Option<Arc<str>>,
    /// Why `usd` is `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpriced: Option<Unpriced>,
}

/// US dollars for `tokens` at `price`: cached input tokens are a part of the input tokens,
/// billed at the cached price (or the input price when the entry has none).
pub fn usd(price: &Price, tokens: &TokenUsage) -> f64 {
    let cached = tokens.cached_input.unwrap_or(0).min(tokens.input);
    let uncached = tokens.input - cached;
    #[allow(
        clippy::cast_precision_loss,
        reason = "token counts past 2^53 lose digits no price has"
    )]
    let (uncached, cached, output) = (uncached as f64, cached as f64, tokens.output as f64);
    (uncached * price.input
        + cached * price.cached_input.unwrap_or(price.input)
        + output * price.output)
        / 1_000_000.0
}

impl Prices {
    /// The cost of `tokens` spent by `model` (of `provider`, when known).
    pub fn cost(&self, model: Option<&str>, provider: Option<&str>, tokens: &TokenUsage) -> Cost {
        let unpriced = |why| Cost {
            usd: None,
            priced_as: None,
            unpriced: Some(why),
        };
        let Some(model) = model.filter(|m| !m.trim().is_empty()) else {
            return unpriced(Unpriced::NoModel);
        };
        match self.find(model, provider) {
            Some(entry) => Cost {
                usd: Some(usd(&entry.price, tokens)),
                priced_as: Some(Arc::clone(&entry.model)),
                unpriced: None,
            },
            None => unpriced(Unpriced::ModelNotInPriceTable),
        }
    }
}

/// A run's cost: the sum of its priced spans, and what could not be priced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunCost {
    /// US dollars, the sum over the spans that could be priced; `null` when none could.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub usd: Option<f64>,
    /// `true` when every span with tokens was priced; otherwise `usd` is a part of the cost.
    pub complete: bool,
    /// Spans with tokens that could not be priced.
    pub unpriced_spans: u64,
    /// The models of those spans, as the spans name them, sorted (spans naming no model are
    /// only counted).
    pub unpriced_models: Vec<String>,
}

/// Sums spans' costs into a [`RunCost`].
#[derive(Debug, Default)]
pub struct RunCostSum {
    usd: Option<f64>,
    spans: u64,
    unpriced_spans: u64,
    unpriced_models: BTreeSet<String>,
}

impl RunCostSum {
    /// Adds the cost of `spans` spans of `model` (their tokens priced together as `cost`).
    pub fn add(&mut self, cost: &Cost, model: Option<&str>, spans: u64) {
        self.spans = self.spans.saturating_add(spans);
        if let Some(usd) = cost.usd {
            self.usd = Some(self.usd.unwrap_or(0.0) + usd);
        } else {
            self.unpriced_spans = self.unpriced_spans.saturating_add(spans);
            if let Some(model) = model.filter(|m| !m.trim().is_empty()) {
                self.unpriced_models.insert(model.to_owned());
            }
        }
    }

    /// The run's cost; `None` when no span had tokens.
    pub fn finish(self) -> Option<RunCost> {
        (self.spans > 0).then(|| RunCost {
            usd: self.usd,
            complete: self.unpriced_spans == 0,
            unpriced_spans: self.unpriced_spans,
            unpriced_models: self.unpriced_models.into_iter().collect(),
        })
    }
}

/// The cost of each span of a trace that has tokens of its own, and the run's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceCosts {
    /// `(node index, cost)`, in index order.
    spans: Vec<(u32, Cost)>,
    pub run: Option<RunCost>,
}

impl TraceCosts {
    /// Prices every node's own tokens (`self_token_usage`) by its model.
    pub fn of(prices: &Prices, tree: &TraceTree) -> Self {
        let mut spans = Vec::new();
        let mut sum = RunCostSum::default();
        for (index, node) in tree.nodes.iter().enumerate() {
            let (Some(tokens), Ok(index)) = (&node.self_token_usage, u32::try_from(index)) else {
                continue;
            };
            let model = node.model.as_deref();
            let name = model.and_then(|m| m.name.as_deref());
            let cost = prices.cost(name, model.and_then(|m| m.provider.as_deref()), tokens);
            sum.add(&cost, name, 1);
            spans.push((index, cost));
        }
        Self {
            spans,
            run: sum.finish(),
        }
    }

    /// The cost of the node at `index`; `None` when it has no tokens of its own.
    pub fn span(&self, index: u32) -> Option<&Cost> {
        self.spans
            .binary_search_by_key(&index, |(i, _)| *i)
            .ok()
            .map(|at| &self.spans[at].1)
    }

    /// Roughly the memory this holds, for a cache that weighs its entries.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.spans.len() * std::mem::size_of::<(u32, Cost)>()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;
    use crate::PriceTable;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn cached_input_tokens_are_a_part_of_the_input_billed_at_the_cached_price() {
        let price = Price {
            input: 2.5,
            output: 10.0,
            cached_input: Some(1.25),
        };
        let plain = TokenUsage::new(1_000_000, 100_000);
        assert!(close(usd(&price, &plain), 2.5 + 1.0));
        let cached = plain.with_cached_input(Some(400_000));
        // 600k at 2.50, 400k at 1.25, 100k out at 10.
        assert!(close(usd(&price, &cached), 1.5 + 0.5 + 1.0));
        // More cached than input (a source's mistake): all input at the cached price.
        let over = TokenUsage::new(1000, 0).with_cached_input(Some(5000));
        assert!(close(usd(&price, &over), 0.00125));
        // No cached price listed: cached tokens cost as much as other input.
        let flat = Price {
            cached_input: None,
            ..price
        };
        assert!(close(usd(&flat, &cached), usd(&flat, &plain)));
    }

    #[test]
    fn an_unknown_or_unnamed_model_gets_no_cost_and_says_why() {
        let table = PriceTable::builtin().unwrap();
        let prices = table.prices();
        let tokens = TokenUsage::new(10, 10);
        let unknown = prices.cost(Some("my-own-llm"), None, &tokens);
        assert_eq!(unknown.usd, None);
        assert_eq!(unknown.unpriced, Some(Unpriced::ModelNotInPriceTable));
        let unnamed = prices.cost(None, Some("openai"), &tokens);
        assert_eq!(unnamed.unpriced, Some(Unpriced::NoModel));
        let known = prices.cost(Some("gpt-4o-mini"), None, &TokenUsage::new(0, 0));
        assert_eq!(known.usd, Some(0.0));
        assert_eq!(known.priced_as.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(
            serde_json::to_value(&unknown).unwrap(),
            serde_json::json!({"usd": null, "unpriced": "model_not_in_price_table"})
        );
    }

    #[test]
    fn a_partly_priced_run_sums_what_it_can_and_names_what_it_cannot() {
        let table = PriceTable::builtin().unwrap();
        let prices = table.prices();
        let mut sum = RunCostSum::default();
        let tokens = TokenUsage::new(1_000_000, 0);
        for model in [
            Some("gpt-4o"),
            Some("my-own-llm"),
            None,
            Some("gpt-4o-mini"),
        ] {
            sum.add(&prices.cost(model, None, &tokens), model, 1);
        }
        let run = sum.finish().unwrap();
        assert!(close(run.usd.unwrap(), 2.5 + 0.15));
        assert!(!run.complete);
        assert_eq!(run.unpriced_spans, 2);
        assert_eq!(run.unpriced_models, ["my-own-llm"]);

        let mut none = RunCostSum::default();
        none.add(&prices.cost(Some("x"), None, &tokens), Some("x"), 3);
        let none = none.finish().unwrap();
        assert_eq!((none.usd, none.unpriced_spans), (None, 3));
        assert_eq!(RunCostSum::default().finish(), None);
    }
}
