//! Exchange rates for comparing a day rate and a job's pay in different currencies.

use crate::features::Code;

/// Rates to one base currency: for each currency, how many base units one unit is worth
/// (with base USD, `"EUR" -> 1.08`). The base itself is always known (1.0). Rates that are not
/// finite and positive, or whose code is not 2–3 letters, are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeRates {
    base: Code,
    /// (currency, base units per unit), sorted by currency, the base included.
    rates: Vec<(Code, f64)>,
}

impl ExchangeRates {
    /// Rates to `base` (an invalid base code falls back to USD).
    pub fn new<'a>(base: &str, rates: impl IntoIterator<Item = (&'a str, f64)>) -> ExchangeRates {
        let base = Code::new(base).unwrap_or(Code::USD);
        let mut table: Vec<(Code, f64)> = rates
            .into_iter()
            .filter(|(_, r)| r.is_finite() && *r > 0.0)
            .filter_map(|(c, r)| Some((Code::new(c)?, r)))
            .filter(|(c, _)| *c != base)
            .collect();
        table.push((base, 1.0));
        // The last rate given for a currency wins.
        table.reverse();
        table.sort_by_key(|(c, _)| *c);
        table.dedup_by_key(|(c, _)| *c);
        ExchangeRates { base, rates: table }
    }

    /// Rates from a map such as `{"EUR": 1.08, "GBP": 1.27}` (base units per unit).
    pub fn from_map<K: AsRef<str>>(
        base: &str,
        map: &std::collections::HashMap<K, f64>,
    ) -> ExchangeRates {
        ExchangeRates::new(base, map.iter().map(|(k, v)| (k.as_ref(), *v)))
    }

    /// Only the base currency: converts nothing else.
    pub fn base_only(base: &str) -> ExchangeRates {
        ExchangeRates::new(base, [])
    }

    pub fn base(&self) -> Code {
        self.base
    }

    /// What one unit of `currency` is worth in the base, if known.
    pub fn rate(&self, currency: Code) -> Option<f64> {
        self.rates
            .binary_search_by_key(&currency, |(c, _)| *c)
            .ok()
            .and_then(|i| self.rates.get(i))
            .map(|(_, r)| *r)
    }

    /// `amount` of `from` expressed in `to`; the same currency needs no rate; `None` when a rate
    /// is missing or a code is invalid.
    pub fn convert(&self, amount: f64, from: &str, to: &str) -> Option<f64> {
        self.convert_code(amount, Code::new(from)?, Code::new(to)?)
    }

    /// [`ExchangeRates::convert`] with parsed codes.
    pub fn convert_code(&self, amount: f64, from: Code, to: Code) -> Option<f64> {
        if from == to {
            return Some(amount);
        }
        Some(amount * self.rate(from)? / self.rate(to)?)
    }
}

impl Default for ExchangeRates {
    /// USD only.
    fn default() -> Self {
        ExchangeRates::base_only("USD")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_through_the_base() {
        let rates = ExchangeRates::new("USD", [("EUR", 1.08), ("GBP", 1.25), ("XXX", -1.0)]);
        let table: &[(f64, &str, &str, Option<f64>)] = &[
            (100.0, "EUR", "USD", Some(108.0)),
            (108.0, "USD", "EUR", Some(100.0)),
            (100.0, "GBP", "EUR", Some(100.0 * 1.25 / 1.08)),
            (100.0, "usd", "USD", Some(100.0)),
            (100.0, "JPY", "JPY", Some(100.0)),
            (100.0, "JPY", "USD", None),
            (100.0, "XXX", "USD", None),
            (100.0, "E", "USD", None),
        ];
        for (amount, from, to, want) in table {
            let got = rates.convert(*amount, from, to);
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{from}->{to}: {g} vs {w}"),
                (g, w) => assert_eq!(g, *w, "{from}->{to}"),
            }
        }
    }

    #[test]
    fn the_base_is_always_one_and_later_rates_win() {
        let rates = ExchangeRates::new("usd", [("USD", 3.0), ("EUR", 1.0), ("EUR", 1.1)]);
        assert_eq!(rates.base().as_str(), "USD");
        assert_eq!(rates.rate(Code::USD), Some(1.0));
        assert_eq!(rates.rate(Code::new("EUR").unwrap()), Some(1.1));
        let map: std::collections::HashMap<String, f64> = [("GBP".to_owned(), 1.25)].into();
        assert_eq!(
            ExchangeRates::from_map("USD", &map).convert(2.0, "GBP", "USD"),
            Some(2.5)
        );
    }
}
