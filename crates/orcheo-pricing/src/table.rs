//! The price table and its TOML file.
//!
//! A file holds an optional `as_of` date, `[[prices]]` entries (`model`, optional `provider`,
//! `input`, `output`, optional `cached_input`: US dollars per million tokens), and
//! `[tenants.<tenant>]` sections with `[[tenants.<tenant>.prices]]` entries of their own. An
//! entry replaces the one with the same model and provider (case-insensitive), or is added; an
//! entry that names no provider replaces every earlier entry of its model, whatever their
//! provider (so `model = "gpt-4o"` in a tenant's section is that tenant's price of `gpt-4o`).
//!
//! A span's model is matched case-insensitively: the entry named exactly, else the longest
//! listed name that the model's name extends with a version only — a date (`-2024-08-06`,
//! `-20241022`), a number (`-002`), `-latest`, a `-v1:0` revision, or anything after `@`
//! (`claude-3-5-sonnet@20240620`). So `gpt-4o` prices `gpt-4o-2024-08-06`, but neither `gpt-4`
//! `gpt-4o` nor `o3` `o3-pro`: a name that extends a listed one with a word is another model,
//! often priced differently, and is left unpriced until it is listed. A name
//! that matches nothing is tried again without a `…/` path (`models/gemini-1.5-pro`) and
//! without a `provider:` prefix (`openai:gpt-4o`, as Orcheo names requested models). Among
//! entries of the same name, the one of the span's provider wins, then one without a provider,
//! then the first listed.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

/// The built-in price table, shipped with the server: the providers' public list prices of
/// common models on the date its `as_of` says.
pub const DEFAULT_PRICES: &str = include_str!("../prices.toml");

/// What the built-in table is called in errors.
const DEFAULT_ORIGIN: &str = "the built-in price table";

/// What a million tokens cost, in US dollars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Input tokens read from the provider's prompt cache; `None`: billed as other input.
    pub cached_input: Option<f64>,
}

/// One priced model.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Lowercase.
    pub model: Arc<str>,
    /// Lowercase; `None`: any provider.
    pub provider: Option<Arc<str>>,
    pub price: Price,
}

/// The prices one tenant's runs are costed with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prices {
    entries: Vec<Entry>,
}

/// A price file that cannot be used: which file, which line, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}, line {line}: {message}")]
pub struct PriceFileError {
    /// The file as the caller named it.
    pub origin: String,
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// Every tenant's prices: the built-in table with the operator's entries, and each tenant's
/// own entries on top.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    as_of: Option<String>,
    prices: Prices,
    tenants: BTreeMap<String, Prices>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    as_of: Option<String>,
    #[serde(default)]
    prices: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    tenants: BTreeMap<String, Spanned<TenantSection>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantSection {
    #[serde(default)]
    prices: Vec<Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    model: String,
    provider: Option<String>,
    input: f64,
    output: f64,
    cached_input: Option<f64>,
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.get(..end).map_or(0, |t| t.matches('\n').count()) + 1
}

impl PriceTable {
    /// The built-in table ([`DEFAULT_PRICES`]).
    pub fn builtin() -> Result<Self, PriceFileError> {
        Self::default().with_file(DEFAULT_ORIGIN, DEFAULT_PRICES)
    }

    /// This table with the entries of a price file's `text` (named `origin` in errors) replacing
    /// or adding to its own, and its tenant sections added.
    pub fn with_file(mut self, origin: &str, text: &str) -> Result<Self, PriceFileError> {
        let error = |span: Option<Range<usize>>, message: String| PriceFileError {
            origin: origin.to_owned(),
            line: span.map_or(1, |s| line_of(text, s.start)),
            message,
        };
        let file: File =
            toml::from_str(text).map_err(|e| error(e.span(), e.message().trim().to_owned()))?;
        let global = entries(&file.prices).map_err(|(span, m)| error(Some(span), m))?;
        let mut tenants = Vec::with_capacity(file.tenants.len());
        for (tenant, section) in &file.tenants {
            if tenant.trim().is_empty() {
                return Err(error(
                    Some(section.span()),
                    "a tenant needs a name".to_owned(),
                ));
            }
            let own =
                entries(&section.get_ref().prices).map_err(|(span, m)| error(Some(span), m))?;
            tenants.push((tenant.clone(), own));
        }
        if let Some(as_of) = file.as_of {
            self.as_of = Some(as_of);
        }
        for tenant in self.tenants.values_mut() {
            tenant.merge(global.clone());
        }
        self.prices.merge(global);
        for (tenant, own) in tenants {
            let prices = self
                .tenants
                .entry(tenant)
                .or_insert_with(|| self.prices.clone());
            prices.merge(own);
        }
        Ok(self)
    }

