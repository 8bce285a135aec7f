use super::*;
use castyou_model::{ExchangeRates, JobInput, JobRequirements, LanguageSkill, Proficiency};
use castyou_vocab::UnionStatus;

fn rates() -> ExchangeRates {
    ExchangeRates::base_only("USD")
}

fn ctx(rates: &ExchangeRates) -> Context<'_> {
    Context {
        rates,
        today: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap_or_default(),
    }
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// A talent whose day rate is `rate` USD, in `country`.
fn talent(rate: i32, country: &str) -> (TalentFeatures, UnionStatus) {
    let input = TalentInput {
        rate_min: Some(rate),
        rate_max: Some(rate),
        currency: Some("USD".into()),
        location_country: Some(country.into()),
        languages: vec![LanguageSkill {
            language: "en".into(),
            proficiency: Proficiency::Native,
        }],
        ..TalentInput::default()
    };
    (TalentFeatures::new(&input), UnionStatus::NonUnion)
}

/// A job paying up to 500 USD a day (a rate above that scores less, the more above).
fn job(n: u128) -> JobEntry<()> {
    JobEntry::new(JobRecord {
        id: id(n),
        input: JobInput {
            title: "Lead".into(),
            pay_min: Some(300),
            pay_max: Some(500),
            currency: Some("USD".into()),
            requirements: JobRequirements::default(),
            ..JobInput::default()
        },
        weights: Weights::default(),
        application_deadline: Utc::now() + chrono::Duration::days(30),
        row: Arc::new(()),
    })
}

fn ids(page: &Page<()>) -> Vec<Uuid> {
    page.items.iter().map(|s| s.id).collect()
}

fn query(first: usize, after: Option<After>) -> DiscoverQuery {
    DiscoverQuery {
        first,
        after,
        ..DiscoverQuery::default()
    }
}

fn after_last(page: &Page<()>) -> Option<After> {
    page.items.last().map(|s| After {
        score: s.scored.total,
        id: s.id,
    })
}

fn indexed(talents: &[(u128, i32)], max_rankings: usize) -> (Index<()>, Arc<JobEntry<()>>) {
    let r = rates();
    let mut index = Index::new(max_rankings);
    for &(n, rate) in talents {
        index.put_talent(id(n), Some(talent(rate, "GB")), &ctx(&r));
    }
    index.put_job(id(1000), Some(job(1000)));
    let job = index
        .job(id(1000))
        .cloned()
        .unwrap_or_else(|| Arc::new(job(1000)));
    (index, job)
}

#[test]
fn ranks_best_first_then_by_id_and_pages_by_cursor() {
    let r = rates();
    // Rates 400 (within pay: best), 600, 600 (a tie: by id), 900 (worst).
    let (index, job) = indexed(&[(4, 900), (3, 600), (2, 600), (1, 400)], 8);
    let (page, prepared) = index.discover(&job, &query(2, None), &ctx(&r));
    assert_eq!(ids(&page), vec![id(1), id(2)]);
    assert!(page.has_next);
    assert!(
        prepared.is_some(),
        "an indexed job's ranking is offered to the cache"
    );
    let (next, _) = index.discover(&job, &query(2, after_last(&page)), &ctx(&r));
    assert_eq!(ids(&next), vec![id(3), id(4)]);
    assert!(!next.has_next);
}

#[test]
fn a_cached_ranking_follows_talent_changes_exactly() {
    let r = rates();
    let talents: Vec<(u128, i32)> = (1..=50).map(|n| (n, 300 + (n as i32 * 37) % 700)).collect();
    let (mut index, job) = indexed(&talents, 8);
    let (_, prepared) = index.discover(&job, &query(100, None), &ctx(&r));
    index.keep(prepared.unwrap_or_else(|| panic!("prepared")));
    assert_eq!(index.size().cached_rankings, 1);
    // Change some talents, add one and remove one.
    index.put_talent(id(7), Some(talent(350, "GB")), &ctx(&r));
    index.put_talent(id(20), Some(talent(2000, "GB")), &ctx(&r));
    index.put_talent(id(99), Some(talent(450, "FR")), &ctx(&r));
    index.put_talent(id(30), None, &ctx(&r));
    let (cached, none) = index.discover(&job, &query(100, None), &ctx(&r));
    assert!(none.is_none(), "served from the cache");
    // The same job, not indexed: ranked afresh.
    let fresh_job = Arc::new(self::job(1000));
    let (fresh, _) = index.discover(&fresh_job, &query(100, None), &ctx(&r));
    assert_eq!(ids(&cached), ids(&fresh));
    assert_eq!(cached.items.len(), 50);
    assert!(!ids(&cached).contains(&id(30)));
}

