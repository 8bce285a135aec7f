//! A linear pre-check of a GraphQL document, run before async-graphql's own validation (whose
//! depth and complexity visitors re-walk every fragment spread and do not multiply by list
//! lengths). [`check_text`] bounds the raw text (bytes, lexical tokens); [`analyse`] bounds the
//! parsed document (fragments, spreads, aliases, directives, root mutation fields) and its cost:
//! the number of objects and values the operation could produce once expanded.
//!
//! # Cost model
//!
//! - A selection set costs the sum of its selections; an inline fragment adds its own selection
//!   set (costed on its type condition, or on the enclosing type without one); a fragment spread
//!   adds the cost of the fragment, computed once per fragment name on its type condition.
//!   A spread of an unknown fragment costs 0 (validation reports it); a fragment cycle is an error.
//! - A field costs `1 + multiplier × cost(its selection set on the field's named type)`, so a
//!   leaf field (and `__typename`) costs 1.
//! - The multiplier of a field that takes `first` in the schema is the value of `first` (a literal
//!   int, or the variable's value, or the operation's default for it), `default_page_size` when
//!   absent, null or not an int; clamped to `1..=max_page_size` (`first: 0` counts as 1, so it
//!   cannot hide an expansion under it).
//! - The multiplier of any other list field is its cap from [`TypeInfo::with_list_cap`] if set,
//!   else 1 inside a type whose name ends in `Connection` (the `edges` of a page that was already
//!   multiplied by `first`), else `unpaged_list_cap`. Every other field multiplies by 1.
//! - A field the SDL does not know (a typo, or introspection's `__schema`/`__type`) costs 1 plus
//!   its children costed with no type information (multiplier 1 all the way down).
//! - `@skip`/`@include` are ignored: skipped selections are counted (conservative).
//! - Arithmetic saturates at `u64::MAX`. Each fragment and the operation are walked once, with an
//!   explicit stack, so time and memory are linear in the document.

use std::collections::HashMap;
use std::convert::Infallible;

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, Field, FieldDefinition, OperationDefinition,
    OperationType, Selection, SelectionSet, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Positioned, Value as ConstValue, Variables};

/// Limits, filled from configuration by the caller.
#[derive(Debug, Clone, Copy)]
pub struct CostLimits {
    /// Size of the query text, in bytes.
    pub max_document_bytes: usize,
    /// Lexical tokens of the query text (names, numbers, strings, punctuators).
    pub max_tokens: usize,
    /// Fragment definitions.
    pub max_fragments: usize,
    /// Fragment spreads plus inline fragments, as written (not expanded).
    pub max_spreads: usize,
    /// Aliased fields, as written.
    pub max_aliases: usize,
    /// Directive uses anywhere in the document, as written.
    pub max_directives: usize,
    /// The expanded, list-multiplied cost of the operation (see the module doc).
    pub max_cost: u64,
    /// Root fields of a mutation, expanded through inline fragments and fragment spreads.
    pub max_root_mutation_fields: usize,
    /// A paged field's `first` when absent, null or not an int.
    pub default_page_size: u64,
    /// The largest `first` counted (larger values count as this).
    pub max_page_size: u64,
    /// Multiplier of a list field without `first`, unless overridden per field.
    pub unpaged_list_cap: u64,
}

impl Default for CostLimits {
    /// The values the design suggests; configuration normally supplies its own.
    fn default() -> Self {
        CostLimits {
            max_document_bytes: 16 * 1024,
            max_tokens: 2_000,
            max_fragments: 50,
            max_spreads: 200,
            max_aliases: 100,
            max_directives: 50,
            max_cost: 20_000,
            max_root_mutation_fields: 10,
            default_page_size: 20,
            max_page_size: 100,
            unpaged_list_cap: 50,
        }
    }
}

/// Why a document was rejected, in plain English: the limit, the value and the limit's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostError(pub String);

impl std::fmt::Display for CostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CostError {}

fn over(
    what: impl std::fmt::Display,
    value: impl std::fmt::Display,
    limit: impl std::fmt::Display,
) -> CostError {
    CostError(format!("{what} {value}, over the limit of {limit}"))
}

/// What the cost model needs to know about one field of an object or interface type.
#[derive(Debug, Clone)]
struct FieldInfo {
    /// The named return type, without list and non-null wrappers.
    ty: String,
    /// Whether the return type is a list (at any level).
    list: bool,
    /// Whether the field takes a `first` argument.
    paged: bool,
    /// A per-field multiplier overriding `unpaged_list_cap`.
    cap: Option<u64>,
    /// The field ranks many rows or calls a model (`with_ranking`): counted apart.
    ranking: bool,
}

