//! The guards around every GraphQL request, in one pass: checks on the text and the parsed
//! document before async-graphql executes it, and the finishing of its response after.
//!
//! async-graphql runs every extension's `resolve` hook for every field and list item it
//! resolves, the default hook that only passes the field on included: a boxed future and a
//! look-up of the field in the registry, per field and per extension. The schema that executes
//! requests therefore has no extension at all, and [`Gate`] does around `execute` what six
//! extensions did within it:
//!
//! - before: how deeply the text and the variables nest ([`limits`]); the document, from the
//!   cache ([`documents`]) or parsed, its parse errors coded ([`codes`]); how large it expands;
//!   how deeply its selections nest (async-graphql's recursion limit); per operation, the
//!   introspection switch, its root fields and aliases; the required variables; strings written
//!   for enum values ([`enum_literals`]);
//! - the library validates, with its depth and complexity limits set to ours, and executes;
//! - a request it refused before executing, or that writes strings for enums, is validated
//!   again ([`validate`]) to say why: the validator's errors, or by how much the query is over
//!   the depth or complexity limit ([`costs`]), and the enum-literal errors after them;
//! - after: the keys of `data` in the order of the request ([`order`]), a code on every error
//!   ([`codes`]), the operation's metrics ([`observe`]).
//!
//! The checks run in the order the extensions ran them, so a request that breaks several
//! limits is told about the same one.
mod codes;
mod costs;
mod documents;
mod enum_literals;
mod limits;
mod observe;
mod order;
mod validate;

pub use limits::WORKER_STACK_BYTES;

use std::any::TypeId;
use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::registry::Registry;
use async_graphql::{
    Data, OutputType, Request, Response, ServerError, SubscriptionType, Variables,
};
use futures::stream::{self, BoxStream, StreamExt};

pub(crate) use codes::MAX_RECURSIVE_DEPTH;

use super::{
    is_request_error, subscription, ApiLimits, Executable, Guards, Mutation, Query, RequestId,
    DEFAULT_PAGE_SIZE,
};
use costs::Costs;
use documents::DocumentCache;
use observe::Observe;
use validate::Validator;

/// A schema's guards, shared by all its requests.
pub(crate) struct Gate {
    guards: Guards,
    costs: Costs,
    documents: DocumentCache,
    observe: Observe,
    /// The schema's types, as the checks of documents look them up.
    registry: Registry,
    validator: Validator,
}

impl Gate {
    pub(crate) fn new(limits: ApiLimits, guards: Guards) -> Self {
        Self {
            guards,
            costs: Costs {
                max_depth: guards.max_depth,
                max_complexity: guards.max_complexity,
                default_page_size: limits.page.default_size,
                max_page_size: limits.page.max_size,
            },
            documents: DocumentCache::new(1024),
            observe: Observe::default(),
            registry: registry(),
            validator: Validator::new(guards.introspection),
        }
    }

    /// Runs a query or mutation through the guards and `schema`, and counts it.
    pub(crate) async fn execute(&self, schema: &Executable, request: Request) -> Response {
        let started = Instant::now();
        let request_id = request
            .data
            .get(&TypeId::of::<RequestId>())
            .and_then(|data| data.downcast_ref::<RequestId>())
            .map(|id| id.0.clone());
        let mut name = request.operation_name.clone();
        let mut response = match self.document(&request) {
            Err(error) => Response::from_errors(vec![error]),
            Ok(doc) => {
                if name.is_none() {
                    name = observe::only_operation(&doc);
                }
                match self.check(&doc, &request.variables) {
                    Err(error) => Response::from_errors(vec![error]),
                    Ok(enum_errors) => self.run(schema, request, doc, enum_errors).await,
                }
            }
        };
        codes::finish(&mut response, request_id.as_deref());
        self.observe.record(name.as_deref(), started, &response);
        response
    }

