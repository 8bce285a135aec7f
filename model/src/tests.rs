//! Table tests of every factor, the weights in use, and the total.

use super::*;
use chrono::NaiveDate;
use Verdict::*;

/// Counts this thread's allocations, to show that `score_total` makes none.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> usize {
    ALLOCATIONS.with(std::cell::Cell::get)
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn rates() -> ExchangeRates {
    ExchangeRates::new("USD", [("EUR", 1.08), ("GBP", 1.25)])
}

/// "Today" for every test: recent works and awards are from 2020 on.
fn today() -> NaiveDate {
    day("2025-06-01")
}

fn talent(edit: impl FnOnce(&mut TalentInput)) -> TalentFeatures {
    let mut input = TalentInput::default();
    edit(&mut input);
    TalentFeatures::new(&input)
}

fn job(edit: impl FnOnce(&mut JobInput)) -> JobFeatures {
    let mut input = JobInput::default();
    edit(&mut input);
    JobFeatures::new(&input)
}

fn lang(code: &str, p: Proficiency) -> LanguageSkill {
    LanguageSkill {
        language: code.into(),
        proficiency: p,
    }
}

fn work(title: &str, year: Option<i32>, p: Option<ProductionType>) -> NotableWork {
    NotableWork {
        title: title.into(),
        year,
        role: None,
        production_type: p,
    }
}

fn award(year: Option<i32>, won: bool) -> Award {
    Award {
        name: "Best Lead".into(),
        year,
        won,
    }
}

