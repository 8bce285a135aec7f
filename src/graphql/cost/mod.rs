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

mod text;
mod types;

pub use text::check_text;
#[cfg(test)]
use text::count_tokens;
use types::FieldInfo;
pub use types::TypeInfo;

use std::collections::HashMap;
use std::convert::Infallible;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, Selection,
    SelectionSet,
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
mod tests;