#[test]
fn a_ranking_prepared_before_a_change_is_not_kept() {
    let r = rates();
    let (mut index, job) = indexed(&[(1, 400), (2, 600)], 8);
    let (_, prepared) = index.discover(&job, &query(10, None), &ctx(&r));
    index.put_talent(id(3), Some(talent(350, "GB")), &ctx(&r));
    index.keep(prepared.unwrap_or_else(|| panic!("prepared")));
    assert_eq!(index.size().cached_rankings, 0);
    // A changed job drops its ranking too.
    let (_, prepared) = index.discover(&job, &query(10, None), &ctx(&r));
    index.keep(prepared.unwrap_or_else(|| panic!("prepared")));
    assert_eq!(index.size().cached_rankings, 1);
    index.put_job(id(1000), Some(self::job(1000)));
    assert_eq!(index.size().cached_rankings, 0);
}

#[test]
fn pages_never_repeat_or_skip_unchanged_talents_while_others_change() {
    let r = rates();
    let talents: Vec<(u128, i32)> = (1..=200)
        .map(|n| (n, 200 + (n as i32 * 53) % 900))
        .collect();
    let (mut index, job) = indexed(&talents, 8);
    let mut seen: Vec<Uuid> = Vec::new();
    let mut changed: HashSet<Uuid> = HashSet::new();
    let mut after = None;
    let mut round = 0u128;
    loop {
        let (page, prepared) = index.discover(&job, &query(15, after), &ctx(&r));
        if let Some(p) = prepared {
            index.keep(p);
        }
        seen.extend(ids(&page));
        if !page.has_next {
            break;
        }
        after = after_last(&page);
        // Between pages: two talents change (one better, one worse) and one joins.
        round += 1;
        for (n, rate) in [(round * 7 % 200 + 1, 250), (round * 13 % 200 + 1, 1500)] {
            index.put_talent(id(n), Some(talent(rate, "GB")), &ctx(&r));
            changed.insert(id(n));
        }
        index.put_talent(id(1000 + round), Some(talent(500, "GB")), &ctx(&r));
        changed.insert(id(1000 + round));
    }
    let unchanged: Vec<Uuid> = (1..=200).map(id).filter(|t| !changed.contains(t)).collect();
    for t in &unchanged {
        assert_eq!(seen.iter().filter(|s| *s == t).count(), 1, "{t} seen once");
    }
}

#[test]
fn filters_and_totals() {
    let r = rates();
    let mut index = Index::new(8);
    index.put_talent(id(1), Some(talent(400, "GB")), &ctx(&r));
    index.put_talent(
        id(2),
        Some((talent(450, "FR").0, UnionStatus::SagAftra)),
        &ctx(&r),
    );
    index.put_talent(id(3), Some(talent(5000, "GB")), &ctx(&r));
    index.put_job(id(1000), Some(job(1000)));
    let job = index
        .job(id(1000))
        .cloned()
        .unwrap_or_else(|| panic!("indexed"));
    let mut q = query(10, None);
    q.count_total = true;
    q.filter.country = Code::new("GB");
    let (page, _) = index.discover(&job, &q, &ctx(&r));
    assert_eq!(ids(&page), vec![id(1), id(3)]);
    assert_eq!(page.total, Some(2));
    q.filter = DiscoverFilter {
        min_score: Some(90.0),
        ..DiscoverFilter::default()
    };
    let (page, _) = index.discover(&job, &q, &ctx(&r));
    assert_eq!(ids(&page), vec![id(1), id(2)]);
    assert_eq!(page.total, Some(2));
    q.filter = DiscoverFilter {
        union_status: Some(UnionStatus::SagAftra),
        ..DiscoverFilter::default()
    };
    assert_eq!(ids(&index.discover(&job, &q, &ctx(&r)).0), vec![id(2)]);
    q.filter = DiscoverFilter {
        exclude: [id(1)].into_iter().collect(),
        ..DiscoverFilter::default()
    };
    assert_eq!(
        ids(&index.discover(&job, &q, &ctx(&r)).0),
        vec![id(2), id(3)]
    );
}