    /// The date the prices were taken, as the last file that said one says.
    pub fn as_of(&self) -> Option<&str> {
        self.as_of.as_deref()
    }

    /// The prices of `tenant`'s runs.
    pub fn for_tenant(&self, tenant: &str) -> &Prices {
        self.tenants.get(tenant).unwrap_or(&self.prices)
    }

    /// The prices of every tenant without a section of its own.
    pub fn prices(&self) -> &Prices {
        &self.prices
    }
}

/// A file section's entries, checked; an error carries the span of the entry at fault.
fn entries(raw: &[Spanned<RawEntry>]) -> Result<Vec<Entry>, (Range<usize>, String)> {
    let mut out: Vec<Entry> = Vec::with_capacity(raw.len());
    for spanned in raw {
        let fail = |m: String| (spanned.span(), m);
        let r = spanned.get_ref();
        let model = r.model.trim().to_lowercase();
        if model.is_empty() {
            return Err(fail("`model` is empty".to_owned()));
        }
        let provider = r
            .provider
            .as_deref()
            .map(|p| p.trim().to_lowercase())
            .filter(|p| !p.is_empty());
        for (name, value) in [
            ("input", Some(r.input)),
            ("output", Some(r.output)),
            ("cached_input", r.cached_input),
        ] {
            if let Some(v) = value
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(fail(format!(
                    "`{name}` of {model} must be a price of zero or more (US dollars per million \
                     tokens), not {v}"
                )));
            }
        }
        if out
            .iter()
            .any(|e| *e.model == *model && e.provider.as_deref() == provider.as_deref())
        {
            return Err(fail(format!(
                "{model}{} is listed twice",
                provider
                    .as_deref()
                    .map(|p| format!(" (provider {p})"))
                    .unwrap_or_default()
            )));
        }
        out.push(Entry {
            model: model.into(),
            provider: provider.map(Into::into),
            price: Price {
                input: r.input,
                output: r.output,
                cached_input: r.cached_input,
            },
        });
    }
    Ok(out)
}

/// Whether what follows a listed name in a model's name is only its version: nothing, anything
/// after `@`, or `-`/`_`-separated parts that are each a number, `latest`, or a `v1:0`-like
/// revision (`-2024-08-06`, `-20241022`, `-002`, `-latest`, `-20240620-v1:0`).
fn version_only(rest: &str) -> bool {
    if rest.is_empty() || rest.starts_with('@') {
        return true;
    }
    let Some(tail) = rest.strip_prefix(['-', '_']) else {
        return false;
    };
    tail.split(['-', '_']).all(|part| {
        let revision = part
            .strip_prefix('v')
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit() || b == b':'));
        part == "latest"
            || revision
            || (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    })
}

impl Prices {
    /// Each entry of a later file (or section) replaces the one of the same model and provider
    /// (all of its model's, when it names no provider), or is added.
    fn merge(&mut self, entries: Vec<Entry>) {
        for any_provider in entries.iter().filter(|e| e.provider.is_none()) {
            self.entries.retain(|e| e.model != any_provider.model);
        }
        for entry in entries {
            match self
                .entries
                .iter_mut()
                .find(|e| e.model == entry.model && e.provider == entry.provider)
            {
                Some(existing) => *existing = entry,
                None => self.entries.push(entry),
            }
        }
    }

