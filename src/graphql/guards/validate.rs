//! The validator's figures, for the requests the library refused.
//!
//! The schema that executes requests has no extension (see the module above), so nothing sees
//! the `ValidationResult` async-graphql computes there: its own depth and complexity limits
//! stop a request over ours, with a message that does not say by how much. A request the
//! library refused before executing it is validated again here, by a schema over the same
//! types whose one extension keeps what the validator found (its errors, or its figures) and
//! stops the request: that schema never executes anything. Valid requests never come here.
use std::sync::{Arc, Mutex, OnceLock};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Schema, ServerError, ValidationResult, Variables};

use super::codes::MAX_RECURSIVE_DEPTH;
use crate::graphql::{subscription, Mutation, Query, DEFAULT_PAGE_SIZE};

/// What the validator found: its errors, or its figures.
pub(super) type Validated = Result<ValidationResult, Vec<ServerError>>;

/// The validating schema, built when a schema first needs it.
pub(super) struct Validator {
    introspection: bool,
    schema: OnceLock<Schema<Query, Mutation, subscription::Subscription>>,
}

/// Where the extension leaves what the validator found, in the request's data.
#[derive(Clone, Default)]
struct Found(Arc<Mutex<Option<Validated>>>);

impl Validator {
    /// For a schema with introspection on or off (which the validator takes into account).
    pub(super) fn new(introspection: bool) -> Self {
        Self {
            introspection,
            schema: OnceLock::new(),
        }
    }

    fn schema(&self) -> &Schema<Query, Mutation, subscription::Subscription> {
        self.schema.get_or_init(|| {
            let mut builder = Schema::build(
                Query::default(),
                Mutation::default(),
                subscription::Subscription,
            )
            .limit_recursive_depth(MAX_RECURSIVE_DEPTH)
            .extension(Keep);
            if !self.introspection {
                builder = builder.disable_introspection();
            }
            builder.finish()
        })
    }

    /// What the validator finds in `doc` with `variables`, for the operation `operation_name`,
    /// connections without a page size costing `default_page_size`; `None` if it did not run
    /// (the document failed the library's checks before validation).
    pub(super) async fn validate(
        &self,
        doc: ExecutableDocument,
        variables: Variables,
        operation_name: Option<String>,
        default_page_size: usize,
    ) -> Option<Validated> {
        let found = Found::default();
        let mut request = Request::new(String::new())
            .variables(variables)
            .data(found.clone());
        request.operation_name = operation_name;
        request.set_parsed_query(doc);
        DEFAULT_PAGE_SIZE
            .scope(default_page_size, self.schema().execute(request))
            .await;
        let validated = found.0.lock().expect("validated lock").take();
        validated
    }
}

/// The validating schema's extension.
struct Keep;

impl ExtensionFactory for Keep {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Keep)
    }
}

#[async_trait::async_trait]
impl Extension for Keep {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let validated = next.run(ctx).await;
        if let Some(found) = ctx.data_opt::<Found>() {
            *found.0.lock().expect("validated lock") = Some(validated);
        }
        // This schema only validates.
        Err(Vec::new())
    }
}