/// Field return types of the schema, built once from its SDL.
#[derive(Debug, Clone)]
pub struct TypeInfo {
    types: HashMap<String, HashMap<String, FieldInfo>>,
    query: String,
    mutation: String,
    subscription: String,
}

impl TypeInfo {
    /// Parses the SDL (async_graphql::parser::parse_schema) and records, for every
    /// object/interface type, each field's named return type, whether it is a list, and whether
    /// it takes a `first` argument. Root types: Query, Mutation, Subscription (read
    /// `schema { ... }` if present; otherwise those defaults).
    pub fn from_sdl(sdl: &str) -> anyhow::Result<TypeInfo> {
        let doc = async_graphql::parser::parse_schema(sdl)?;
        let mut info = TypeInfo {
            types: HashMap::new(),
            query: "Query".to_owned(),
            mutation: "Mutation".to_owned(),
            subscription: "Subscription".to_owned(),
        };
        for definition in &doc.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    let schema = &schema.node;
                    if let Some(name) = &schema.query {
                        info.query = name.node.to_string();
                    }
                    if let Some(name) = &schema.mutation {
                        info.mutation = name.node.to_string();
                    }
                    if let Some(name) = &schema.subscription {
                        info.subscription = name.node.to_string();
                    }
                }
                TypeSystemDefinition::Type(ty) => {
                    let fields = match &ty.node.kind {
                        TypeKind::Object(object) => &object.fields,
                        TypeKind::Interface(interface) => &interface.fields,
                        _ => continue,
                    };
                    // `extend type` adds to the fields already recorded.
                    let entry = info.types.entry(ty.node.name.node.to_string()).or_default();
                    for field in fields {
                        entry.insert(field.node.name.node.to_string(), field_info(&field.node));
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        Ok(info)
    }

    /// Overrides the multiplier of an unpaged list field, e.g. ("TalentGroup", "members", 50).
    /// A field the SDL does not have is ignored (with a warning in the log).
    #[must_use]
    pub fn with_list_cap(mut self, type_name: &str, field: &str, cap: u64) -> TypeInfo {
        match self
            .types
            .get_mut(type_name)
            .and_then(|fields| fields.get_mut(field))
        {
            Some(info) => info.cap = Some(cap),
            None => tracing::warn!(
                type_name,
                field,
                "list cap for a field the schema does not have"
            ),
        }
        self
    }

    /// Marks a field that ranks many rows or calls a model (`discoverFeed`, `searchTalents`):
    /// each time it would run counts towards `Analysis::ranking_fields`.
    #[must_use]
    pub fn with_ranking(mut self, type_name: &str, field: &str) -> TypeInfo {
        match self
            .types
            .get_mut(type_name)
            .and_then(|fields| fields.get_mut(field))
        {
            Some(info) => info.ranking = true,
            None => tracing::warn!(
                type_name,
                field,
                "ranking mark for a field the schema does not have"
            ),
        }
        self
    }

    fn field(&self, type_name: &str, field: &str) -> Option<&FieldInfo> {
        self.types.get(type_name)?.get(field)
    }

    fn root(&self, ty: OperationType) -> &str {
        match ty {
            OperationType::Query => &self.query,
            OperationType::Mutation => &self.mutation,
            OperationType::Subscription => &self.subscription,
        }
    }
}

fn field_info(field: &FieldDefinition) -> FieldInfo {
    let mut ty: &Type = &field.ty.node;
    let mut list = false;
    let name = loop {
        match &ty.base {
            BaseType::Named(name) => break name,
            BaseType::List(inner) => {
                list = true;
                ty = inner;
            }
        }
    };
    FieldInfo {
        ty: name.to_string(),
        list,
        paged: field
            .arguments
            .iter()
            .any(|arg| arg.node.name.node == "first"),
        cap: None,
        ranking: false,
    }
}

/// Before parsing: document size and lexical token count (a small, linear GraphQL lexer: skip
/// whitespace, commas, `#` comments, BOM; count names, numbers, strings including """block
/// strings""" with escapes, and punctuators `! $ & ( ) ... : = @ [ ] { | }`). Unterminated
/// strings etc. are not its problem: it counts to the end (the parser reports syntax errors).
/// Stops counting as soon as the limit is passed.
pub fn check_text(query: &str, limits: &CostLimits) -> Result<(), CostError> {
    if query.len() > limits.max_document_bytes {
        return Err(over(
            "the document's size in bytes is",
            query.len(),
            limits.max_document_bytes,
        ));
    }
    let tokens = count_tokens(query, limits.max_tokens);
    if tokens > limits.max_tokens {
        return Err(CostError(format!(
            "the document has more than {0} lexical tokens, over the limit of {0}",
            limits.max_tokens
        )));
    }
    Ok(())
}

/// Counts lexical tokens, stopping once the count passes `stop_after`.
fn count_tokens(query: &str, stop_after: usize) -> usize {
    let b = query.as_bytes();
    let mut i = 0;
    let mut tokens = 0usize;
    while let Some(&c) = b.get(i) {
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            0xEF if b[i..].starts_with(&[0xEF, 0xBB, 0xBF]) => {
                i += 3;
                continue;
            }
            b'#' => {
                while b.get(i).is_some_and(|&c| c != b'\n' && c != b'\r') {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        tokens += 1;
        if tokens > stop_after {
            return tokens;
        }
        i = match c {
            b'"' => skip_string(b, i),
            b'.' if b[i..].starts_with(b"...") => i + 3,
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                skip_while(b, i + 1, |c| c == b'_' || c.is_ascii_alphanumeric())
            }
            b'-' | b'0'..=b'9' => skip_number(b, i + 1),
            // Not valid outside strings and comments: one token per character.
            0xF0.. => i + 4,
            0xE0.. => i + 3,
            0xC0.. => i + 2,
            _ => i + 1,
        };
    }
    tokens
}

fn skip_while(b: &[u8], mut i: usize, keep: impl Fn(u8) -> bool) -> usize {
    while b.get(i).is_some_and(|&c| keep(c)) {
        i += 1;
    }
    i
}

/// Skips the rest of a number (`-12`, `1.5e-3`); trailing letters are swallowed too.
fn skip_number(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        let exponent_sign = (c == b'+' || c == b'-') && i > 0 && matches!(b[i - 1], b'e' | b'E');
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || exponent_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// Skips a string starting at `i` (at a `"`): a block string up to its closing `"""` (an escaped
/// `\"""` does not close it), or a plain string up to its unescaped `"` or the end of the line.
fn skip_string(b: &[u8], i: usize) -> usize {
    if b[i..].starts_with(b"\"\"\"") {
        let mut j = i + 3;
        while j < b.len() {
            if b[j..].starts_with(b"\\\"\"\"") {
                j += 4;
            } else if b[j..].starts_with(b"\"\"\"") {
                return j + 3;
            } else {
                j += 1;
            }
        }
        return b.len();
    }
    let mut j = i + 1;
    while let Some(&c) = b.get(j) {
        match c {
            b'\\' => j += 2,
            b'"' => return j + 1,
            b'\n' | b'\r' => return j,
            _ => j += 1,
        }
    }
    b.len()
}

/// What the caller needs after a successful check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Analysis {
    pub cost: u64,
    /// How many times fields marked with `TypeInfo::with_ranking` would run, multiplied like
    /// the cost (an alias, a fragment spread or a list around one counts again).
    pub ranking_fields: u64,
    /// Root mutation fields that would execute (after expanding inline fragments and fragment
    /// spreads at the root; 0 for queries/subscriptions). Fields under `@skip`/`@include` are
    /// counted whatever the condition (conservative); every occurrence counts, even with the same
    /// response key.
    pub root_mutation_fields: usize,
}

/// After parsing: counts fragments, spreads, aliases, directives over the whole document; then
/// computes the cost of the selected operation with each fragment's cost computed once (memoised
/// by fragment name). A fragment cycle is an error; a spread of an unknown fragment costs 0
/// (async-graphql's validation reports it).
///
/// The operation is chosen as async-graphql chooses it: `operation_name`, or the only one. When
/// it cannot be chosen (unknown name, or several operations and no name), every operation is
/// analysed, each must pass, and the result is the maximum of each figure; variables then absent
/// from `variables` count as `max_page_size` (the operations' defaults may differ).
pub fn analyse(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    types: &TypeInfo,
    limits: &CostLimits,
) -> Result<Analysis, CostError> {
    if doc.fragments.len() > limits.max_fragments {
        return Err(over(
            "the number of fragments is",
            doc.fragments.len(),
            limits.max_fragments,
        ));
    }

    // Index the fragments and count what is written, once per definition.
    let fragments: Vec<_> = doc.fragments.iter().collect();
    let index: HashMap<&str, usize> = fragments
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (name.as_str(), i))
        .collect();
    let mut counts = Counts::default();
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(fragments.len());
    for (_, fragment) in &fragments {
        counts.directives += fragment.node.directives.len();
        let mut spreads = Vec::new();
        counts.walk(&fragment.node.selection_set.node, &mut spreads);
        deps.push(
            spreads
                .iter()
                .filter_map(|name| index.get(name).copied())
                .collect(),
        );
    }
    for (_, operation) in doc.operations.iter() {
        let operation = &operation.node;
        counts.directives += operation.directives.len();
        for variable in &operation.variable_definitions {
            counts.directives += variable.node.directives.len();
        }
        counts.walk(&operation.selection_set.node, &mut Vec::new());
    }
    if counts.spreads > limits.max_spreads {
        return Err(over(
            "the number of fragment spreads and inline fragments is",
            counts.spreads,
            limits.max_spreads,
        ));
    }
    if counts.aliases > limits.max_aliases {
        return Err(over(
            "the number of aliases is",
            counts.aliases,
            limits.max_aliases,
        ));
    }
    if counts.directives > limits.max_directives {
        return Err(over(
            "the number of directives is",
            counts.directives,
            limits.max_directives,
        ));
    }

    let order = dependency_order(&deps).map_err(|i| {
        CostError(format!(
            "the document has a fragment cycle through fragment \"{}\"",
            fragments[i].0
        ))
    })?;

    // Which operations to analyse.
    let chosen = match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), None) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node)
        }
        _ => None,
    };
    let operations: Vec<&OperationDefinition> = match chosen {
        Some(op) => vec![op],
        None => doc.operations.iter().map(|(_, op)| &op.node).collect(),
    };
    let defaults = match chosen {
        Some(op) => Defaults::Operation(
            op.variable_definitions
                .iter()
                .filter_map(|v| {
                    Some((
                        v.node.name.node.as_str(),
                        &v.node.default_value.as_ref()?.node,
                    ))
                })
                .collect(),
        ),
        None => Defaults::WorstCase,
    };

    let costing = Costing {
        types,
        limits,
        variables,
        defaults,
        index: &index,
    };
    // Fragments in dependency order: every spread inside one is already known.
    let mut fragment_cost = vec![Tally::default(); fragments.len()];
    let mut fragment_root_fields = vec![0usize; fragments.len()];
    for i in order {
        let fragment = &fragments[i].1.node;
        let set = &fragment.selection_set.node;
        fragment_cost[i] = costing.selection_set(
            set,
            Some(fragment.type_condition.node.on.node.as_str()),
            &fragment_cost,
        );
        fragment_root_fields[i] = costing.root_fields(set, &fragment_root_fields);
    }

    let mut analysis = Analysis {
        cost: 0,
        ranking_fields: 0,
        root_mutation_fields: 0,
    };
    for operation in operations {
        let set = &operation.selection_set.node;
        let tally = costing.selection_set(set, Some(types.root(operation.ty)), &fragment_cost);
        let cost = tally.cost;
        if cost > limits.max_cost {
            return Err(over("the query's cost is", cost, limits.max_cost));
        }
        analysis.cost = analysis.cost.max(cost);
        analysis.ranking_fields = analysis.ranking_fields.max(tally.ranking);
        if operation.ty == OperationType::Mutation {
            let fields = costing.root_fields(set, &fragment_root_fields);
            if fields > limits.max_root_mutation_fields {
                return Err(over(
                    "the number of root mutation fields is",
                    fields,
                    limits.max_root_mutation_fields,
                ));
            }
            analysis.root_mutation_fields = analysis.root_mutation_fields.max(fields);
        }
    }
    Ok(analysis)
}

