//! The GraphQL API: the schema, per-request context, and one module per part of the contract.
//! Resolvers call services; they never touch storage.

pub mod applications;
pub mod connection;
pub mod cost;
pub mod documents;
pub mod errors;
pub mod fliers;
pub mod groups;
pub mod jobs;
pub mod loaders;
pub mod matching;
pub mod media;
pub mod profiles;
pub mod search;
pub mod subscriptions;
pub mod users;

use crate::services::{AppState, RequestMeta, Viewer};
use async_graphql::{Context, MergedObject, Schema};

#[derive(MergedObject, Default)]
pub struct Query(
    users::UserQuery,
    profiles::ProfileQuery,
    jobs::JobQuery,
    applications::ApplicationQuery,
    groups::GroupQuery,
    documents::DocumentQuery,
    matching::MatchingQuery,
    documents::ExplainQuery,
    search::SearchQuery,
    fliers::FlierQuery,
    media::MediaQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    users::AuthMutation,
    profiles::ProfileMutation,
    jobs::JobMutation,
    applications::ApplicationMutation,
    groups::GroupMutation,
    documents::DocumentMutation,
    matching::MatchingMutation,
    fliers::FlierMutation,
    media::MediaMutation,
);

pub type CastYouSchema = Schema<Query, Mutation, subscriptions::SubscriptionRoot>;

/// Limits that apply to every document, whatever the transport.
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub introspection: bool,
}

/// The linear cost check every document passes before async-graphql validates it, with the
/// schema's field types and the configured limits.
pub struct QueryCost {
    types: cost::TypeInfo,
    limits: cost::CostLimits,
}

impl QueryCost {
    pub fn new(
        schema: &CastYouSchema,
        settings: &crate::configuration::Settings,
    ) -> anyhow::Result<QueryCost> {
        let q = &settings.query;
        // Lists whose length is known: a group's members are capped, a match has nine factors.
        let factors = castyou_model::Factor::ALL.len() as u64;
        let types = cost::TypeInfo::from_sdl(&schema.sdl())?
            .with_list_cap("TalentGroup", "members", settings.groups.max_members)
            .with_list_cap("Match", "factors", factors)
            .with_list_cap("Job", "matchWeights", factors)
            .with_list_cap("DiscoverLogEntry", "weights", factors)
            .with_list_cap("DiscoverLogEntry", "talents", 100)
            .with_list_cap("DiscoverLogTalent", "factors", factors)
            // Each ranks every talent or every open job, or may call the embeddings model.
            .with_ranking("Query", "discoverFeed")
            .with_ranking("Query", "jobFeed")
            .with_ranking("Query", "searchTalents");
        Ok(QueryCost {
            types,
            limits: cost::CostLimits {
                max_document_bytes: q.max_document_bytes.get(),
                max_tokens: q.max_tokens.get(),
                max_fragments: q.max_fragments.get(),
                max_spreads: q.max_spreads.get(),
                max_aliases: q.max_aliases.get(),
                max_directives: q.max_directives.get(),
                max_cost: q.max_cost.get(),
                max_root_mutation_fields: q.max_root_mutation_fields.get(),
                default_page_size: 20,
                max_page_size: 100,
                unpaged_list_cap: q.unpaged_list_cap.get(),
            },
        })
    }

    /// Size and token count, before the document is parsed.
    pub fn check_text(&self, query: &str) -> Result<(), cost::CostError> {
        cost::check_text(query, &self.limits)
    }

    /// Counts and the expanded cost of the parsed document's operation.
    pub fn analyse(
        &self,
        document: &async_graphql::parser::types::ExecutableDocument,
        operation_name: Option<&str>,
        variables: &async_graphql::Variables,
    ) -> Result<cost::Analysis, cost::CostError> {
        cost::analyse(
            document,
            operation_name,
            variables,
            &self.types,
            &self.limits,
        )
    }
}

/// This instance's actors that resolvers talk to.
pub struct Realtime {
    pub hub: actix::Addr<castyou_actors::NotificationHub>,
    pub pipelines: crate::services::pipelines::Pipelines,
    /// Publishes events to every instance (announcing notifications marked read).
    pub bus: actix::Recipient<castyou_actors::bus::Publish>,
}

/// Builds the schema once; every worker shares it.
pub fn build_schema(
    state: Option<AppState>,
    realtime: Option<Realtime>,
    limits: SchemaLimits,
) -> CastYouSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        subscriptions::SubscriptionRoot,
    )
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .limit_recursive_depth(64)
    .limit_directives(16);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    if let Some(state) = state {
        builder = builder.data(state);
    }
    if let Some(Realtime {
        hub,
        pipelines,
        bus,
    }) = realtime
    {
        builder = builder.data(hub).data(pipelines).data(bus);
    }
    builder.finish()
}

/// The schema in SDL, as `castyou schema` prints it and `schema.graphql` holds it.
pub fn schema_sdl() -> String {
    let limits = SchemaLimits {
        max_depth: usize::MAX,
        max_complexity: usize::MAX,
        introspection: true,
    };
    build_schema(None, None, limits).sdl()
}

/// Who asks and from where, set once per request (or websocket connection).
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub viewer: Option<Viewer>,
    pub meta: RequestMeta,
}

pub(crate) fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

pub(crate) fn viewer(ctx: &Context<'_>) -> Option<Viewer> {
    ctx.data_opt::<RequestContext>().and_then(|r| r.viewer)
}

pub(crate) fn meta<'a>(ctx: &Context<'a>) -> std::borrow::Cow<'a, RequestMeta> {
    match ctx.data_opt::<RequestContext>() {
        Some(r) => std::borrow::Cow::Borrowed(&r.meta),
        None => std::borrow::Cow::Owned(RequestMeta::default()),
    }
}

pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> &'a loaders::Loaders {
    ctx.data_unchecked::<loaders::LazyLoaders>().get()
}