fn window(from: &str, to: &str) -> AvailabilityWindow {
    AvailabilityWindow {
        from: day(from),
        to: day(to),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// One row: a name, the pair, the expected score (±1e-3), verdict, and a piece of the sentence.
struct Case {
    name: &'static str,
    talent: TalentFeatures,
    job: JobFeatures,
    score: f32,
    verdict: Verdict,
    says: &'static str,
}

fn case(
    name: &'static str,
    talent: TalentFeatures,
    job: JobFeatures,
    score: f32,
    verdict: Verdict,
    says: &'static str,
) -> Case {
    Case {
        name,
        talent,
        job,
        score,
        verdict,
        says,
    }
}

fn run_table(factor: Factor, cases: &[Case]) {
    let rates = rates();
    let ctx = Context {
        rates: &rates,
        today: today(),
    };
    for c in cases {
        let got = score_factor(factor, &c.talent, &c.job, &ctx);
        assert_eq!(got.factor, factor);
        assert!(
            (got.score - c.score).abs() < 1e-3,
            "{factor} / {}: score {} != {} ({})",
            c.name,
            got.score,
            c.score,
            got.explanation
        );
        assert_eq!(
            got.verdict, c.verdict,
            "{factor} / {}: {}",
            c.name, got.explanation
        );
        assert!(
            got.explanation.contains(c.says),
            "{factor} / {}: {:?} lacks {:?}",
            c.name,
            got.explanation,
            c.says
        );
        let e = &got.explanation;
        assert!(
            e.ends_with('.')
                && e.chars()
                    .next()
                    .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit()),
            "{factor} / {}: not a sentence: {e:?}",
            c.name
        );
        assert_eq!(
            e.matches(". ").count(),
            0,
            "{factor} / {}: one sentence: {e:?}",
            c.name
        );
    }
}

fn rate(min: Option<i32>, max: Option<i32>, currency: &str) -> TalentFeatures {
    talent(|t| {
        t.rate_min = min;
        t.rate_max = max;
        t.currency = Some(currency.into());
    })
}

fn pay(min: Option<i32>, max: Option<i32>, currency: &str) -> JobFeatures {
    job(|j| {
        j.pay_min = min;
        j.pay_max = max;
        j.currency = Some(currency.into());
    })
}

#[test]
fn salary_alignment_table() {
    let usd = |a, b| pay(Some(a), Some(b), "USD");
    run_table(
        Factor::SalaryAlignment,
        &[
            case(
                "ranges overlap",
                rate(Some(400), Some(600), "USD"),
                usd(500, 700),
                1.0,
                Match,
                "Day rate 400–600 USD overlaps the 500–700 USD offered.",
            ),
            case(
                "ranges touch at the pay's top",
                rate(Some(700), Some(900), "USD"),
                usd(500, 700),
                1.0,
                Match,
                "overlaps",
            ),
            case(
                "rate wholly below the pay",
                rate(Some(200), Some(300), "USD"),
                usd(500, 700),
                1.0,
                Match,
                "Day rate 200–300 USD is below the 500–700 USD offered",
            ),
            case(
                "gap of a fifth of the top",
                rate(Some(840), Some(1000), "USD"),
                usd(500, 700),
                0.8,
                Partial,
                "starts 140 USD above the 500–700 USD offered",
            ),
            case(
                "gap equal to the top",
                rate(Some(1400), Some(1500), "USD"),
                usd(500, 700),
                0.0,
                NoMatch,
                "starts 700 USD above",
            ),
            case(
                "gap beyond the top",
                rate(Some(2000), None, "USD"),
                usd(500, 700),
                0.0,
                NoMatch,
                "Day rate 2000 USD starts 1300 USD above",
            ),
            case(
                "one bound alone is a single amount",
                rate(Some(500), None, "USD"),
                usd(500, 700),
                1.0,
                Match,
                "Day rate 500 USD overlaps",
            ),
            case(
                "converted, overlapping",
                rate(Some(400), Some(600), "EUR"),
                usd(500, 700),
                1.0,
                Match,
                "Day rate 400–600 EUR (about 432–648 USD) overlaps the 500–700 USD offered.",
            ),
            case(
                "converted, above",
                rate(None, Some(700), "GBP"),
                usd(500, 700),
                0.75,
                Partial,
                "Day rate 700 GBP (about 875 USD) starts 175 USD above",
            ),
            case(
                "converted between two non-base currencies",
                rate(Some(100), Some(100), "GBP"),
                pay(Some(100), Some(120), "EUR"),
                1.0,
                Match,
                "(about 116 EUR) overlaps the 100–120 EUR offered",
            ),
            case(
                "missing exchange rate",
                rate(Some(400), Some(600), "JPY"),
                usd(500, 700),
                0.5,
                NoData,
                "No exchange rate links JPY and USD",
            ),
            case(
                "job states no pay",
                rate(Some(400), Some(600), "USD"),
                job(|_| {}),
                0.5,
                NoData,
                "The job states no pay.",
            ),
            case(
                "talent states no rate",
                talent(|_| {}),
                usd(500, 700),
                0.5,
                NoData,
                "The profile states no day rate.",
            ),
            case(
                "unpaid job, paid talent",
                rate(Some(100), None, "USD"),
                usd(0, 0),
                0.0,
                NoMatch,
                "starts 100 USD above the 0 USD offered",
            ),
            case(
                "unpaid job, unpaid talent",
                rate(Some(0), None, "USD"),
                usd(0, 0),
                1.0,
                Match,
                "overlaps",
            ),
        ],
    );
}

#[test]
fn work_authorization_table() {
    let needs = |codes: &[&str], country: Option<&str>| {
        let codes = strings(codes);
        job(move |j| {
            j.requirements.work_authorizations = codes;
            j.location_country = country.map(str::to_owned);
        })
    };
    let holds = |codes: &[&str], country: Option<&str>| {
        let codes = strings(codes);
        talent(move |t| {
            t.work_authorizations = codes;
            t.location_country = country.map(str::to_owned);
        })
    };
    run_table(
        Factor::WorkAuthorization,
        &[
            case(
                "remote job needs nothing, even from an empty profile",
                holds(&[], None),
                job(|j| {
                    j.remote = true;
                    j.requirements.work_authorizations = strings(&["US"]);
                }),
                1.0,
                Match,
                "Remote job: no work authorization is needed.",
            ),
            case(
                "all required held",
                holds(&["US", "GB"], None),
                needs(&["GB", "US"], Some("US")),
                1.0,
                Match,
                "Authorized to work in GB and US, as the job requires GB and US.",
            ),
            case(
                "some required held",
                holds(&["GB"], None),
                needs(&["GB", "US"], None),
                0.5,
                Partial,
                "Authorized to work in GB but not in US",
            ),
            case(
                "none required held",
                holds(&["FR", "DE"], None),
                needs(&["US"], None),
                0.0,
                NoMatch,
                "Not authorized to work in US (the job requires US; the profile lists DE and FR)",
            ),
            case(
                "the job's country when no list, held through the talent's location",
                holds(&[], Some("US")),
                needs(&[], Some("US")),
                1.0,
                Match,
                "as the job is in US",
            ),
            case(
                "the job's country, not held",
                holds(&["CA"], Some("CA")),
                needs(&[], Some("us")),
                0.0,
                NoMatch,
                "Not authorized to work in US",
            ),
            case(
                "codes compare case-insensitively",
                holds(&["us"], None),
                needs(&["US"], None),
                1.0,
                Match,
                "Authorized to work in US",
            ),
            case(
                "the job requires nothing",
                holds(&["FR"], None),
                needs(&[], None),
                1.0,
                Match,
                "The job names no country or work authorization",
            ),
            case(
                "the profile lists nothing",
                holds(&[], None),
                needs(&["US"], None),
                0.5,
                NoData,
                "the profile lists no work authorization or location",
            ),
        ],
    );
}

#[test]
fn physical_attributes_table() {
    let body = |gender: Option<&str>, age: Option<(i32, i32)>, height: Option<i32>| {
        talent(move |t| {
            t.gender = gender.map(str::to_owned);
            t.playing_age_min = age.map(|a| a.0);
            t.playing_age_max = age.map(|a| a.1);
            t.height_cm = height;
        })
    };
    let asks = |gender: Option<&str>,
                age: (Option<i32>, Option<i32>),
                height: (Option<i32>, Option<i32>)| {
        job(move |j| {
            j.requirements.gender = gender.map(str::to_owned);
            (
                j.requirements.playing_age_min,
                j.requirements.playing_age_max,
            ) = age;
            (j.requirements.height_min_cm, j.requirements.height_max_cm) = height;
        })
    };
    let none = (None, None);
    run_table(
        Factor::PhysicalAttributes,
        &[
            case(
                "nothing stated",
                body(None, None, None),
                asks(None, none, none),
                1.0,
                Match,
                "The job states no physical requirements.",
            ),
            case(
                "'any' gender states nothing",
                body(Some("male"), None, None),
                asks(Some("Any"), none, none),
                1.0,
                Match,
                "no physical requirements",
            ),
            case(
                "gender synonym",
                body(Some("Woman"), None, None),
                asks(Some("Female"), none, none),
                1.0,
                Match,
                "1 of 1 stated requirement holds: gender female as asked.",
            ),
            case(
                "gender differs",
                body(Some("male"), None, None),
                asks(Some("female"), none, none),
                0.0,
                NoMatch,
                "gender male where female is asked",
            ),
            case(
                "playing ages touch at a boundary",
                body(None, Some((25, 30)), None),
                asks(None, (Some(30), Some(40)), none),
                1.0,
                Match,
                "playing age 25–30 as asked (30–40)",
            ),
            case(
                "playing ages apart",
                body(None, Some((20, 29)), None),
                asks(None, (Some(30), Some(40)), none),
                0.0,
                NoMatch,
                "playing age 20–29 where 30–40 is asked",
            ),
            case(
                "height at the top boundary",
                body(None, None, Some(185)),
                asks(None, none, (Some(170), Some(185))),
                1.0,
                Match,
                "height 185 cm as asked (170–185 cm)",
            ),
            case(
                "height one above",
                body(None, None, Some(186)),
                asks(None, none, (Some(170), Some(185))),
                0.0,
                NoMatch,
                "height 186 cm where 170–185 cm is asked",
            ),
            case(
                "minimum height alone is open-ended",
                body(None, None, Some(200)),
                asks(None, none, (Some(170), None)),
                1.0,
                Match,
                "height 200 cm as asked (at least 170 cm)",
            ),
            case(
                "maximum playing age alone",
                body(None, Some((45, 50)), None),
                asks(None, (None, Some(40)), none),
                0.0,
                NoMatch,
                "playing age 45–50 where at most 40 is asked",
            ),
            case(
                "two of three hold",
                body(Some("female"), Some((30, 35)), Some(160)),
                asks(Some("female"), (Some(25), Some(32)), (Some(170), Some(185))),
                2.0 / 3.0,
                Partial,
                "2 of 3 stated requirements hold: gender female as asked, playing age 30–35 as asked (25–32) and height 160 cm where 170–185 cm is asked.",
            ),
            case(
                "a part without talent data is left out",
                body(None, None, Some(175)),
                asks(Some("female"), none, (Some(170), Some(185))),
                1.0,
                Match,
                "1 of 1 stated requirement holds: gender not stated (female asked) and height 175 cm as asked (170–185 cm).",
            ),
            case(
                "nothing checkable",
                body(None, None, None),
                asks(Some("female"), (Some(20), Some(30)), (Some(170), None)),
                0.5,
                NoData,
                "The job asks for gender female, playing age 20–30 and height at least 170 cm, but the profile states none of these.",
            ),
        ],
    );
}

#[test]
fn notable_works_table() {
    let works = |items: Vec<NotableWork>| talent(move |t| t.notable_works = items);
    let film = |title: &str, description: &str| {
        let (title, description) = (title.to_owned(), description.to_owned());
        job(move |j| {
            j.title = title;
            j.description = description;
            j.production_type = ProductionType::Film;
        })
    };
    use ProductionType::{Film, Theatre};
    run_table(
        Factor::NotableWorks,
        &[
            case(
                "no works",
                works(vec![]),
                film("Lead", "A thriller"),
                0.5,
                NoData,
                "The profile lists no notable works.",
            ),
            case(
                "recent, same type, all words shared",
                works(vec![work("Night Train", Some(2023), Some(Film))]),
                film("Night Train II", "The sequel"),
                1.0,
                Match,
                "1 of 1 notable work is FILM; the most relevant is 'Night Train' (2023, FILM), \
                 sharing night and train with the job.",
            ),
            case(
                "old, other type, no shared word",
                works(vec![work("Hamlet", Some(2010), Some(Theatre))]),
                film("Lead", "A thriller"),
                0.0,
                NoMatch,
                "The one notable work is not FILM and shares no word with the job.",
            ),
            case(
                "old, same type",
                works(vec![work("Hamlet", Some(2010), Some(Film))]),
                film("Lead", "A thriller"),
                0.35,
                Partial,
                "'Hamlet' (2010, FILM)",
            ),
            case(
                "five years back still counts as recent",
                works(vec![work("Hamlet", Some(2020), Some(Film))]),
                film("Lead", "A thriller"),
                0.7,
                Partial,
                "(2020, FILM)",
            ),
            case(
                "six years back is old",
                works(vec![work("Hamlet", Some(2019), Some(Film))]),
                film("Lead", "A thriller"),
                0.35,
                Partial,
                "(2019, FILM)",
            ),
            case(
                "undated counts as old",
                works(vec![work("Hamlet", None, Some(Film))]),
                film("Lead", "A thriller"),
                0.35,
                Partial,
                "'Hamlet' (FILM)",
            ),
            case(
                "two recent works of the type combine",
                works(vec![
                    work("One", Some(2022), Some(Film)),
                    work("Two", Some(2024), Some(Film)),
                    work("Three", Some(2024), Some(Theatre)),
                ]),
                film("Lead", "A thriller"),
                1.0 - 0.3 * 0.3,
                Match,
                "2 of 3 notable works are FILM",
            ),
            case(
                "Theatre in a title matches theater in the job",
                works(vec![work("Globe Theatre Gala", Some(2024), None)]),
                job(|j| {
                    j.title = "Host".into();
                    j.description = "A gala night at the Globe theater".into();
                    j.production_type = Theatre;
                }),
                0.3,
                Partial,
                "sharing globe, theater and gala with the job",
            ),
        ],
    );
}

#[test]
fn production_experience_table() {
    let pro = |years: Option<i32>, items: Vec<NotableWork>| {
        talent(move |t| {
            t.production_experience_years = years;
            t.notable_works = items;
        })
    };
    let needs = |min: Option<i32>, p: ProductionType| {
        job(move |j| {
            j.requirements.min_experience_years = min;
            j.production_type = p;
        })
    };
    use ProductionType::{Film, Other, Theatre};
    let typed = |p| work("X", Some(2024), Some(p));
    run_table(
        Factor::ProductionExperience,
        &[
            case(
                "nothing to check",
                pro(None, vec![]),
                needs(None, Other),
                1.0,
                Match,
                "The job states no minimum experience and no production type to check.",
            ),
            case(
                "a minimum of 0 is no minimum",
                pro(Some(0), vec![]),
                needs(Some(0), Other),
                1.0,
                Match,
                "no minimum experience",
            ),
            case(
                "above the minimum",
                pro(Some(8), vec![]),
                needs(Some(5), Other),
                1.0,
                Match,
                "8 years of experience meets the 5-year minimum.",
            ),
            case(
                "exactly the minimum",
                pro(Some(5), vec![]),
                needs(Some(5), Other),
                1.0,
                Match,
                "meets",
            ),
            case(
                "below the minimum, proportional",
                pro(Some(1), vec![]),
                needs(Some(4), Other),
                0.25,
                Partial,
                "1 year of experience is below the 4-year minimum.",
            ),
            case(
                "no experience",
                pro(Some(0), vec![]),
                needs(Some(5), Other),
                0.0,
                NoMatch,
                "0 years",
            ),
            case(
                "years unknown",
                pro(None, vec![]),
                needs(Some(5), Other),
                0.5,
                NoData,
                "Years of experience not stated (5 required).",
            ),
            case(
                "years and two works of the type",
                pro(Some(10), vec![typed(Theatre), typed(Theatre)]),
                needs(Some(5), Theatre),
                1.0,
                Match,
                "10 years of experience meets the 5-year minimum; 2 notable works are THEATRE.",
            ),
            case(
                "years but only works of another type",
                pro(Some(10), vec![typed(Film), typed(Film)]),
                needs(Some(5), Theatre),
                0.7,
                Partial,
                "none of the 2 typed notable works is THEATRE",
            ),
            case(
                "years and one work of the type",
                pro(Some(10), vec![typed(Theatre), typed(Film)]),
                needs(Some(5), Theatre),
                0.85,
                Partial,
                "1 notable work is THEATRE",
            ),
            case(
                "no minimum: type only, one work",
                pro(None, vec![typed(Film)]),
                needs(None, Film),
                0.5,
                Partial,
                "1 notable work is FILM",
            ),
            case(
                "no minimum: type only, three works",
                pro(None, vec![typed(Film), typed(Film), typed(Film)]),
                needs(None, Film),
                1.0,
                Match,
                "3 notable works are FILM",
            ),
            case(
                "no minimum, no works",
                pro(Some(3), vec![]),
                needs(None, Film),
                0.5,
                NoData,
                "No notable works listed (FILM wanted).",
            ),
            case(
                "no minimum, works without a type",
                pro(Some(3), vec![work("X", None, None)]),
                needs(None, Film),
                0.5,
                NoData,
                "No notable work states its production type (FILM wanted).",
            ),
        ],
    );
}

#[test]
fn awards_table() {
    let won = |items: Vec<Award>| talent(move |t| t.awards = items);
    let any_job = || job(|_| {});
    let e = |points: f32| 1.0 - (-points).exp();
    run_table(
        Factor::Awards,
        &[
            case(
                "no awards is not a penalty",
                won(vec![]),
                any_job(),
                0.5,
                NoData,
                "The profile lists no awards.",
            ),
            case(
                "one recent win",
                won(vec![award(Some(2024), true)]),
                any_job(),
                e(1.0),
                Match,
                "1 win, the latest in 2024 (1 in the last 5 years).",
            ),
            case(
                "five years back is recent",
                won(vec![award(Some(2020), true)]),
                any_job(),
                e(1.0),
                Match,
                "1 win",
            ),
            case(
                "one old win",
                won(vec![award(Some(2019), true)]),
                any_job(),
                e(0.5),
                Partial,
                "(0 in the last 5 years)",
            ),
            case(
                "one recent nomination",
                won(vec![award(Some(2024), false)]),
                any_job(),
                e(0.35),
                Partial,
                "1 nomination",
            ),
            case(
                "undated nomination",
                won(vec![award(None, false)]),
                any_job(),
                e(0.175),
                Partial,
                "1 nomination, none dated.",
            ),
            case(
                "wins and nominations saturate",
                won(vec![
                    award(Some(2024), true),
                    award(Some(2023), true),
                    award(Some(2023), false),
                    award(Some(2001), true),
                ]),
                any_job(),
                e(2.85),
                Match,
                "3 wins and 1 nomination, the latest in 2024 (3 in the last 5 years).",
            ),
        ],
    );
}

#[test]
fn dream_gig_table() {
    let dreams = |items: &[&str]| {
        let items = strings(items);
        talent(move |t| t.dream_gigs = items)
    };
    let musical = || {
        job(|j| {
            j.title = "Lead role".into();
            j.description = "A new musical in the West End".into();
            j.production_type = ProductionType::Theatre;
        })
    };
    run_table(
        Factor::DreamGig,
        &[
            case(
                "no dream gigs",
                dreams(&[]),
                musical(),
                0.5,
                NoData,
                "The profile lists no dream gigs.",
            ),
            case(
                "only stop-words",
                dreams(&["the a of", "  "]),
                musical(),
                0.5,
                NoData,
                "no dream gigs",
            ),
            case(
                "every word found, Theatre through the production type",
                dreams(&["Lead in a West End Theatre musical"]),
                musical(),
                1.0,
                Match,
                "Dream gig 'Lead in a West End Theatre musical' shares 5 of its 5 words with the \
                 job (lead, west, end, theatre and musical).",
            ),
            case(
                "theater spelled the American way in the job",
                dreams(&["theatre"]),
                job(|j| j.description = "Summer theater tour".into()),
                1.0,
                Match,
                "shares 1 of its 1 word with the job (theater)",
            ),
            case(
                "the best of several gigs",
                dreams(&["Space opera", "Marvel superhero film"]),
                job(|j| {
                    j.title = "Dog food ad".into();
                    j.production_type = ProductionType::Film;
                }),
                1.0 / 3.0,
                Partial,
                "'Marvel superhero film' shares 1 of its 3 words with the job (film)",
            ),
            case(
                "nothing shared",
                dreams(&["Space opera"]),
                musical(),
                0.0,
                NoMatch,
                "The dream gig shares no word with the job or its production type.",
            ),
        ],
    );
}

#[test]
fn languages_table() {
    use Proficiency::*;
    let speaks = |langs: Vec<LanguageSkill>, accents: &[&str]| {
        let accents = strings(accents);
        talent(move |t| {
            t.languages = langs;
            t.accents = accents;
        })
    };
    let needs = |langs: Vec<LanguageSkill>, accents: &[&str]| {
        let accents = strings(accents);
        job(move |j| {
            j.requirements.languages = langs;
            j.requirements.accents = accents;
        })
    };
    run_table(
        Factor::Languages,
        &[
            case(
                "no requirement",
                speaks(vec![], &[]),
                needs(vec![], &[]),
                1.0,
                Match,
                "The job states no language requirements.",
            ),
            case(
                "above the minimum",
                speaks(vec![lang("en", Native)], &[]),
                needs(vec![lang("EN", Fluent)], &[]),
                1.0,
                Match,
                "1 of 1 language requirement met: en at NATIVE (FLUENT required).",
            ),
            case(
                "exactly the minimum",
                speaks(vec![lang("en", Fluent)], &[]),
                needs(vec![lang("en", Fluent)], &[]),
                1.0,
                Match,
                "at FLUENT (FLUENT required)",
            ),
            case(
                "one step below counts half",
                speaks(vec![lang("en", Conversational)], &[]),
                needs(vec![lang("en", Fluent)], &[]),
                0.5,
                Partial,
                "0.5 of 1 language requirement met: en at CONVERSATIONAL, below the FLUENT required.",
            ),
            case(
                "one of two languages",
                speaks(vec![lang("en", Native)], &[]),
                needs(vec![lang("en", Basic), lang("fr", Basic)], &[]),
                0.5,
                Partial,
                "no fr (BASIC required)",
            ),
            case(
                "language not spoken",
                speaks(vec![lang("en", Native)], &[]),
                needs(vec![lang("de", Basic)], &[]),
                0.0,
                NoMatch,
                "0 of 1 language requirement met: no de (BASIC required).",
            ),
            case(
                "accent matched after normalisation",
                speaks(vec![], &["irish"]),
                needs(vec![], &["Irish accent"]),
                1.0,
                Match,
                "1 of 1 language requirement met: the Irish accent.",
            ),
            case(
                "accents not listed are left out",
                speaks(vec![lang("en", Native)], &[]),
                needs(vec![lang("en", Fluent)], &["Irish"]),
                1.0,
                Match,
                "accents not stated (Irish required)",
            ),
            case(
                "languages and accents, partly met",
                speaks(vec![lang("en", Basic)], &["Irish"]),
                needs(vec![lang("en", Fluent)], &["Scottish"]),
                0.25,
                Partial,
                "0.5 of 2 language requirements met: en at BASIC, below the FLUENT required and no Scottish accent.",
            ),
            case(
                "nothing checkable",
                speaks(vec![], &[]),
                needs(vec![lang("en", Fluent)], &["Irish"]),
                0.5,
                NoData,
                "The job asks for en at FLUENT and the Irish accent, but the profile lists no languages or accents to compare.",
            ),
        ],
    );
}

#[test]
fn availability_table() {
    let free = |windows: Vec<AvailabilityWindow>| talent(move |t| t.availability = windows);
    let shoot = |start: Option<&str>, end: Option<&str>| {
        job(move |j| {
            j.shoot_start = start.map(day);
            j.shoot_end = end.map(day);
        })
    };
    let march = || shoot(Some("2025-03-01"), Some("2025-03-10"));
    run_table(
        Factor::Availability,
        &[
            case(
                "no shoot dates",
                free(vec![]),
                shoot(None, None),
                1.0,
                Match,
                "The job states no shoot dates.",
            ),
            case(
                "no windows",
                free(vec![]),
                march(),
                0.5,
                NoData,
                "The profile lists no availability windows for the shoot from 2025-03-01 to \
                 2025-03-10.",
            ),
            case(
                "one window covers the shoot",
                free(vec![window("2025-02-20", "2025-03-15")]),
                march(),
                1.0,
                Match,
                "Available for all 10 shoot days (2025-03-01 to 2025-03-10).",
            ),
            case(
                "overlapping windows are not counted twice",
                free(vec![
                    window("2025-03-01", "2025-03-03"),
                    window("2025-03-02", "2025-03-05"),
                ]),
                march(),
                0.5,
                Partial,
                "Available 5 of the 10 shoot days",
            ),
            case(
                "touching windows cover the whole",
                free(vec![
                    window("2025-03-06", "2025-03-10"),
                    window("2025-03-01", "2025-03-05"),
                ]),
                march(),
                1.0,
                Match,
                "all 10",
            ),
            case(
                "a window starting on the last day",
                free(vec![window("2025-03-10", "2025-03-20")]),
                march(),
                0.1,
                Partial,
                "Available 1 of the 10 shoot days",
            ),
            case(
                "a window starting the day after",
                free(vec![window("2025-03-11", "2025-03-20")]),
                march(),
                0.0,
                NoMatch,
                "Available on none of the 10 shoot days",
            ),
            case(
                "one date alone is a one-day shoot",
                free(vec![window("2025-03-05", "2025-03-05")]),
                shoot(Some("2025-03-05"), None),
                1.0,
                Match,
                "Available on the one shoot day (2025-03-05).",
            ),
        ],
    );
}

#[test]
fn factors_are_listed_in_order_with_their_names() {
    let names: Vec<&str> = Factor::ALL.iter().map(|f| f.as_str()).collect();
    assert_eq!(
        names,
        [
            "SALARY_ALIGNMENT",
            "WORK_AUTHORIZATION",
            "PHYSICAL_ATTRIBUTES",
            "NOTABLE_WORKS",
            "PRODUCTION_EXPERIENCE",
            "AWARDS",
            "DREAM_GIG",
            "LANGUAGES",
            "AVAILABILITY",
        ]
    );
    for (i, f) in Factor::ALL.iter().enumerate() {
        assert_eq!(f.index(), i);
        assert_eq!(Factor::parse(f.as_str()), Some(*f));
    }
    assert_eq!(Verdict::NoMatch.as_str(), "NO_MATCH");
}

// ---------------------------------------------------------------------------------------------
// The total.

/// A demanding job: every factor has something to check.
fn demanding_job() -> JobFeatures {
    job(|j| {
        j.title = "Lead detective".into();
        j.project_name = Some("Harbour Lights".into());
        j.description = "A crime film shot in Dublin; the lead is a tired detective".into();
        j.production_type = ProductionType::Film;
        j.location_country = Some("IE".into());
        j.pay_min = Some(500);
        j.pay_max = Some(800);
        j.currency = Some("EUR".into());
        j.requirements = JobRequirements {
            gender: Some("female".into()),
            playing_age_min: Some(35),
            playing_age_max: Some(45),
            height_min_cm: Some(160),
            height_max_cm: Some(180),
            languages: vec![lang("en", Proficiency::Fluent)],
            accents: strings(&["Irish"]),
            work_authorizations: strings(&["IE"]),
            min_experience_years: Some(5),
        };
        j.shoot_start = Some(day("2025-09-01"));
        j.shoot_end = Some(day("2025-09-30"));
    })
}

/// A talent meeting every requirement of [`demanding_job`].
fn fitting_input() -> TalentInput {
    TalentInput {
        location_country: Some("IE".into()),
        gender: Some("Female".into()),
        playing_age_min: Some(38),
        playing_age_max: Some(48),
        height_cm: Some(170),
        languages: vec![
            lang("en", Proficiency::Native),
            lang("ga", Proficiency::Fluent),
        ],
        accents: strings(&["Irish", "RP"]),
        work_authorizations: strings(&["IE", "GB"]),
        notable_works: vec![
            NotableWork {
                title: "The Detective".into(),
                year: Some(2023),
                role: Some("Lead detective".into()),
                production_type: Some(ProductionType::Film),
            },
            work("Harbour Lights", Some(2024), Some(ProductionType::Film)),
            work("Dublin Nights", Some(2022), Some(ProductionType::Tv)),
        ],
        production_experience_years: Some(12),
        awards: vec![award(Some(2024), true), award(Some(2021), false)],
        dream_gigs: strings(&["Lead detective in a crime film"]),
        rate_min: Some(600),
        rate_max: Some(700),
        currency: Some("EUR".into()),
        availability: vec![window("2025-08-01", "2025-10-31")],
        works_vector: None,
        dreams_vector: None,
    }
}

/// A talent meeting none of them.
fn unfit_input() -> TalentInput {
    TalentInput {
        location_country: Some("US".into()),
        gender: Some("male".into()),
        playing_age_min: Some(18),
        playing_age_max: Some(22),
        height_cm: Some(195),
        languages: vec![lang("es", Proficiency::Native)],
        accents: strings(&["Texan"]),
        work_authorizations: strings(&["US"]),
        notable_works: vec![work(
            "Sunny Days",
            Some(2010),
            Some(ProductionType::Commercial),
        )],
        production_experience_years: Some(0),
        awards: vec![],
        dream_gigs: strings(&["Space opera"]),
        rate_min: Some(5000),
        rate_max: Some(9000),
        currency: Some("USD".into()),
        availability: vec![window("2025-01-01", "2025-02-01")],
        works_vector: None,
        dreams_vector: None,
    }
}

fn ctx_with(rates: &ExchangeRates) -> Context<'_> {
    Context {
        rates,
        today: today(),
    }
}