/// What is written in the document, not expanded.
#[derive(Default)]
struct Counts {
    spreads: usize,
    aliases: usize,
    directives: usize,
}

impl Counts {
    /// Counts one selection set and everything nested in it, and collects the names of the
    /// fragments it spreads.
    fn walk<'a>(&mut self, set: &'a SelectionSet, spreads: &mut Vec<&'a str>) {
        let mut stack = vec![set];
        while let Some(set) = stack.pop() {
            for selection in &set.items {
                self.directives += selection.node.directives().len();
                match &selection.node {
                    Selection::Field(field) => {
                        if field.node.alias.is_some() {
                            self.aliases += 1;
                        }
                        stack.push(&field.node.selection_set.node);
                    }
                    Selection::FragmentSpread(spread) => {
                        self.spreads += 1;
                        spreads.push(spread.node.fragment_name.node.as_str());
                    }
                    Selection::InlineFragment(inline) => {
                        self.spreads += 1;
                        stack.push(&inline.node.selection_set.node);
                    }
                }
            }
        }
    }
}

/// Orders the fragments so that each comes after every fragment it spreads (an iterative
/// depth-first search, linear in fragments plus spreads); `Err(i)` when fragment `i` is on a cycle.
fn dependency_order(deps: &[Vec<usize>]) -> Result<Vec<usize>, usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; deps.len()];
    let mut order = Vec::with_capacity(deps.len());
    for start in 0..deps.len() {
        if mark[start] != Mark::New {
            continue;
        }
        mark[start] = Mark::Open;
        let mut stack = vec![(start, 0usize)];
        while let Some((node, next)) = stack.last_mut() {
            let node = *node;
            match deps[node].get(*next) {
                Some(&dep) => {
                    *next += 1;
                    match mark[dep] {
                        Mark::New => {
                            mark[dep] = Mark::Open;
                            stack.push((dep, 0));
                        }
                        Mark::Open => return Err(dep),
                        Mark::Done => {}
                    }
                }
                None => {
                    mark[node] = Mark::Done;
                    order.push(node);
                    stack.pop();
                }
            }
        }
    }
    Ok(order)
}

