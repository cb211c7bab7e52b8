//! The GraphQL schema (docs/api.md). It knows nothing about HTTP: the server (or a test) builds
//! a request, scopes it to a tenant with [`scoped`], and executes it.
pub mod apq;
pub mod commits;
pub mod dialogues;
pub mod endpoints;
pub mod enums;
pub mod filter;
mod guards;
pub use guards::{RequestJson, WORKER_STACK_BYTES};
pub mod loader;
pub mod mutation;
mod rows;
pub use rows::rows_resolved_in_one_pass;
pub mod scalars;
pub mod stats;
pub mod stats_input;
pub mod subscription;

use std::sync::Arc;

use async_graphql::{
    Context, Data, Enum, Executor, Guard, MergedObject, Request, Response, Schema, SimpleObject,
};
use futures::stream::BoxStream;

use insights_core::error::{graphql_name, ApiError, ApiResult, ErrorCode};
use insights_core::keys::{Scope, Scopes};
use insights_core::live::Announcer;
use insights_core::query::{self, PageLimits, TenantScope};

/// Ascending or descending.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum OrderDirection {
    /// Smallest first; absent values last.
    Asc,
    /// Largest first; absent values first.
    Desc,
}

/// Relay page information.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct PageInfo {
    /// More items follow the last one returned.
    pub has_next_page: bool,
    /// More items precede the first one returned.
    pub has_previous_page: bool,
    /// Cursor of the first item returned.
    pub start_cursor: Option<String>,
    /// Cursor of the last item returned.
    pub end_cursor: Option<String>,
}

impl From<&query::PageInfo> for PageInfo {
    fn from(info: &query::PageInfo) -> Self {
        Self {
            has_next_page: info.has_next_page,
            has_previous_page: info.has_previous_page,
            start_cursor: info.start_cursor.clone(),
            end_cursor: info.end_cursor.clone(),
        }
    }
}

/// The root query: one part per domain.
#[derive(MergedObject, Default)]
pub struct Query(
    dialogues::DialogueQuery,
    endpoints::EndpointQuery,
    stats::StatsQuery,
);

/// The root mutation: the write path.
#[derive(MergedObject, Default)]
pub struct Mutation(mutation::IngestMutation);

/// The schema as async-graphql builds it: without extensions, whose `resolve` hooks the library
/// would run for every field (the guards run around it, `guards`).
pub(crate) type Executable = Schema<Query, Mutation, subscription::Subscription>;

/// The GraphQL schema with its guards: every request runs through the checks and the finishing
/// of `guards` around the library's execution. Cloning it is cheap.
#[derive(Clone)]
pub struct InsightsSchema {
    schema: Executable,
    gate: Arc<guards::Gate>,
}

impl InsightsSchema {
    /// Executes a query or mutation.
    pub async fn execute(&self, request: impl Into<Request>) -> Response {
        let (request, commits) = commits::Commits::attach(request.into());
        commits.finish(self.gate.execute(&self.schema, request).await)
    }

    /// Executes any operation as a stream of responses (a subscription's events, or the one
    /// answer of a query), with the data of a session (a WebSocket connection's, an event
    /// stream's).
    pub fn execute_stream(
        &self,
        request: impl Into<Request>,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        use futures::StreamExt;
        let (request, commits) = commits::Commits::attach(request.into());
        self.gate
            .execute_stream(&self.schema, request, session_data)
            .map(move |response| commits.finish(response))
            .boxed()
    }

    /// The schema in SDL.
    pub fn sdl(&self) -> String {
        self.schema.sdl()
    }
}

/// For the WebSocket transport.
impl Executor for InsightsSchema {
    async fn execute(&self, request: Request) -> Response {
        InsightsSchema::execute(self, request).await
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        InsightsSchema::execute_stream(self, request, session_data)
    }
}

/// Limits that shape answers (not the guards against abuse, which the schema builder sets).
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    pub page: PageLimits,
    pub max_stats_rows: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            page: PageLimits {
                default_size: 50,
                max_size: 500,
            },
            max_stats_rows: 100_000,
        }
    }
}

/// Guards against abusive queries.
#[derive(Debug, Clone, Copy)]
pub struct Guards {
    pub max_depth: usize,
    pub max_complexity: usize,
    /// Most root fields one operation may select.
    pub max_root_fields: usize,
    /// Most aliases one operation may use.
    pub max_aliases: usize,
    pub introspection: bool,
}

impl Default for Guards {
    fn default() -> Self {
        Self {
            max_depth: 16,
            max_complexity: 50_000,
            max_root_fields: 20,
            max_aliases: 200,
            introspection: true,
        }
    }
}

/// The schema with an announcer of its own (tests, `insights schema`).
pub fn build_schema(limits: ApiLimits, guards: Guards) -> InsightsSchema {
    build_schema_with(limits, guards, Announcer::default())
}

/// The schema, with the process's one [`Announcer`] in its data: writers announce through it
/// what they commit, subscribers hear of it (`ctx.data::<Announcer>()`).
pub fn build_schema_with(
    limits: ApiLimits,
    guards: Guards,
    announcer: Announcer,
) -> InsightsSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        subscription::Subscription,
    )
    .data(limits)
    .data(announcer)
    // No extension: the guards run around `execute` (guards::Gate). The library's own depth
    // and complexity limits stop a request over ours before it executes; the gate then says
    // by how much.
    .limit_recursive_depth(guards::MAX_RECURSIVE_DEPTH)
    .limit_depth(guards.max_depth)
    .limit_complexity(guards.max_complexity);
    if !guards.introspection {
        builder = builder.disable_introspection();
    }
    InsightsSchema {
        schema: builder.finish(),
        gate: Arc::new(guards::Gate::new(limits, guards)),
    }
}

