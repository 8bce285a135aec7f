use super::*;
use async_graphql::parser::parse_query;

const SDL: &str = r#"
    type Query {
        me: User
        jobs(first: Int = 20, after: String): JobConnection!
        myGroups: [TalentGroup!]!
    }
    type User { id: ID! email: String! }
    type TalentGroup { id: ID! members: [Membership!]! }
    type Membership { group: TalentGroup! role: String }
    type JobConnection { edges: [JobEdge!]! pageInfo: PageInfo! totalCount: Int! }
    type JobEdge { node: Job! cursor: String! }
    type Job { id: ID! title: String! tags: [String!]! }
    type PageInfo { hasNextPage: Boolean! endCursor: String }
    type Mutation {
        login(email: String!): String
        deleteTalentGroup(groupId: ID!): Boolean
    }
    schema { query: Query mutation: Mutation }
"#;

fn types() -> TypeInfo {
    TypeInfo::from_sdl(SDL)
        .unwrap()
        .with_list_cap("TalentGroup", "members", 50)
}

fn run_with(
    query: &str,
    variables: serde_json::Value,
    types: &TypeInfo,
    limits: &CostLimits,
) -> Result<Analysis, CostError> {
    check_text(query, limits)?;
    let doc = parse_query(query).unwrap();
    analyse(&doc, None, &Variables::from_json(variables), types, limits)
}

fn run(query: &str) -> Result<Analysis, CostError> {
    run_with(
        query,
        serde_json::json!({}),
        &types(),
        &CostLimits::default(),
    )
}

fn cost(query: &str) -> u64 {
    run(query).unwrap().cost
}

fn generous() -> CostLimits {
    CostLimits {
        max_document_bytes: 1 << 20,
        max_tokens: 1 << 20,
        max_fragments: 1 << 20,
        max_spreads: 1 << 20,
        max_aliases: 1 << 20,
        max_directives: 1 << 20,
        max_root_mutation_fields: 1 << 20,
        ..CostLimits::default()
    }
}

/// `query{...F0} fragment F0 on <ty>{...F1 ...F1} … fragment F<n-1> on <ty>{<leaf>}`.
fn doubling(levels: usize, operation: &str, ty: &str, leaf: &str) -> String {
    let mut doc = format!("{operation}{{...F0}}");
    for i in 0..levels - 1 {
        doc.push_str(&format!(
            " fragment F{i} on {ty}{{...F{j} ...F{j}}}",
            j = i + 1
        ));
    }
    doc.push_str(&format!(" fragment F{} on {ty}{{{leaf}}}", levels - 1));
    doc
}

#[test]
fn doubling_fragments_are_rejected_on_cost() {
    let doc = doubling(25, "query", "Query", "__typename");
    assert!(doc.len() < 1000, "{}", doc.len());
    assert_eq!(
        run(&doc),
        Err(CostError(
            "the query's cost is 16777216, over the limit of 20000".to_owned()
        ))
    );
    let err = run(&doubling(40, "query", "Query", "__typename")).unwrap_err();
    assert_eq!(
        err.0,
        "the query's cost is 549755813888, over the limit of 20000"
    );
    // The same on the mutation root; the root field count saturates rather than looping.
    let err = run(&doubling(40, "mutation", "Mutation", "login(email: \"x\")")).unwrap_err();
    assert!(err.0.contains("cost"), "{err}");
}

#[test]
fn doubling_fragments_cost_saturates() {
    // 60 levels: 2^59 objects, computed without overflow or walking them.
    let limits = CostLimits {
        max_cost: u64::MAX,
        ..generous()
    };
    let doc = doubling(60, "query", "Query", "__typename");
    let analysis = run_with(&doc, serde_json::json!({}), &types(), &limits).unwrap();
    assert_eq!(analysis.cost, 1 << 59);
    let doc = doubling(64, "query", "Query", "__typename");
    let analysis = run_with(&doc, serde_json::json!({}), &types(), &limits).unwrap();
    assert_eq!(analysis.cost, 1 << 63);
    let doc = doubling(70, "query", "Query", "__typename myGroups { id }");
    let analysis = run_with(&doc, serde_json::json!({}), &types(), &limits).unwrap();
    assert_eq!(analysis.cost, u64::MAX);
}

