//! Per-operation metrics: every GraphQL request counted by operation name and outcome, with its
//! latency, through the `metrics` facade (rendered at `/metrics`, [`crate::app::metrics`]).
use std::time::Instant;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};
use async_graphql::Response;

use crate::app::metrics::OperationNames;

/// The operation names seen (shared by the schema's requests, and bounded).
#[derive(Default)]
pub(super) struct Observe {
    names: OperationNames,
}

/// The name of a document's only operation: without `operationName`, a document runs its
/// only operation, and is named by it.
pub(super) fn only_operation(doc: &ExecutableDocument) -> Option<String> {
    match &doc.operations {
        DocumentOperations::Multiple(operations) if operations.len() == 1 => {
            operations.keys().next().map(|n| n.to_string())
        }
        _ => None,
    }
}

/// `ok`, `field_error` (data with errors) or `request_error` (refused before execution).
fn outcome(response: &Response) -> &'static str {
    if response.errors.is_empty() {
        "ok"
    } else if crate::graphql::is_request_error(response) {
        "request_error"
    } else {
        "field_error"
    }
}

impl Observe {
    /// Counts a request, named `name` (its `operationName`, or its only operation's name),
    /// that started at `started` and was answered with `response`.
    pub(super) fn record(&self, name: Option<&str>, started: Instant, response: &Response) {
        let operation = self.names.label(name);
        let outcome = outcome(response);
        metrics::counter!("insights_graphql_requests_total", "operation" => operation.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("insights_graphql_request_duration_seconds", "operation" => operation)
            .record(started.elapsed().as_secs_f64());
    }
}