/// Where a variable's value comes from when the request does not give it.
enum Defaults<'a> {
    /// The chosen operation's default values.
    Operation(HashMap<&'a str, &'a ConstValue>),
    /// No single operation: assume the largest page.
    WorstCase,
}

struct Costing<'a> {
    types: &'a TypeInfo,
    limits: &'a CostLimits,
    variables: &'a Variables,
    defaults: Defaults<'a>,
    index: &'a HashMap<&'a str, usize>,
}

/// What a selection set adds up to: its cost, and the ranking fields in it.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    cost: u64,
    ranking: u64,
}

impl Tally {
    fn add(self, other: Tally) -> Tally {
        Tally {
            cost: self.cost.saturating_add(other.cost),
            ranking: self.ranking.saturating_add(other.ranking),
        }
    }

    /// A field's selection set counted `m` times, plus the field itself.
    fn field(self, m: u64, ranking: bool) -> Tally {
        Tally {
            cost: m.saturating_mul(self.cost).saturating_add(1),
            ranking: m
                .saturating_mul(self.ranking)
                .saturating_add(u64::from(ranking)),
        }
    }
}

/// A selection set being costed: the rest of its items, its type, its running sum and how it adds
/// into the selection set around it.
struct Frame<'a> {
    items: std::slice::Iter<'a, Positioned<Selection>>,
    ty: Option<&'a str>,
    sum: Tally,
    /// The field whose selection set this is ranks (counted once, outside the multiplier).
    ranking: bool,
    /// `Some(m)`: a field's selection set, adding `1 + m × sum`; `None`: an inline fragment,
    /// adding `sum`.
    multiplier: Option<u64>,
}