#[test]
fn nested_list_fields_multiply() {
    // members{id} = 1 + 50×1; group{…} = 1 + 51; members{…} = 1 + 50×52; group = 1 + 2601;
    // members = 1 + 50×2602; myGroups = 1 + 50×130101.
    let err = run("{ myGroups { members { group { members { group { members { id } } } } } } }")
        .unwrap_err();
    assert_eq!(
        err.0,
        "the query's cost is 6505051, over the limit of 20000"
    );
    assert_eq!(cost("{ myGroups { members { role } } }"), 1 + 50 * (1 + 50));
    // A list of scalars is a leaf.
    assert_eq!(
        cost("{ jobs { edges { node { tags } } } }"),
        1 + 20 * (1 + (1 + 1))
    );
}

#[test]
fn list_cap_overrides_unpaged_list_cap() {
    let types = TypeInfo::from_sdl(SDL)
        .unwrap()
        .with_list_cap("TalentGroup", "members", 10)
        .with_list_cap("TalentGroup", "noSuchField", 10);
    let analysis = run_with(
        "{ myGroups { members { role } } }",
        serde_json::json!({}),
        &types,
        &CostLimits::default(),
    )
    .unwrap();
    assert_eq!(analysis.cost, 1 + 50 * (1 + 10));
}