    /// Runs any operation through the guards and `schema` as a stream of responses: the events
    /// of a subscription, the one answer of a query or mutation (GraphQL over WebSocket).
    pub(crate) fn execute_stream(
        self: &Arc<Self>,
        schema: &Executable,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let checked = self
            .document(&request)
            .and_then(|doc| Ok((self.check(&doc, &request.variables)?, doc)));
        let (enum_errors, doc) = match checked {
            Ok(checked) => checked,
            Err(error) => return refused(vec![error]),
        };
        let gate = self.clone();
        let operation_name = request.operation_name.clone();
        if !enum_errors.is_empty() {
            let variables = std::mem::take(&mut request.variables);
            return stream::once(async move {
                let errors = gate
                    .explain(&doc, variables, operation_name, enum_errors)
                    .await;
                let mut response = Response::from_errors(errors);
                codes::finish(&mut response, None);
                response
            })
            .boxed();
        }
        // For the first response, which is the refusal if the library refuses the request.
        let mut refusal = Some(request.variables.clone());
        request.set_parsed_query((*doc).clone());
        let mut responses =
            schema.execute_stream_with_session_data(request, session_data.unwrap_or_default());
        // The library validates when the stream is first polled.
        let size = self.costs.default_page_size;
        let responses = stream::poll_fn(move |cx| {
            DEFAULT_PAGE_SIZE.sync_scope(size, || responses.poll_next_unpin(cx))
        });
        responses
            .then(move |mut response| {
                let gate = gate.clone();
                let doc = doc.clone();
                let operation_name = operation_name.clone();
                let refusal = refusal.take().filter(|_| is_request_error(&response));
                async move {
                    match refusal {
                        Some(variables) => {
                            let errors = gate
                                .explain(&doc, variables, operation_name, Vec::new())
                                .await;
                            if !errors.is_empty() {
                                response = Response::from_errors(errors);
                            }
                        }
                        None => order::order(&doc, operation_name.as_deref(), &mut response.data),
                    }
                    codes::finish(&mut response, None);
                    response
                }
            })
            .boxed()
    }

    /// The document of `request`, once its text and variables are within the nesting limits:
    /// from the cache, or parsed (and cached once it is within the expansion limit).
    fn document(&self, request: &Request) -> Result<Arc<ExecutableDocument>, ServerError> {
        limits::nesting(&request.query, &request.variables)?;
        if let Some(doc) = self.documents.get(&request.query) {
            limits::expansion(&doc)?;
            return Ok(doc);
        }
        let doc = async_graphql::parser::parse_query(&request.query).map_err(codes::parse_error)?;
        limits::expansion(&doc)?;
        let doc = Arc::new(doc);
        self.documents.put(&request.query, &doc);
        Ok(doc)
    }

    /// The checks of a parsed document. The strings it writes for enum values are returned, to
    /// be reported with the validator's errors.
    fn check(
        &self,
        doc: &ExecutableDocument,
        variables: &Variables,
    ) -> Result<Vec<ServerError>, ServerError> {
        codes::recursion(doc)?;
        limits::operations(doc, &self.guards)?;
        codes::required_variables(doc, variables)?;
        Ok(enum_literals::errors(doc, &self.registry))
    }

    /// Has the library validate and execute a checked request, and explains a refusal.
    async fn run(
        &self,
        schema: &Executable,
        mut request: Request,
        doc: Arc<ExecutableDocument>,
        enum_errors: Vec<ServerError>,
    ) -> Response {
        let operation_name = request.operation_name.clone();
        if !enum_errors.is_empty() {
            let variables = std::mem::take(&mut request.variables);
            let errors = self
                .explain(&doc, variables, operation_name, enum_errors)
                .await;
            return Response::from_errors(errors);
        }
        // The variables, to explain a refusal (the library takes the request's own).
        let kept = KeptVariables::of(&request);
        request.set_parsed_query((*doc).clone());
        let mut response = DEFAULT_PAGE_SIZE
            .scope(self.costs.default_page_size, schema.execute(request))
            .await;
        if is_request_error(&response) {
            let errors = self
                .explain(&doc, kept.variables(), operation_name, Vec::new())
                .await;
            if !errors.is_empty() {
                response = Response::from_errors(errors);
            }
        } else {
            order::order(&doc, operation_name.as_deref(), &mut response.data);
        }
        response
    }