impl<'a> Costing<'a> {
    /// The cost of a selection set on type `ty` (`None`: unknown), with fragment costs from
    /// `fragment_cost` (by index; already computed for every fragment spread here).
    fn selection_set(
        &self,
        set: &'a SelectionSet,
        ty: Option<&'a str>,
        fragment_cost: &[Tally],
    ) -> Tally {
        let mut stack = vec![Frame {
            items: set.items.iter(),
            ty,
            sum: Tally::default(),
            ranking: false,
            multiplier: None,
        }];
        while let Some(top) = stack.last_mut() {
            match top.items.next().map(|selection| &selection.node) {
                Some(Selection::Field(field)) => {
                    let field = &field.node;
                    let info = top.ty.and_then(|ty| self.types.field(ty, &field.name.node));
                    let ranking = info.is_some_and(|info| info.ranking);
                    if field.selection_set.node.items.is_empty() {
                        top.sum = top.sum.add(Tally::default().field(0, ranking));
                        continue;
                    }
                    let multiplier = self.multiplier(top.ty, info, field);
                    stack.push(Frame {
                        items: field.selection_set.node.items.iter(),
                        ty: info.map(|info| info.ty.as_str()),
                        sum: Tally::default(),
                        ranking,
                        multiplier: Some(multiplier),
                    });
                }
                Some(Selection::InlineFragment(inline)) => {
                    let inline = &inline.node;
                    let ty = match &inline.type_condition {
                        Some(condition) => Some(condition.node.on.node.as_str()),
                        None => top.ty,
                    };
                    stack.push(Frame {
                        items: inline.selection_set.node.items.iter(),
                        ty,
                        sum: Tally::default(),
                        ranking: false,
                        multiplier: None,
                    });
                }
                Some(Selection::FragmentSpread(spread)) => {
                    let cost = self
                        .index
                        .get(spread.node.fragment_name.node.as_str())
                        .and_then(|&i| fragment_cost.get(i))
                        .copied()
                        .unwrap_or_default();
                    top.sum = top.sum.add(cost);
                }
                None => {
                    let Some(done) = stack.pop() else { break };
                    let add = match done.multiplier {
                        Some(m) => done.sum.field(m, done.ranking),
                        None => done.sum,
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.sum = parent.sum.add(add),
                        None => return done.sum,
                    }
                }
            }
        }
        Tally::default()
    }

