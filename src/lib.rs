//! Dialogue Insights' front doors over the core (`insights_core`). `main.rs` only parses the
//! command line and wires these together; each layer imports only those below it:
//! - [`http`]: the axum server: GraphQL over HTTP and WebSocket, GraphiQL, the wallboard, probes;
//! - [`odata`]: OData v4 at `/odata`, a thin adapter over the query core;
//! - [`graphql`]: the schema (knows nothing about HTTP), thin adapters over the query core;
//! - [`app`]: what every door shares: configuration, state, who is calling, metrics.
pub mod app;
pub mod graphql;
pub mod http;
pub mod odata;