    /// Why the library refuses `doc` (or would: it writes strings for enums): the validator's
    /// errors, or the limit its figures are over, then `enum_errors`. None when validation
    /// passes: the library's own error then stands (choosing the operation, say).
    async fn explain(
        &self,
        doc: &ExecutableDocument,
        variables: Variables,
        operation_name: Option<String>,
        enum_errors: Vec<ServerError>,
    ) -> Vec<ServerError> {
        let validated = self
            .validator
            .validate(
                doc.clone(),
                variables.clone(),
                operation_name,
                self.costs.default_page_size,
            )
            .await;
        let mut errors = match validated {
            Some(Err(errors)) => errors,
            Some(Ok(result)) => self
                .costs
                .check(&result, doc, &variables, &self.registry)
                .err()
                .into_iter()
                .collect(),
            None => Vec::new(),
        };
        errors.extend(enum_errors);
        codes::validation(&mut errors);
        errors
    }
}

/// The JSON text a request was read from, which a front door that has it attaches to the
/// request's data: should the library refuse the request, its variables are read again from
/// the text, rather than copied before every execution. A call of a thousand records carries
/// a tree of some 20,000 values, whose copy and drop cost more than all the guards' checks.
#[derive(Clone)]
pub struct RequestJson(pub Arc<[u8]>);

/// A request's variables as kept to explain a refusal: a copy, or the text to read them from.
enum KeptVariables {
    Copied(Variables),
    Text(RequestJson),
}

impl KeptVariables {
    fn of(request: &Request) -> Self {
        match request
            .data
            .get(&TypeId::of::<RequestJson>())
            .and_then(|data| data.downcast_ref::<RequestJson>())
        {
            Some(text) => Self::Text(text.clone()),
            None => Self::Copied(request.variables.clone()),
        }
    }

    fn variables(self) -> Variables {
        match self {
            Self::Copied(variables) => variables,
            // The front door read this very text into the request before.
            Self::Text(text) => serde_json::from_slice::<Request>(&text.0)
                .map(|request| request.variables)
                .unwrap_or_default(),
        }
    }
}

/// A stream of the one response refusing a request.
fn refused(errors: Vec<ServerError>) -> BoxStream<'static, Response> {
    let mut response = Response::from_errors(errors);
    codes::finish(&mut response, None);
    stream::once(async move { response }).boxed()
}

/// The types of the schema, as the checks of documents look them up (the library keeps its
/// registry to itself): those the root types reach, registered as the library registers them.
fn registry() -> Registry {
    let mut registry = Registry {
        query_type: <Query as OutputType>::type_name().into_owned(),
        mutation_type: Some(<Mutation as OutputType>::type_name().into_owned()),
        subscription_type: Some(
            <subscription::Subscription as SubscriptionType>::type_name().into_owned(),
        ),
        ..Registry::default()
    };
    <Query as OutputType>::create_type_info(&mut registry);
    <Mutation as OutputType>::create_type_info(&mut registry);
    <subscription::Subscription as SubscriptionType>::create_type_info(&mut registry);
    registry
}

#[cfg(test)]
mod tests {
    /// The checks look up every type of the schema in their own registry.
    #[test]
    fn the_registry_knows_the_types_of_the_schema() {
        let registry = super::registry();
        let sdl = crate::graphql::sdl();
        let mut types = 0;
        for line in sdl.lines() {
            let mut words = line.split_whitespace();
            if let (
                Some("type" | "input" | "enum" | "interface" | "union" | "scalar"),
                Some(name),
            ) = (words.next(), words.next())
            {
                types += 1;
                assert!(registry.types.contains_key(name), "{name} is missing");
            }
        }
        assert!(types > 20, "{types} types in the SDL");
    }
}
