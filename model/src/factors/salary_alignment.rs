//! SALARY_ALIGNMENT: the talent's day rate against the job's pay.

use super::{amount, graded, matched, money_range, no_data, Out};
use crate::features::{JobFeatures, Money, TalentFeatures};
use crate::{Context, Factor, FactorScore};

/// SALARY_ALIGNMENT: the talent's day-rate range against the job's pay range, in the job's
/// currency (the rate converted through [`crate::ExchangeRates`]).
///
/// * ranges overlap → 1.0 MATCH;
/// * the rate lies wholly below the pay → 1.0 MATCH (the pay more than covers it);
/// * the rate starts above the pay's top by `gap` → `max(0, 1 − gap / pay_max)`: PARTIAL while
///   above 0, NO_MATCH at 0 (asking twice the top or more, or anything for unpaid work);
/// * the job states no pay, the profile no rate, or no exchange rate links the two currencies
///   → NO_DATA.
///
/// One bound alone (only `rate_min`, only `pay_max`, …) is read as a single amount.
pub fn salary_alignment(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    rule(t, j, ctx, true).into_factor(Factor::SalaryAlignment)
}

pub(super) fn rule(t: &TalentFeatures, j: &JobFeatures, ctx: &Context, explain: bool) -> Out {
    let Some(pay) = j.pay else {
        return no_data(explain, || "The job states no pay.".to_owned());
    };
    let Some(rate) = t.rate else {
        return no_data(explain, || "The profile states no day rate.".to_owned());
    };
    let convert = |x: f64| ctx.rates.convert_code(x, rate.currency, pay.currency);
    let (Some(lo), Some(hi)) = (convert(rate.min), convert(rate.max)) else {
        return no_data(explain, || {
            format!(
                "No exchange rate links {} and {}, so the day rate cannot be compared with the \
                 pay.",
                rate.currency, pay.currency
            )
        });
    };
    let shown = |rate: Money| {
        let own = money_range(rate.min, rate.max, rate.currency);
        if rate.currency == pay.currency {
            format!("Day rate {own}")
        } else {
            format!(
                "Day rate {own} (about {})",
                money_range(lo, hi, pay.currency)
            )
        }
    };
    let offered = || money_range(pay.min, pay.max, pay.currency);
    let tolerance = 1e-9 * pay.max.max(1.0);
    if lo <= pay.max + tolerance && pay.min <= hi + tolerance {
        return matched(explain, || {
            format!("{} overlaps the {} offered.", shown(rate), offered())
        });
    }
    if hi < pay.min {
        return matched(explain, || {
            format!(
                "{} is below the {} offered, so the pay covers it.",
                shown(rate),
                offered()
            )
        });
    }
    let gap = lo - pay.max;
    let score = if pay.max > 0.0 {
        (1.0 - gap / pay.max).max(0.0) as f32
    } else {
        0.0
    };
    graded(score, explain, || {
        format!(
            "{} starts {} {} above the {} offered.",
            shown(rate),
            amount(gap),
            pay.currency,
            offered()
        )
    })
}
