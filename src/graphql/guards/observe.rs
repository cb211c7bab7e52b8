//! Per-operation metrics: every GraphQL request counted by operation name and outcome, with its
//! latency, through the `metrics` facade (rendered at `/metrics`, [`crate::metrics`]).
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};
use async_graphql::{Request, Response, ServerResult, Variables};

use crate::metrics::OperationNames;

/// Creates one [`OperationMetrics`] per request; the names seen are shared, and bounded.
#[derive(Default)]
pub struct Observe {
    names: Arc<OperationNames>,
}

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationMetrics {
            names: self.names.clone(),
            name: Mutex::new(None),
        })
    }
}

pub struct OperationMetrics {
    names: Arc<OperationNames>,
    /// The request's `operationName`, or the single operation's own name.
    name: Mutex<Option<String>>,
}

/// `ok`, `field_error` (data with errors) or `request_error` (refused before execution).
fn outcome(response: &Response) -> &'static str {
    if response.errors.is_empty() {
        "ok"
    } else if super::is_request_error(response) {
        "request_error"
    } else {
        "field_error"
    }
}

#[async_trait::async_trait]
impl Extension for OperationMetrics {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let name = self.name.lock().expect("operation name lock").take();
        let operation = self.names.label(name.as_deref());
        let outcome = outcome(&response);
        metrics::counter!("insights_graphql_requests_total", "operation" => operation.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("insights_graphql_request_duration_seconds", "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        *self.name.lock().expect("operation name lock") = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        // Without `operationName`, a document runs its only operation: name it by that.
        let mut name = self.name.lock().expect("operation name lock");
        if name.is_none() {
            if let DocumentOperations::Multiple(operations) = &document.operations {
                if operations.len() == 1 {
                    *name = operations.keys().next().map(|n| n.to_string());
                }
            }
        }
        drop(name);
        Ok(document)
    }
}
