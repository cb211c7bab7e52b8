//! What every front door shares: the application state and who is calling. The doors (`http`
//! for GraphQL over HTTP and WebSocket, `odata`) stand on this; none imports another.
pub mod auth;
pub mod client;
pub mod config;
pub mod metrics;
pub mod rate;
pub mod state;
pub mod throttle;

pub use auth::{Caller, Refusal};
pub use state::{request_id, Access, AppState, Drain};