    /// The fields a selection set puts at its own level, through inline fragments and spreads
    /// (`fragment_fields` by index, already computed for every fragment spread here).
    fn root_fields(&self, set: &'a SelectionSet, fragment_fields: &[usize]) -> usize {
        let mut total = 0usize;
        let mut stack = vec![set];
        while let Some(set) = stack.pop() {
            for selection in &set.items {
                match &selection.node {
                    Selection::Field(_) => total = total.saturating_add(1),
                    Selection::InlineFragment(inline) => {
                        stack.push(&inline.node.selection_set.node);
                    }
                    Selection::FragmentSpread(spread) => {
                        let fields = self
                            .index
                            .get(spread.node.fragment_name.node.as_str())
                            .and_then(|&i| fragment_fields.get(i))
                            .copied()
                            .unwrap_or(0);
                        total = total.saturating_add(fields);
                    }
                }
            }
        }
        total
    }

    /// How many times a field's selection set counts (see the module doc).
    fn multiplier(&self, parent: Option<&str>, info: Option<&FieldInfo>, field: &Field) -> u64 {
        let Some(info) = info else { return 1 };
        if info.paged {
            return self.page_size(field);
        }
        if !info.list {
            return 1;
        }
        match info.cap {
            Some(cap) => cap.max(1),
            None if parent.is_some_and(|parent| parent.ends_with("Connection")) => 1,
            None => self.limits.unpaged_list_cap.max(1),
        }
    }

    /// The `first` a paged field asks for, clamped to `1..=max_page_size`.
    fn page_size(&self, field: &Field) -> u64 {
        let requested = field.get_argument("first").and_then(|value| {
            // The argument's value type is not exported by async-graphql: resolve a bare
            // variable by substituting null and noting its name.
            let mut variable = None;
            let value = value.node.clone().into_const_with(|name| {
                variable = Some(name);
                Ok::<_, Infallible>(ConstValue::Null)
            });
            match (value, variable) {
                (Ok(ConstValue::Number(n)), _) => as_int(&ConstValue::Number(n)),
                (Ok(ConstValue::Null), Some(name)) => self.variable(&name),
                _ => None,
            }
        });
        let limit = self.limits.max_page_size.max(1);
        match requested {
            Some(n) => u64::try_from(n).unwrap_or(0).clamp(1, limit),
            None => self.limits.default_page_size.clamp(1, limit),
        }
    }

    /// An int variable's value: from the request, else the operation's default.
    fn variable(&self, name: &str) -> Option<i64> {
        if let Some(value) = self.variables.get(name) {
            return as_int(value);
        }
        match &self.defaults {
            Defaults::Operation(defaults) => defaults.get(name).and_then(|value| as_int(value)),
            Defaults::WorstCase => {
                Some(i64::try_from(self.limits.max_page_size).unwrap_or(i64::MAX))
            }
        }
    }
}

fn as_int(value: &ConstValue) -> Option<i64> {
    match value {
        ConstValue::Number(n) => n.as_i64().or_else(|| n.as_u64().map(|_| i64::MAX)),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
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
        let err =
            run("{ myGroups { members { group { members { group { members { id } } } } } } }")
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
            cost(
                "{ ...A ...B } fragment A on Query { ...B ...B } fragment B on Query { me { id } }"
            ),
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
        let q = "query A($n: Int = 1) { jobs(first: $n) { edges { node { id } } } } query B { me { id } }";
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
        let q =
            "query A { me { id } } query B { myGroups { members { group { members { id } } } } }";
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
}
