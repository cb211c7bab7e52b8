//! Dialogue Insights' front doors over the core (`insights_core`): the GraphQL schema, the HTTP
//! server around it, OData, the wallboard and GraphiQL. `main.rs` only parses the command line
//! and wires these together:
//! - [`graphql`]: the schema (knows nothing about HTTP), thin adapters over the query core;
//! - [`odata`]: OData v4 at `/odata`, another thin adapter over the query core;
//! - [`http`]: the axum server: GraphQL over HTTP and WebSocket, auth, limits, probes;
//! - [`config`]: the server's one configuration struct.

pub mod apq;
pub mod config;
pub mod graphiql;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod odata;
pub mod throttle;
pub mod wallboard;