    /// Every entry, in the order listed.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry that prices `model` (of `provider`, when known): see the module's rules.
    pub fn find(&self, model: &str, provider: Option<&str>) -> Option<&Entry> {
        let model = model.trim().to_lowercase();
        let provider = provider.map(|p| p.trim().to_lowercase());
        let provider = provider.as_deref().filter(|p| !p.is_empty());
        if let Some(found) = self.find_lowercase(&model, provider) {
            return Some(found);
        }
        let base = model.rsplit('/').next().unwrap_or(&model);
        if base != model
            && let Some(found) = self.find_lowercase(base, provider)
        {
            return Some(found);
        }
        let (prefix, rest) = base.split_once(':')?;
        let prefix = prefix.trim();
        let named = (!prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then_some(prefix)?;
        self.find_lowercase(rest.trim(), provider.or(Some(named)))
    }

    fn find_lowercase(&self, model: &str, provider: Option<&str>) -> Option<&Entry> {
        let mut best: Option<(&Entry, (usize, u8))> = None;
        for entry in &self.entries {
            let Some(rest) = model.strip_prefix(&*entry.model) else {
                continue;
            };
            if !version_only(rest) {
                continue;
            }
            let fit = match (entry.provider.as_deref(), provider) {
                (Some(listed), Some(given)) if listed == given => 2,
                (None, _) => 1,
                _ => 0,
            };
            let rank = (entry.model.len(), fit);
            // Strictly better only: of equal ones, the first listed stays.
            if best.is_none_or(|(_, r)| rank > r) {
                best = Some((entry, rank));
            }
        }
        best.map(|(entry, _)| entry)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    fn table(text: &str) -> PriceTable {
        PriceTable::default()
            .with_file("prices.toml", text)
            .unwrap()
    }

    fn error(text: &str) -> PriceFileError {
        PriceTable::default()
            .with_file("prices.toml", text)
            .unwrap_err()
    }

    #[test]
    fn the_built_in_table_reads_and_says_when_its_prices_were_taken() {
        let builtin = PriceTable::builtin().unwrap();
        assert!(builtin.as_of().is_some_and(|d| d.len() == 10));
        for model in [
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4.1",
            "o3-mini",
            "claude-sonnet-4-20250514",
            "claude-3-5-haiku-20241022",
            "gemini-2.5-pro",
            "gemini-1.5-flash-002",
        ] {
            assert!(builtin.prices().find(model, None).is_some(), "{model}");
        }
    }

    #[test]
    fn a_model_is_found_by_its_name_then_by_the_longest_listed_prefix() {
        let prices = PriceTable::builtin().unwrap();
        let prices = prices.prices();
        let name = |model: &str| prices.find(model, None).map(|e| e.model.to_string());
        assert_eq!(name("gpt-4o-2024-08-06").as_deref(), Some("gpt-4o"));
        assert_eq!(
            name("GPT-4o-Mini-2024-07-18").as_deref(),
            Some("gpt-4o-mini")
        );
        assert_eq!(name("gpt-4.1-nano").as_deref(), Some("gpt-4.1-nano"));
        assert_eq!(name("o1").as_deref(), Some("o1"));
        assert_eq!(
            name("claude-3-5-sonnet@20240620").as_deref(),
            Some("claude-3-5-sonnet")
        );
        assert_eq!(
            name("models/gemini-1.5-pro-002").as_deref(),
            Some("gemini-1.5-pro")
        );
        assert_eq!(name("openai:gpt-4o-mini").as_deref(), Some("gpt-4o-mini"));
        assert_eq!(
            name("claude-3-5-sonnet-latest").as_deref(),
            Some("claude-3-5-sonnet")
        );
        assert_eq!(
            name("claude-3-5-sonnet-20240620-v1:0").as_deref(),
            Some("claude-3-5-sonnet")
        );
        // A name that extends a listed one with a word is another model, priced differently.
        assert_eq!(name("o3-pro"), None);
        assert_eq!(name("o1-pro"), None);
        assert_eq!(name("gpt-4o-audio-preview"), None);
        assert_eq!(name("gpt-4o-realtime-preview-2024-12-17"), None);
        // A prefix counts only up to a separator.
        assert_eq!(name("gpt-4oz"), None);
        assert_eq!(name("o10"), None);
        assert_eq!(name("llama-3-70b"), None);
        assert_eq!(name(""), None);
    }

    #[test]
    fn the_provider_chooses_between_entries_of_one_model() {
        let t = table(
            r#"
            [[prices]]
            model = "llama-3"
            provider = "groq"
            input = 1
            output = 1

            [[prices]]
            model = "llama-3"
            input = 2
            output = 2

            [[prices]]
            model = "llama-3"
            provider = "together"
            input = 3
            output = 3
            "#,
        );
        let input = |provider| {
            t.prices()
                .find("llama-3-20240418", provider)
                .unwrap()
                .price
                .input
        };
        assert!((input(Some("Together")) - 3.0).abs() < f64::EPSILON);
        assert!((input(Some("groq")) - 1.0).abs() < f64::EPSILON);
        assert!((input(Some("elsewhere")) - 2.0).abs() < f64::EPSILON);
        assert!((input(None) - 2.0).abs() < f64::EPSILON);
    }

    #[test]
    fn a_file_replaces_and_adds_entries_and_a_tenant_section_overrides_for_that_tenant() {
        let t = PriceTable::builtin()
            .unwrap()
            .with_file(
                "ops.toml",
                r#"
                as_of = "2026-12-01"

                [[prices]]
                model = "GPT-4o"
                provider = "openai"
                input = 2.0
                output = 8.0

                [[prices]]
                model = "acme-llm"
                input = 0.5
                output = 0.5

                [[tenants.acme.prices]]
                model = "gpt-4o"
                provider = "openai"
                input = 1.0
                output = 4.0
                cached_input = 0.1
                "#,
            )
            .unwrap();
        assert_eq!(t.as_of(), Some("2026-12-01"));
        let gpt = |tenant| {
            t.for_tenant(tenant)
                .find("gpt-4o", Some("openai"))
                .unwrap()
                .price
        };
        assert!((gpt("default").input - 2.0).abs() < f64::EPSILON);
        assert_eq!(gpt("default").cached_input, None);
        assert!((gpt("acme").input - 1.0).abs() < f64::EPSILON);
        assert_eq!(gpt("acme").cached_input, Some(0.1));
        // An entry without a provider is the price of its model from any provider.
        let any = PriceTable::builtin()
            .unwrap()
            .with_file(
                "ops.toml",
                "[[prices]]\nmodel = \"gpt-4o\"\ninput = 9\noutput = 9\n",
            )
            .unwrap();
        let found = any.prices().find("gpt-4o", Some("openai")).unwrap();
        assert!((found.price.input - 9.0).abs() < f64::EPSILON);
        // Entries the tenant does not list are everyone's.
        assert!(t.for_tenant("acme").find("acme-llm", None).is_some());
        assert!(t.for_tenant("acme").find("claude-3-haiku", None).is_some());
        assert_eq!(
            t.prices().entries().len(),
            PriceTable::builtin().unwrap().prices().entries().len() + 1
        );
    }

    #[test]
    fn a_bad_file_is_refused_with_its_name_and_line() {
        let syntax = error("[[prices]]\nmodel = \"x\"\ninput = 1\noutput = = 2\n");
        assert_eq!((syntax.origin.as_str(), syntax.line), ("prices.toml", 4));
        assert!(
            syntax.to_string().starts_with("prices.toml, line 4: "),
            "{syntax}"
        );

        let negative = error("\n\n[[prices]]\nmodel = \"x\"\ninput = -1\noutput = 2\n");
        assert_eq!(negative.line, 3, "{negative}");
        assert!(negative.message.contains("`input` of x"), "{negative}");

        let missing = error("[[prices]]\nmodel = \"x\"\ninput = 1\n");
        assert!(missing.message.contains("output"), "{missing}");

        let unknown = error("[[prices]]\nmodel = \"x\"\ninput = 1\noutput = 1\ncost = 3\n");
        assert!(unknown.message.contains("cost"), "{unknown}");

        let twice = error(
            "[[prices]]\nmodel = \"x\"\ninput = 1\noutput = 1\n\n\
             [[prices]]\nmodel = \"X\"\ninput = 1\noutput = 1\n",
        );
        assert_eq!(twice.line, 6, "{twice}");
        assert!(twice.message.contains("listed twice"), "{twice}");

        let text = error("[[prices]]\nmodel = \"x\"\ninput = \"cheap\"\noutput = 1\n");
        assert_eq!(text.line, 3, "{text}");

        let empty = error("[[tenants.acme.prices]]\nmodel = \" \"\ninput = 1\noutput = 1\n");
        assert!(empty.message.contains("empty"), "{empty}");
        let nan = error("[[prices]]\nmodel = \"x\"\ninput = nan\noutput = 1\n");
        assert!(nan.message.contains("zero or more"), "{nan}");
    }
}
