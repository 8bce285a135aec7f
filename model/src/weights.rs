//! Factor weights: defaults, and producer-chosen weights normalised to sum to 1.

use crate::Factor;
use std::fmt;

/// One weight per factor, in [`Factor::ALL`] order, each ≥ 0 and summing to 1.
///
/// Defaults (they sum to 1): SALARY_ALIGNMENT 0.15, WORK_AUTHORIZATION 0.15,
/// PHYSICAL_ATTRIBUTES 0.15, NOTABLE_WORKS 0.10, PRODUCTION_EXPERIENCE 0.10, AWARDS 0.05,
/// DREAM_GIG 0.05, LANGUAGES 0.15, AVAILABILITY 0.10.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights([f32; 9]);

/// Why weights were refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightError {
    /// A weight below zero.
    Negative(Factor, f64),
    /// NaN or infinite.
    NotFinite(Factor),
    /// The same factor given twice.
    Duplicate(Factor),
    /// Every weight (given and default) is zero: nothing would be scored.
    AllZero,
}

impl fmt::Display for WeightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightError::Negative(factor, w) => {
                write!(
                    f,
                    "the weight of {factor} is {w}: weights must not be negative"
                )
            }
            WeightError::NotFinite(factor) => write!(f, "the weight of {factor} is not a number"),
            WeightError::Duplicate(factor) => write!(f, "{factor} is weighted twice"),
            WeightError::AllZero => f.write_str("all weights are zero"),
        }
    }
}

impl std::error::Error for WeightError {}

impl Weights {
    /// The default weights (see the type's doc).
    pub const DEFAULT: Weights = Weights([0.15, 0.15, 0.15, 0.10, 0.10, 0.05, 0.05, 0.15, 0.10]);

    /// Weights from `(factor, weight)` pairs in any positive scale: factors left out keep their
    /// default weight, then all nine are divided by their sum. So `[(Awards, 0.0)]` drops
    /// AWARDS and spreads its 0.05 over the rest in proportion, and `[(Languages, 0.45)]` makes
    /// LANGUAGES 0.45 / 1.30 ≈ 0.346. Refused: a negative, NaN or infinite weight (the error
    /// names the factor), a factor given twice, or a total of zero.
    pub fn normalised(pairs: &[(Factor, f64)]) -> Result<Weights, WeightError> {
        let mut raw: [f64; 9] = Weights::DEFAULT.0.map(f64::from);
        let mut seen = [false; 9];
        for (factor, w) in pairs {
            let i = factor.index();
            if !w.is_finite() {
                return Err(WeightError::NotFinite(*factor));
            }
            if *w < 0.0 {
                return Err(WeightError::Negative(*factor, *w));
            }
            if std::mem::replace(&mut seen[i], true) {
                return Err(WeightError::Duplicate(*factor));
            }
            raw[i] = *w;
        }
        let sum: f64 = raw.iter().sum();
        if sum <= 0.0 {
            return Err(WeightError::AllZero);
        }
        Ok(Weights(raw.map(|w| (w / sum) as f32)))
    }

    /// The weight of one factor.
    pub fn get(&self, factor: Factor) -> f32 {
        self.0[factor.index()]
    }

    /// `(factor, weight)` in [`Factor::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Factor, f32)> + '_ {
        Factor::ALL.into_iter().zip(self.0)
    }

    /// The nine weights in [`Factor::ALL`] order.
    pub fn as_array(&self) -> &[f32; 9] {
        &self.0
    }
}

impl Default for Weights {
    fn default() -> Self {
        Weights::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Factor::*;

    fn sum(w: &Weights) -> f32 {
        w.iter().map(|(_, w)| w).sum()
    }

    #[test]
    fn defaults_sum_to_one_in_factor_order() {
        let w = Weights::default();
        assert!((sum(&w) - 1.0).abs() < 1e-6);
        let want = [
            (SalaryAlignment, 0.15),
            (WorkAuthorization, 0.15),
            (PhysicalAttributes, 0.15),
            (NotableWorks, 0.10),
            (ProductionExperience, 0.10),
            (Awards, 0.05),
            (DreamGig, 0.05),
            (Languages, 0.15),
            (Availability, 0.10),
        ];
        for (f, v) in want {
            assert_eq!(w.get(f), v, "{f}");
        }
    }

    #[test]
    fn normalising_keeps_defaults_for_omitted_factors() {
        type Given = &'static [(Factor, f64)];
        type Want = &'static [(Factor, f32)];
        let table: &[(Given, Want)] = &[
            // Nothing given: the defaults.
            (&[], &[(Languages, 0.15), (Awards, 0.05)]),
            // Defaults restated in another scale change nothing else.
            (&[(Awards, 0.05)], &[(Awards, 0.05), (Languages, 0.15)]),
            // Awards dropped: its 0.05 is spread in proportion (÷ 0.95).
            (&[(Awards, 0.0)], &[(Awards, 0.0), (Languages, 0.15 / 0.95)]),
            // Languages raised to 0.45: the sum is 1.30.
            (
                &[(Languages, 0.45)],
                &[(Languages, 0.45 / 1.30), (SalaryAlignment, 0.15 / 1.30)],
            ),
            // Only one factor non-zero.
            (
                &[
                    (SalaryAlignment, 0.0),
                    (WorkAuthorization, 0.0),
                    (PhysicalAttributes, 0.0),
                    (NotableWorks, 0.0),
                    (ProductionExperience, 0.0),
                    (Awards, 0.0),
                    (DreamGig, 0.0),
                    (Languages, 0.0),
                    (Availability, 7.0),
                ],
                &[(Availability, 1.0), (Languages, 0.0)],
            ),
        ];
        for (given, want) in table {
            let w = Weights::normalised(given).unwrap();
            assert!((sum(&w) - 1.0).abs() < 1e-5, "{given:?}");
            for (f, v) in *want {
                assert!((w.get(*f) - v).abs() < 1e-6, "{given:?}: {f} {}", w.get(*f));
            }
        }
    }

    #[test]
    fn bad_weights_are_refused_naming_the_factor() {
        assert_eq!(
            Weights::normalised(&[(Awards, -0.1)]),
            Err(WeightError::Negative(Awards, -0.1))
        );
        assert!(Weights::normalised(&[(Awards, -0.1)])
            .unwrap_err()
            .to_string()
            .contains("AWARDS"));
        assert_eq!(
            Weights::normalised(&[(DreamGig, f64::NAN)]),
            Err(WeightError::NotFinite(DreamGig))
        );
        assert_eq!(
            Weights::normalised(&[(DreamGig, 1.0), (DreamGig, 2.0)]),
            Err(WeightError::Duplicate(DreamGig))
        );
        let zeros: Vec<(Factor, f64)> = Factor::ALL.iter().map(|f| (*f, 0.0)).collect();
        assert_eq!(Weights::normalised(&zeros), Err(WeightError::AllZero));
    }
}