#[test]
fn connection_multiplies_at_first_only() {
    // node{id} = 2; edges (in JobConnection) = 1 + 1×2; jobs = 1 + 100×3.
    assert_eq!(cost("{ jobs(first: 100) { edges { node { id } } } }"), 301);
    assert_eq!(
        cost("{ jobs(first: 100) { totalCount pageInfo { hasNextPage } edges { cursor node { id title } } } }"),
        1 + 100 * (1 + (1 + 1) + (1 + (1 + (1 + 2))))
    );
    // Absent or null: default_page_size; above the maximum: max_page_size.
    assert_eq!(cost("{ jobs { edges { node { id } } } }"), 61);
    assert_eq!(cost("{ jobs(first: null) { edges { node { id } } } }"), 61);
    assert_eq!(
        cost("{ jobs(first: 1000000) { edges { node { id } } } }"),
        301
    );
    // Not an int (validation rejects it): default_page_size.
    assert_eq!(
        cost(r#"{ jobs(first: "100") { edges { node { id } } } }"#),
        61
    );
}

#[test]
fn first_from_a_variable() {
    let query = "query($n: Int) { jobs(first: $n) { edges { node { id } } } }";
    let limits = CostLimits::default();
    let with = |vars| run_with(query, vars, &types(), &limits).unwrap().cost;
    assert_eq!(with(serde_json::json!({ "n": 50 })), 151);
    assert_eq!(with(serde_json::json!({ "n": 5000 })), 301);
    assert_eq!(with(serde_json::json!({ "n": 0 })), 4);
    assert_eq!(with(serde_json::json!({ "n": null })), 61);
    assert_eq!(with(serde_json::json!({})), 61);
    // The operation's default applies when the request does not give the variable.
    let query = "query($n: Int = 7) { jobs(first: $n) { edges { node { id } } } }";
    let with = |vars| run_with(query, vars, &types(), &limits).unwrap().cost;
    assert_eq!(with(serde_json::json!({})), 22);
    assert_eq!(with(serde_json::json!({ "n": 2 })), 7);
}

#[test]
fn first_zero_or_negative_counts_as_one() {
    assert_eq!(cost("{ jobs(first: 0) { edges { node { id } } } }"), 4);
    assert_eq!(cost("{ jobs(first: -5) { edges { node { id } } } }"), 4);
    // first: 0 cannot hide a multiplication under it.
    assert_eq!(
        cost("{ jobs(first: 0) { edges { node { id } } } myGroups { members { role } } }"),
        4 + 2551
    );
}

#[test]
fn fragments_and_inline_fragments_switch_type() {
    let q = "{ ...Page ... on Query { me { id } } } \
             fragment Page on Query { jobs(first: 10) { ...Edges } } \
             fragment Edges on JobConnection { edges { node { id } } }";
    assert_eq!(cost(q), (1 + 10 * 3) + (1 + 1));
    // Without a type condition the enclosing type stays.
    assert_eq!(cost("{ ... { myGroups { id } } }"), 1 + 50);
    // Unknown fields and types: 1 plus children at multiplier 1.
    assert_eq!(cost("{ mee { id } __typename }"), 2 + 1);
    assert_eq!(
        cost("{ __schema { types { name fields { name } } } }"),
        1 + (1 + 1 + (1 + 1))
    );
    assert_eq!(cost("{ ... on Nope { myGroups { id } } }"), 2);
}

#[test]
fn unknown_fragment_costs_nothing() {
    assert_eq!(cost("{ me { id } ...Missing }"), 2);
}

#[test]
fn fragment_cycles_are_errors() {
    for q in [
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        "{ ...A } fragment A on Query { me { id } ...A }",
        "{ me { id } } fragment A on Query { ... on Query { ...B } } fragment B on Query { ...C } fragment C on Query { ...A }",
    ] {
        let err = run(q).unwrap_err();
        assert!(err.0.contains("fragment cycle"), "{q}: {err}");
    }
    // A fragment spread twice is no cycle.
    assert_eq!(
        cost("{ ...A ...B } fragment A on Query { ...B ...B } fragment B on Query { me { id } }"),
        6
    );
}

#[test]
fn counted_limits() {
    let aliases = |n: usize| {
        let fields: String = (0..n).map(|i| format!(" a{i}: me {{ id }}")).collect();
        format!("{{{fields} }}")
    };
    let limits = CostLimits {
        max_tokens: 100_000,
        ..CostLimits::default()
    };
    let types = types();
    assert!(run_with(&aliases(100), serde_json::json!({}), &types, &limits).is_ok());
    let err = run_with(&aliases(101), serde_json::json!({}), &types, &limits).unwrap_err();
    assert_eq!(err.0, "the number of aliases is 101, over the limit of 100");

    let directives = |n: usize| {
        let uses: String = (0..n).map(|_| " @include(if: true)").collect();
        format!("{{ me{uses} {{ id }} }}")
    };
    assert!(run_with(&directives(50), serde_json::json!({}), &types, &limits).is_ok());
    let err = run_with(&directives(51), serde_json::json!({}), &types, &limits).unwrap_err();
    assert_eq!(
        err.0,
        "the number of directives is 51, over the limit of 50"
    );
    // Directives on operations, variables, spreads and fragments count too.
    let q = "query Q($n: Int @d) @d { ...F @d ... @d { me { id } } } fragment F on Query @d { me @d { id } }";
    let limits5 = CostLimits {
        max_directives: 5,
        ..limits
    };
    let err = run_with(q, serde_json::json!({}), &types, &limits5).unwrap_err();
    assert_eq!(err.0, "the number of directives is 6, over the limit of 5");

    let spreads = |n: usize| {
        let items: String = (0..n).map(|_| " ... on Query { me { id } }").collect();
        format!("{{{items} }}")
    };
    let limits_spreads = CostLimits {
        max_cost: u64::MAX,
        ..limits
    };
    assert!(run_with(
        &spreads(200),
        serde_json::json!({}),
        &types,
        &limits_spreads
    )
    .is_ok());
    let err = run_with(
        &spreads(201),
        serde_json::json!({}),
        &types,
        &limits_spreads,
    )
    .unwrap_err();
    assert!(err.0.contains("201, over the limit of 200"), "{err}");

    let fragments = |n: usize| {
        let mut q = "{ me { id } }".to_owned();
        for i in 0..n {
            q.push_str(&format!(" fragment F{i} on Query {{ me {{ id }} }}"));
        }
        q
    };
    assert!(run_with(&fragments(50), serde_json::json!({}), &types, &limits).is_ok());
    let err = run_with(&fragments(51), serde_json::json!({}), &types, &limits).unwrap_err();
    assert_eq!(err.0, "the number of fragments is 51, over the limit of 50");
}

#[test]
fn document_size_limit() {
    let limits = CostLimits::default();
    let q = format!("{{ me {{ id }} }}{}", " ".repeat(16 * 1024));
    let err = check_text(&q, &limits).unwrap_err();
    assert!(err.0.contains("over the limit of 16384"), "{err}");
}

#[test]
fn token_count() {
    assert_eq!(count_tokens("{ me { id } }", usize::MAX), 6);
    assert_eq!(
        count_tokens("\u{feff}query Q($n: Int! = -3, $f: Float = 1.5e-3) { ...F, ... on Query @skip(if: false) { me { id } } } # { { {\n", usize::MAX),
        // query Q ( $ n : Int ! = -3 $ f : Float = 1.5e-3 ) { ... F ... on Query @ skip ( if :
        // false ) { me { id } } }
        37
    );
    // { login ( email : "…" ) }: the string is one token, whatever it holds.
    assert_eq!(
        count_tokens(r#"{ login(email: "a \" b, c { d") }"#, usize::MAX),
        8
    );
    assert_eq!(
        count_tokens(r#"{ login(email: """a \""" "" b { c""") }"#, usize::MAX),
        8
    );
    assert_eq!(count_tokens("[ ] | & = ! é", usize::MAX), 7);
    // Unterminated: counts to the end.
    assert_eq!(count_tokens(r#"{ login(email: "abc"#, usize::MAX), 6);
    assert_eq!(count_tokens(r#"{ login(email: """abc"#, usize::MAX), 6);
    // Stops once past the limit.
    assert_eq!(count_tokens("{ a b c d e f }", 3), 4);

    let long = "x".repeat(10_000);
    let limits = CostLimits::default();
    assert_eq!(
        count_tokens(&format!(r#"{{ login(email: "{long}") }}"#), usize::MAX),
        8
    );
    assert!(check_text(&format!(r#"{{ login(email: "{long}") }}"#), &limits).is_ok());
    assert!(check_text(&format!(r#"{{ login(email: """{long}""") }}"#), &limits).is_ok());

    let many: String = (0..1_000).map(|i| format!(" a{i}: me")).collect();
    let q = format!("{{{many} }}");
    assert_eq!(
        check_text(&q, &limits),
        Err(CostError(
            "the document has more than 2000 lexical tokens, over the limit of 2000".to_owned()
        ))
    );
}

#[test]
fn root_mutation_fields_count_every_login() {
    let logins: String = (0..1_000)
        .map(|i| format!(" a{i}: login(email: \"x{i}@example.com\")"))
        .collect();
    let q = format!("mutation {{{logins} }}");
    let analysis = run_with(&q, serde_json::json!({}), &types(), &generous()).unwrap();
    assert_eq!(
        analysis,
        Analysis {
            cost: 1000,
            ranking_fields: 0,
            root_mutation_fields: 1000
        }
    );
    let limits = CostLimits {
        max_root_mutation_fields: 10,
        ..generous()
    };
    let err = run_with(&q, serde_json::json!({}), &types(), &limits).unwrap_err();
    assert_eq!(
        err.0,
        "the number of root mutation fields is 1000, over the limit of 10"
    );
}

#[test]
fn root_mutation_fields_through_fragments() {
    let q = r#"mutation {
        ... on Mutation { deleteTalentGroup(groupId: "1") }
        ...M
        login(email: "a")
    }
    fragment M on Mutation {
        login(email: "b")
        ... @include(if: false) { deleteTalentGroup(groupId: "2") }
        ...N
    }
    fragment N on Mutation { deleteTalentGroup(groupId: "3") }"#;
    assert_eq!(run(q).unwrap().root_mutation_fields, 5);
    assert_eq!(run("{ me { id } }").unwrap().root_mutation_fields, 0);
    let q = (0..11)
        .map(|i| format!(" d{i}: deleteTalentGroup(groupId: \"{i}\")"))
        .collect::<String>();
    let err = run(&format!("mutation {{ ... on Mutation {{{q} }} }}")).unwrap_err();
    assert!(err.0.contains("root mutation fields is 11"), "{err}");
}

#[test]
fn operation_selection() {
    let q = "query Small { me { id } } query Big { myGroups { members { role } } }";
    let doc = parse_query(q).unwrap();
    let (types, limits, vars) = (types(), CostLimits::default(), Variables::default());
    let cost_of = |name| analyse(&doc, name, &vars, &types, &limits).unwrap().cost;
    assert_eq!(cost_of(Some("Small")), 2);
    assert_eq!(cost_of(Some("Big")), 2551);
    // Not chosen: the maximum over all operations.
    assert_eq!(cost_of(None), 2551);
    assert_eq!(cost_of(Some("Unknown")), 2551);
    // Several operations: a variable the request does not give counts as max_page_size.
    let q =
        "query A($n: Int = 1) { jobs(first: $n) { edges { node { id } } } } query B { me { id } }";
    let doc = parse_query(q).unwrap();
    assert_eq!(
        analyse(&doc, Some("A"), &vars, &types, &limits)
            .unwrap()
            .cost,
        4
    );
    assert_eq!(
        analyse(&doc, None, &vars, &types, &limits).unwrap().cost,
        301
    );
    // Every operation must pass when none is chosen.
    let q = "query A { me { id } } query B { myGroups { members { group { members { id } } } } }";
    let doc = parse_query(q).unwrap();
    assert!(analyse(&doc, Some("A"), &vars, &types, &limits).is_ok());
    assert!(analyse(&doc, None, &vars, &types, &limits).is_err());
}

#[test]
fn type_info_from_sdl() {
    assert!(TypeInfo::from_sdl("type Query {").is_err());
    // Defaults without `schema { }`, custom roots with it, and extensions.
    let types = TypeInfo::from_sdl(
        "type Root { items: [Item!]! } type Item { id: ID! } extend type Item { subs: [Item] }
         schema { query: Root }",
    )
    .unwrap();
    assert_eq!(types.root(OperationType::Query), "Root");
    assert_eq!(types.root(OperationType::Mutation), "Mutation");
    let item = types.field("Item", "subs").unwrap();
    assert!(item.list && !item.paged && item.ty == "Item");
    let doc = parse_query("{ items { subs { id } } }").unwrap();
    let analysis = analyse(
        &doc,
        None,
        &Variables::default(),
        &types,
        &CostLimits::default(),
    )
    .unwrap();
    assert_eq!(analysis.cost, 1 + 50 * (1 + 50));
}

#[test]
fn the_real_schema() {
    let types = TypeInfo::from_sdl(&crate::graphql::schema_sdl()).unwrap();
    let jobs = types.field("Query", "jobs").unwrap();
    assert!(jobs.paged && !jobs.list && jobs.ty == "JobConnection");
    let doc = parse_query("{ jobs(first: 100) { edges { node { id } } } }").unwrap();
    let analysis = analyse(
        &doc,
        None,
        &Variables::default(),
        &types,
        &CostLimits::default(),
    )
    .unwrap();
    assert_eq!(analysis.cost, 301);
}

#[test]
fn ranking_fields_count_every_time_they_would_run() {
    let types = types().with_ranking("Query", "jobs");
    let limits = CostLimits::default();
    let ranking = |query: &str| {
        run_with(query, serde_json::json!({}), &types, &limits)
            .unwrap()
            .ranking_fields
    };
    assert_eq!(ranking("{ me { id } }"), 0);
    assert_eq!(ranking("{ jobs { totalCount } }"), 1);
    assert_eq!(
        ranking("{ a: jobs { totalCount } b: jobs(first: 0) { totalCount } }"),
        2
    );
    assert_eq!(
        ranking(
            "{ ...F ...F ... on Query { jobs { totalCount } } }
             fragment F on Query { a: jobs { totalCount } b: jobs { totalCount } }"
        ),
        5
    );
}