#[test]
fn meeting_every_requirement_beats_meeting_none() {
    let rates = rates();
    let ctx = ctx_with(&rates);
    let j = demanding_job();
    let fit = score(
        &TalentFeatures::new(&fitting_input()),
        &j,
        &Weights::default(),
        &ctx,
    );
    let unfit = score(
        &TalentFeatures::new(&unfit_input()),
        &j,
        &Weights::default(),
        &ctx,
    );
    for f in &fit.factors {
        assert!(
            f.verdict == Match || f.factor == Factor::NotableWorks,
            "{}: {} {}",
            f.factor,
            f.verdict,
            f.explanation
        );
    }
    for f in &unfit.factors {
        assert!(
            matches!(f.verdict, NoMatch | NoData),
            "{}: {} {}",
            f.factor,
            f.verdict,
            f.explanation
        );
    }
    assert!(fit.total > 95.0, "{}", fit.total);
    assert!(unfit.total < 5.0, "{}", unfit.total);
}

#[test]
fn no_data_is_left_out_of_the_total() {
    let rates = rates();
    let ctx = ctx_with(&rates);
    let j = demanding_job();
    let w = Weights::default();

    // Without awards the fitting talent loses nothing: AWARDS is NO_DATA, not 0.
    let mut no_awards = fitting_input();
    no_awards.awards.clear();
    let s = score(&TalentFeatures::new(&no_awards), &j, &w, &ctx);
    assert_eq!(s.factor(Factor::Awards).verdict, NoData);
    let with_data: Vec<&FactorScore> = s.factors.iter().filter(|f| f.verdict != NoData).collect();
    let num: f32 = with_data.iter().map(|f| w.get(f.factor) * f.score).sum();
    let den: f32 = with_data.iter().map(|f| w.get(f.factor)).sum();
    assert!((s.total - 100.0 * num / den).abs() < 1e-4);
    assert!(den < 0.999, "awards' weight is out");

    // A single factor with data decides alone.
    let only_rate = TalentFeatures::new(&TalentInput {
        rate_min: Some(600),
        currency: Some("EUR".into()),
        ..TalentInput::default()
    });
    let s = score(&only_rate, &j, &w, &ctx);
    let with_data: Vec<Factor> = s
        .factors
        .iter()
        .filter(|f| f.verdict != NoData)
        .map(|f| f.factor)
        .collect();
    assert_eq!(with_data, [Factor::SalaryAlignment]);
    assert_eq!(s.factors_with_data(), 1);
    assert_eq!(s.total, 100.0);

    // Nothing at all: 50.
    let empty = TalentFeatures::new(&TalentInput::default());
    let s = score(&empty, &j, &w, &ctx);
    assert!(s.factors.iter().all(|f| f.verdict == NoData), "{s:#?}");
    assert_eq!(s.total, 50.0);
    assert_eq!(score_total(&empty, &j, &w, &ctx), 50.0);

    // With data only on a factor weighted 0: also 50.
    let w0 = Weights::normalised(&[(Factor::SalaryAlignment, 0.0)]).unwrap();
    assert_eq!(score(&only_rate, &j, &w0, &ctx).total, 50.0);
    assert_eq!(score_total(&only_rate, &j, &w0, &ctx), 50.0);
}