#[test]
fn the_ranking_cache_is_bounded() {
    let r = rates();
    let (mut index, _) = indexed(&[(1, 400)], 2);
    for n in 0..5 {
        index.put_job(id(n), Some(job(n)));
        let job = index
            .job(id(n))
            .cloned()
            .unwrap_or_else(|| panic!("indexed"));
        let (_, prepared) = index.discover(&job, &query(1, None), &ctx(&r));
        index.keep(prepared.unwrap_or_else(|| panic!("prepared")));
    }
    assert_eq!(index.size().cached_rankings, 2);
}

#[test]
fn the_job_feed_ranks_open_jobs_before_their_deadline() {
    let r = rates();
    let mut index = Index::new(8);
    index.put_talent(id(1), Some(talent(450, "GB")), &ctx(&r));
    let mut low = job(10);
    low.features = JobFeatures::new(&JobInput {
        pay_min: Some(100),
        pay_max: Some(200),
        currency: Some("USD".into()),
        ..JobInput::default()
    });
    index.put_job(id(10), Some(low));
    index.put_job(id(11), Some(job(11)));
    let mut past = job(12);
    past.application_deadline = Utc::now() - chrono::Duration::hours(1);
    index.put_job(id(12), Some(past));
    let page = index
        .job_feed(id(1), None, 1, true, Utc::now(), &ctx(&r))
        .unwrap_or_else(|| panic!("a profile"));
    assert_eq!(ids(&page), vec![id(11)]);
    assert!(page.has_next);
    assert_eq!(page.total, Some(2));
    let next = index
        .job_feed(id(1), after_last(&page), 1, false, Utc::now(), &ctx(&r))
        .unwrap_or_else(|| panic!("a profile"));
    assert_eq!(ids(&next), vec![id(10)]);
    assert!(!next.has_next);
    assert!(index
        .job_feed(id(2), None, 1, false, Utc::now(), &ctx(&r))
        .is_none());
    // A closed job leaves the feed.
    index.put_job(id(11), None);
    let page = index
        .job_feed(id(1), None, 5, false, Utc::now(), &ctx(&r))
        .unwrap_or_else(|| panic!("a profile"));
    assert_eq!(ids(&page), vec![id(10)]);
}

#[test]
fn announce_keeps_those_at_or_above_their_minimum() {
    let r = rates();
    let mut index = Index::new(8);
    index.put_talent(id(1), Some(talent(400, "GB")), &ctx(&r));
    index.put_talent(id(2), Some(talent(5000, "GB")), &ctx(&r));
    let job = job(10);
    // Talent 2 asks far above the pay: SALARY_ALIGNMENT 0 of 0.15 leaves about 81.
    let asks = [(id(1), 90.0), (id(2), 90.0), (id(3), 0.0), (id(2), 0.0)];
    let positions: Vec<usize> = index
        .announce(&job, &asks, &ctx(&r))
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(positions, vec![0, 3]);
}

#[test]
fn a_large_index_ranked_on_every_core_is_in_order_and_complete() {
    let r = rates();
    let talents: Vec<(u128, i32)> = (1..=20_000u128)
        .map(|n| (n * 7919 % 100_003, 200 + (n as i32 * 37) % 1200))
        .collect();
    let (index, job) = indexed(&talents, 8);
    let (page, _) = index.discover(&job, &query(20_000, None), &ctx(&r));
    assert_eq!(page.items.len(), 20_000);
    for pair in page.items.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.scored.total > b.scored.total || (a.scored.total == b.scored.total && a.id < b.id),
            "out of order: {} {} then {} {}",
            a.scored.total,
            a.id,
            b.scored.total,
            b.id
        );
    }
    let unique: HashSet<Uuid> = page.items.iter().map(|s| s.id).collect();
    assert_eq!(unique.len(), 20_000);
}
