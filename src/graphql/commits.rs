//! Read-your-writes, the GraphQL side: a mutation that committed records the tenant's commit
//! position here, and the response carries it as `extensions.commitPosition` (the HTTP door
//! also sends it as the header `Insights-Commit-Position`). A client sends it back in
//! `Insights-Read-After` and its reads then see the commit, even on a lagging replica.
use std::sync::{Arc, Mutex};

use async_graphql::{Request, Response, Value};
use insights_core::live::position::ChangePosition;

/// The name of the position in a response's `extensions`.
pub const EXTENSION: &str = "commitPosition";

/// The latest commit a request made, shared by its mutations.
#[derive(Clone, Default)]
pub struct Commits(Arc<Mutex<Option<ChangePosition>>>);

impl Commits {
    /// Records that the request committed the tenant's change position `commit` (mutations
    /// run one after another; the last, largest, one covers the earlier ones).
    pub fn record(&self, tenant_id: i32, commit: i64) {
        let mut last = self.0.lock().expect("commits lock");
        if last.as_ref().is_none_or(|p| p.commit < commit) {
            *last = Some(ChangePosition::after_commit(tenant_id, commit));
        }
    }

    /// A request with a place for its commits, and the place.
    pub fn attach(request: Request) -> (Request, Self) {
        let commits = Self::default();
        (request.data(commits.clone()), commits)
    }

    /// Adds the commit position, if the request committed, to the response.
    pub fn finish(&self, mut response: Response) -> Response {
        if let Some(position) = self.0.lock().expect("commits lock").take() {
            response
                .extensions
                .insert(EXTENSION.to_string(), Value::String(position.encode()));
        }
        response
    }
}

/// The commit position a response carries, if any.
pub fn of(response: &Response) -> Option<&str> {
    match response.extensions.get(EXTENSION) {
        Some(Value::String(text)) => Some(text),
        _ => None,
    }
}