#[test]
fn weights_shift_the_total() {
    let rates = rates();
    let ctx = ctx_with(&rates);
    let j = demanding_job();
    // Fitting in all but the rate, which is far too high.
    let mut pricey = fitting_input();
    pricey.rate_min = Some(5000);
    pricey.rate_max = Some(6000);
    let t = TalentFeatures::new(&pricey);
    let default = score_total(&t, &j, &Weights::default(), &ctx);
    let salary_heavy = Weights::normalised(&[(Factor::SalaryAlignment, 5.0)]).unwrap();
    let salary_off = Weights::normalised(&[(Factor::SalaryAlignment, 0.0)]).unwrap();
    assert!(score_total(&t, &j, &salary_heavy, &ctx) < default);
    assert!(score_total(&t, &j, &salary_off, &ctx) > default);
}

#[test]
fn score_total_equals_the_explained_total() {
    let rates = rates();
    let ctx = ctx_with(&rates);
    let jobs = [
        demanding_job(),
        job(|_| {}),
        job(|j| {
            j.remote = true;
            j.production_type = ProductionType::Theatre;
            j.description = "Theatre tour of Ireland".into();
            j.shoot_start = Some(day("2025-08-15"));
        }),
    ];
    let mut half = fitting_input();
    half.availability = vec![window("2025-09-01", "2025-09-10")];
    half.languages = vec![lang("en", Proficiency::Basic)];
    half.awards = vec![award(None, false)];
    let talents = [
        fitting_input(),
        unfit_input(),
        half,
        TalentInput::default(),
        TalentInput {
            dream_gigs: strings(&["A theater tour"]),
            rate_min: Some(100),
            currency: Some("JPY".into()),
            ..TalentInput::default()
        },
    ];
    let weights = [
        Weights::default(),
        Weights::normalised(&[(Factor::Awards, 0.0), (Factor::Languages, 2.0)]).unwrap(),
        Weights::normalised(&[(Factor::DreamGig, 1.0), (Factor::SalaryAlignment, 0.0)]).unwrap(),
    ];
    let mut checked = 0;
    for j in &jobs {
        for t in &talents {
            let t = TalentFeatures::new(t);
            for w in &weights {
                let full = score(&t, j, w, &ctx);
                let fast = score_total(&t, j, w, &ctx);
                assert!((full.total - fast).abs() < 1e-4, "{} vs {fast}", full.total);
                assert!((0.0..=100.0).contains(&fast));
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 45);
}

#[test]
fn every_factor_function_matches_score() {
    let rates = rates();
    let ctx = ctx_with(&rates);
    let t = TalentFeatures::new(&fitting_input());
    let j = demanding_job();
    let s = score(&t, &j, &Weights::default(), &ctx);
    let direct = [
        salary_alignment(&t, &j, &ctx),
        work_authorization(&t, &j, &ctx),
        physical_attributes(&t, &j, &ctx),
        notable_works(&t, &j, &ctx),
        production_experience(&t, &j, &ctx),
        awards(&t, &j, &ctx),
        dream_gig(&t, &j, &ctx),
        languages(&t, &j, &ctx),
        availability(&t, &j, &ctx),
    ];
    assert_eq!(s.factors, direct);
}

#[test]
fn score_total_allocates_nothing() {
    let rates = rates();
    let ctx = ctx_with(&rates);
    let jobs = [demanding_job(), job(|_| {})];
    let talents = [
        TalentFeatures::new(&fitting_input()),
        TalentFeatures::new(&unfit_input()),
        TalentFeatures::new(&typical_input()),
        TalentFeatures::new(&TalentInput::default()),
    ];
    let w = Weights::default();
    let before = allocations();
    let mut sum = 0.0;
    for j in &jobs {
        for t in &talents {
            sum += score_total(t, j, &w, &ctx);
        }
    }
    assert_eq!(allocations() - before, 0);
    assert!(sum > 0.0);
    // score() does allocate (its sentences): the counter works.
    let before = allocations();
    let _ = score(&talents[0], &jobs[0], &w, &ctx);
    assert!(allocations() > before);
}

/// A typical profile: 3 languages, 2 accents, 2 authorizations, 5 notable works with roles,
/// 3 awards, 2 dream gigs, 3 availability windows.
fn typical_input() -> TalentInput {
    let works = [
        ("The Quiet Harbour", "Nora", ProductionType::Film),
        ("Hamlet", "Ophelia", ProductionType::Theatre),
        ("City Lights Season 2", "Detective Ryan", ProductionType::Tv),
        ("Summer Cola", "Lead", ProductionType::Commercial),
        ("The Long Road Home", "Sister", ProductionType::Film),
    ];
    TalentInput {
        location_country: Some("GB".into()),
        gender: Some("female".into()),
        playing_age_min: Some(28),
        playing_age_max: Some(38),
        height_cm: Some(168),
        languages: vec![
            lang("en", Proficiency::Native),
            lang("fr", Proficiency::Fluent),
            lang("es", Proficiency::Conversational),
        ],
        accents: strings(&["RP", "Northern Irish"]),
        work_authorizations: strings(&["GB", "IE"]),
        notable_works: works
            .iter()
            .enumerate()
            .map(|(i, (title, role, p))| NotableWork {
                title: (*title).into(),
                year: Some(2015 + 2 * i as i32),
                role: Some((*role).into()),
                production_type: Some(*p),
            })
            .collect(),
        production_experience_years: Some(9),
        awards: vec![
            award(Some(2022), true),
            award(Some(2019), false),
            award(Some(2016), false),
        ],
        dream_gigs: strings(&[
            "Lead in a period drama for the BBC",
            "Shakespeare at the Globe Theatre",
        ]),
        rate_min: Some(450),
        rate_max: Some(700),
        currency: Some("GBP".into()),
        availability: vec![
            window("2025-06-01", "2025-07-15"),
            window("2025-09-01", "2025-10-31"),
            window("2025-12-01", "2026-01-31"),
        ],
        works_vector: None,
        dreams_vector: None,
    }
}

#[test]
fn typical_profile_fits_in_a_kibibyte() {
    let t = TalentFeatures::new(&typical_input());
    let inline = std::mem::size_of::<TalentFeatures>();
    let heap = t.heap_bytes();
    eprintln!(
        "TalentFeatures: {inline} B inline + {heap} B heap = {} B",
        t.memory_bytes()
    );
    assert_eq!(t.memory_bytes(), inline + heap);
    assert!(t.memory_bytes() < 1024, "{} bytes", t.memory_bytes());
    // The input it came from is several times larger.
    assert!(heap > 0 && inline <= 304, "{inline}");
    // With embeddings of works and dream gigs (512 dimensions): two 64-byte sketches more.
    let with = TalentFeatures::new(&TalentInput {
        works_vector: Some(unit(1, 512)),
        dreams_vector: Some(unit(2, 512)),
        ..typical_input()
    });
    assert_eq!(with.memory_bytes(), t.memory_bytes() + 128);
    assert!(with.memory_bytes() < 1024, "{} bytes", with.memory_bytes());
}

/// A deterministic pseudo-random unit vector.
fn unit(seed: u64, dims: usize) -> Vec<f32> {
    let mut s = seed.wrapping_add(0x0005_DEEC_E66D);
    let v: Vec<f32> = (0..dims)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// A talent with one old film whose title shares nothing with the detective job below, and a
/// dream gig likewise, each with the given embedding.
fn semantic_talent(works: Option<Vec<f32>>, dreams: Option<Vec<f32>>) -> TalentFeatures {
    talent(|t| {
        t.notable_works = vec![work(
            "Harbour Lights",
            Some(2012),
            Some(ProductionType::Film),
        )];
        t.dream_gigs = strings(&["Costume piece on the BBC"]);
        t.works_vector = works;
        t.dreams_vector = dreams;
    })
}

fn detective_job(vector: Option<Vec<f32>>) -> JobFeatures {
    job(|j| {
        j.title = "Inspector in a Victorian mystery".into();
        j.production_type = ProductionType::Tv;
        j.vector = vector;
    })
}

#[test]
fn embeddings_add_semantic_similarity_to_notable_works_and_dream_gigs() {
    let rates = rates();
    let ctx = ctx_with(&rates);
    let v = unit(3, 512);
    // Without embeddings: no word shared, another type, old → NO_MATCH on both.
    let plain = score(
        &semantic_talent(None, None),
        &detective_job(None),
        &Weights::default(),
        &ctx,
    );
    let works = plain.factor(Factor::NotableWorks);
    assert_eq!((works.verdict, works.score), (NoMatch, 0.0));
    assert!(
        !works.explanation.contains("semantic"),
        "{}",
        works.explanation
    );
    assert_eq!(plain.factor(Factor::DreamGig).verdict, NoMatch);

    // The same texts with embeddings the same as the job's: close, and the sentences say so.
    let close = score(
        &semantic_talent(Some(v.clone()), Some(v.clone())),
        &detective_job(Some(v.clone())),
        &Weights::default(),
        &ctx,
    );
    let works = close.factor(Factor::NotableWorks);
    assert_eq!(works.verdict, Partial);
    assert!(
        (works.score - factors::WORKS_SEMANTIC_SHARE).abs() < 1e-6,
        "{}",
        works.score
    );
    assert!(
        works
            .explanation
            .ends_with("It is semantically close to the job's text (similarity 1.00)."),
        "{}",
        works.explanation
    );
    let dream = close.factor(Factor::DreamGig);
    assert_eq!((dream.verdict, dream.score), (Match, 1.0));
    assert!(
        dream
            .explanation
            .starts_with("The dream gig shares no word with the job")
            && dream.explanation.ends_with(
                "The dream gig is semantically close to the job's text (similarity 1.00)."
            ),
        "{}",
        dream.explanation
    );
    assert!(close.total > plain.total);

    // Unrelated embeddings (random vectors: similarity near 0) change nothing but the words.
    let far = score(
        &semantic_talent(Some(unit(4, 512)), Some(unit(5, 512))),
        &detective_job(Some(v.clone())),
        &Weights::default(),
        &ctx,
    );
    let works = far.factor(Factor::NotableWorks);
    assert_eq!((works.verdict, works.score), (NoMatch, 0.0));
    assert!(
        works
            .explanation
            .contains("not semantically close to the job's text"),
        "{}",
        works.explanation
    );
    assert!((far.total - plain.total).abs() < 1e-4);

    // Embeddings of another size (a model change half done) are not compared.
    let other = score(
        &semantic_talent(Some(unit(6, 1536)), Some(unit(6, 1536))),
        &detective_job(Some(v)),
        &Weights::default(),
        &ctx,
    );
    assert_eq!(
        other.factor(Factor::NotableWorks),
        plain.factor(Factor::NotableWorks)
    );
    assert_eq!(
        other.factor(Factor::DreamGig),
        plain.factor(Factor::DreamGig)
    );
}

#[test]
fn semantic_scores_add_up_the_same_without_sentences_and_allocate_nothing() {
    let rates = rates();
    let ctx = ctx_with(&rates);
    let v = unit(9, 512);
    let near: Vec<f32> = v
        .iter()
        .zip(unit(10, 512))
        .map(|(a, b)| a + 0.6 * b)
        .collect();
    let t = TalentFeatures::new(&TalentInput {
        works_vector: Some(near.clone()),
        dreams_vector: Some(near),
        ..typical_input()
    });
    let j = detective_job(Some(v));
    let w = Weights::default();
    let explained = score(&t, &j, &w, &ctx);
    let before = allocations();
    let total = score_total(&t, &j, &w, &ctx);
    assert_eq!(allocations() - before, 0);
    assert!((explained.total - total).abs() < 1e-4);
    // Related but not the same: graded between.
    let works = explained.factor(Factor::NotableWorks);
    assert!(
        works.explanation.contains("semantically"),
        "{}",
        works.explanation
    );
}