/// The SDL of the schema, as `insights schema` prints it and `schema.graphql` holds it.
pub fn sdl() -> String {
    build_schema(ApiLimits::default(), Guards::default()).sdl()
}

/// Confines a request to one tenant with every scope (no-auth mode and tests).
pub fn scoped(request: impl Into<Request>, scope: TenantScope) -> Request {
    authorized(request, scope, Scopes::all(), None)
}

/// Whether a response is a request error: it never reached execution (parse, validation,
/// limits), so it has errors without paths and no `data`.
pub fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// Identifies a request in logs and in the `extensions.requestId` of internal errors.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Confines a request to one tenant and what its key may do: the tenant scope and the batched
/// endpoint loader built on it travel with the request, and every resolver reads through them.
pub fn authorized(
    request: impl Into<Request>,
    scope: TenantScope,
    scopes: Scopes,
    request_id: Option<String>,
) -> Request {
    let loader = loader::EndpointLoader::new(scope.clone());
    let mut request = request.into().data(scope).data(loader).data(scopes);
    if let Some(id) = request_id {
        request = request.data(RequestId(id));
    }
    request
}

/// Lets a root field run only for keys that carry `Scope`.
pub(crate) struct ScopeGuard(pub Scope);

impl Guard for ScopeGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        match ctx.data_opt::<Scopes>() {
            Some(scopes) if scopes.contains(self.0) => Ok(()),
            _ => Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("this API key lacks the `{}` scope", self.0.as_str()),
            )
            .graphql()),
        }
    }
}

pub(crate) fn scope<'a>(ctx: &Context<'a>) -> &'a TenantScope {
    ctx.data_unchecked::<TenantScope>()
}

pub(crate) fn limits(ctx: &Context<'_>) -> ApiLimits {
    *ctx.data_unchecked::<ApiLimits>()
}

tokio::task_local! {
    /// The page size of a connection asked for without `first`/`last`, while a request of the
    /// schema that configured it is validated (see `guards::costs`). Complexity functions see
    /// neither the context nor the schema's data; scoping it to the validating task keeps two
    /// schemas with different defaults in one process apart.
    pub(crate) static DEFAULT_PAGE_SIZE: usize;
}

/// A connection field costs its page size times what each item selects; without `first` or
/// `last` the page size is the configured default.
pub(crate) fn page_complexity(
    first: Option<i32>,
    last: Option<i32>,
    child_complexity: usize,
) -> usize {
    let default = DEFAULT_PAGE_SIZE
        .try_with(|size| *size)
        .unwrap_or(ApiLimits::default().page.default_size);
    let size = first
        .or(last)
        .map_or(default, |n| usize::try_from(n).unwrap_or(0))
        .max(1);
    size.saturating_mul(child_complexity).saturating_add(1)
}

/// The GraphQL door's wording of a core error: the message in GraphQL's argument names, the
/// stable code in `extensions.code`.
pub trait GraphqlError {
    fn graphql(self) -> async_graphql::Error;
}

impl GraphqlError for ApiError {
    fn graphql(self) -> async_graphql::Error {
        use async_graphql::ErrorExtensions;
        let code = self.code.as_str();
        let Some(busy) = self.busy_for() else {
            return async_graphql::Error::new(self.render(&graphql_name))
                .extend_with(|_, e| e.set("code", code));
        };
        // A refusal for lack of capacity: the wait in `retryAfter` (seconds), and the `Busy`
        // kept as the error's source so the HTTP door can answer 429/503 with `Retry-After`.
        let seconds = insights_core::error::retry_after_secs(busy.retry_after);
        async_graphql::Error::new_with_source(BusyRefusal {
            message: self.render(&graphql_name),
            busy,
        })
        .extend_with(|_, e| {
            e.set("code", code);
            e.set("retryAfter", seconds);
        })
    }
}

/// A core refusal for lack of capacity, as the source of a GraphQL error.
#[derive(Debug)]
pub struct BusyRefusal {
    message: String,
    pub busy: insights_core::error::Busy,
}

impl std::fmt::Display for BusyRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Whether a response has no data at all (every root field null) and every error is a
/// refusal for lack of capacity: the request as a whole was refused, not answered in part.
pub fn only_refused_for_capacity(response: &async_graphql::Response) -> bool {
    let no_data = match &response.data {
        async_graphql::Value::Null => true,
        async_graphql::Value::Object(fields) => {
            fields.values().all(|v| *v == async_graphql::Value::Null)
        }
        _ => false,
    };
    no_data
        && !response.errors.is_empty()
        && response
            .errors
            .iter()
            .all(|e| e.source::<BusyRefusal>().is_some())
}

/// The longest wait among a response's refusals for lack of capacity, and whether the whole
/// server was saturated (rather than the caller's share).
pub fn busy_in(response: &async_graphql::Response) -> Option<insights_core::error::Busy> {
    response
        .errors
        .iter()
        .filter_map(|e| e.source::<BusyRefusal>().map(|r| r.busy))
        .reduce(|a, b| insights_core::error::Busy {
            retry_after: a.retry_after.max(b.retry_after),
            server: a.server || b.server,
        })
}

/// A core result in the GraphQL door's words (`query.run().gql()?`).
pub trait GraphqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GraphqlResult<T> for ApiResult<T> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(GraphqlError::graphql)
    }
}
