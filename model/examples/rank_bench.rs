//! Ranks 100,000 generated talents against one job, as the server's ranking path will:
//! `score_total` for every talent, then `score` (with sentences) for the 20 shown.
//!
//! `cargo run --release -p castyou-model --example rank_bench`

use castyou_model::*;
use chrono::NaiveDate;
use std::time::Instant;

/// A small deterministic generator (no `rand` dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next(items.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "night",
    "harbour",
    "detective",
    "theatre",
    "musical",
    "lights",
    "road",
    "summer",
    "crown",
    "city",
    "lead",
    "sister",
    "storm",
    "garden",
    "river",
    "queen",
    "west",
    "end",
    "globe",
    "drama",
];
const COUNTRIES: &[&str] = &["US", "GB", "IE", "FR", "DE", "CA", "ES"];
const TYPES: [ProductionType; 5] = [
    ProductionType::Film,
    ProductionType::Tv,
    ProductionType::Theatre,
    ProductionType::Commercial,
    ProductionType::Voice,
];

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn talent(r: &mut Lcg) -> TalentInput {
    let phrase = |r: &mut Lcg, n: u64| -> String {
        (0..n).map(|_| r.pick(WORDS)).collect::<Vec<_>>().join(" ")
    };
    let age = 18 + r.next(50) as i32;
    let rate = 200 + 50 * r.next(20) as i32;
    TalentInput {
        location_country: Some(r.pick(COUNTRIES).into()),
        gender: Some(r.pick(&["female", "male", "non-binary"]).into()),
        playing_age_min: Some(age),
        playing_age_max: Some(age + 8),
        height_cm: Some(150 + r.next(45) as i32),
        languages: vec![
            LanguageSkill {
                language: "en".into(),
                proficiency: Proficiency::ALL[r.next(4) as usize],
            },
            LanguageSkill {
                language: r.pick(&["fr", "de", "es", "ga"]).into(),
                proficiency: Proficiency::ALL[r.next(4) as usize],
            },
        ],
        accents: vec![r.pick(&["Irish", "RP", "Scottish", "Texan"]).into()],
        work_authorizations: vec![r.pick(COUNTRIES).into(), r.pick(COUNTRIES).into()],
        notable_works: (0..r.next(6))
            .map(|_| NotableWork {
                title: phrase(r, 2),
                year: Some(2005 + r.next(20) as i32),
                role: Some(phrase(r, 1)),
                production_type: Some(TYPES[r.next(5) as usize]),
            })
            .collect(),
        production_experience_years: Some(r.next(25) as i32),
        awards: (0..r.next(3))
            .map(|_| Award {
                name: "Award".into(),
                year: Some(2005 + r.next(20) as i32),
                won: r.next(2) == 0,
            })
            .collect(),
        dream_gigs: (0..r.next(3)).map(|_| phrase(r, 4)).collect(),
        rate_min: Some(rate),
        rate_max: Some(rate + 200),
        currency: Some(r.pick(&["USD", "EUR", "GBP"]).into()),
        availability: (0..r.next(4))
            .map(|i| {
                let from = day(2025, 7 + i as u32, 1 + r.next(20) as u32);
                AvailabilityWindow {
                    from,
                    to: from + chrono::Days::new(r.next(40)),
                }
            })
            .collect(),
        works_vector: None,
        dreams_vector: None,
    }
}

fn main() {
    let n = 100_000;
    let mut r = Lcg(42);
    let inputs: Vec<TalentInput> = (0..n).map(|_| talent(&mut r)).collect();

    let started = Instant::now();
    let talents: Vec<TalentFeatures> = inputs.iter().map(TalentFeatures::new).collect();
    let built = started.elapsed();
    let memory: usize = talents.iter().map(TalentFeatures::memory_bytes).sum();

    let job = JobFeatures::new(&JobInput {
        title: "Lead detective".into(),
        description: "A crime drama shot in Dublin harbour; the lead is a tired detective. \
                      Night shoots, some stunts."
            .into(),
        project_name: Some("Harbour Lights".into()),
        production_type: ProductionType::Film,
        location_country: Some("IE".into()),
        pay_min: Some(500),
        pay_max: Some(800),
        currency: Some("EUR".into()),
        requirements: JobRequirements {
            gender: Some("female".into()),
            playing_age_min: Some(35),
            playing_age_max: Some(45),
            height_min_cm: Some(160),
            languages: vec![LanguageSkill {
                language: "en".into(),
                proficiency: Proficiency::Fluent,
            }],
            accents: vec!["Irish".into()],
            min_experience_years: Some(5),
            ..JobRequirements::default()
        },
        shoot_start: Some(day(2025, 9, 1)),
        shoot_end: Some(day(2025, 9, 30)),
        ..JobInput::default()
    });
    let rates = ExchangeRates::new("USD", [("EUR", 1.08), ("GBP", 1.25)]);
    let ctx = Context {
        rates: &rates,
        today: day(2025, 6, 1),
    };
    let weights = Weights::default();

    let started = Instant::now();
    let mut ranked: Vec<(f32, usize)> = talents
        .iter()
        .enumerate()
        .map(|(i, t)| (score_total(t, &job, &weights, &ctx), i))
        .collect();
    ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let totals = started.elapsed();

    // Time of each factor alone (the others weighted 0 are skipped by score_total).
    let mut per_factor = Vec::new();
    for factor in Factor::ALL {
        let only: Vec<(Factor, f64)> = Factor::ALL
            .iter()
            .map(|f| (*f, if *f == factor { 1.0 } else { 0.0 }))
            .collect();
        let Ok(w) = Weights::normalised(&only) else {
            continue;
        };
        let started = Instant::now();
        let sum: f32 = talents.iter().map(|t| score_total(t, &job, &w, &ctx)).sum();
        per_factor.push(format!("{factor} {:?} (Σ {sum:.0})", started.elapsed()));
    }

    let started = Instant::now();
    let page: Vec<Scored> = ranked
        .iter()
        .take(20)
        .map(|(_, i)| score(&talents[*i], &job, &weights, &ctx))
        .collect();
    let explained = started.elapsed();

    println!(
        "{n} talents: features built in {built:?}, {memory} bytes in all ({} per talent)",
        memory / n
    );
    println!("score_total for all + sort: {totals:?}; score() for a page of 20: {explained:?}");
    println!(
        "each factor alone over all talents: {}",
        per_factor.join(", ")
    );
    if let Some(best) = page.first() {
        println!("best: {:.1}", best.total);
        for f in &best.factors {
            println!(
                "  {:<22} {:<8} {:.2}  {}",
                f.factor, f.verdict, f.score, f.explanation
            );
        }
    }
}
