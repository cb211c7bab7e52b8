//! Dialogue Insights: a GraphQL service over contact-center dialogue history.
//!
//! `main.rs` only parses the command line and wires these modules together:
//! - [`db`]: connecting to SQLite or PostgreSQL and migrating;
//! - [`tenant`]: tenants and their default thresholds;
//! - [`ingest`]: importing vendor-shaped records (files and, later, mutations);
//! - [`demo`]: realistic generated data;
//! - [`query`]: the query core (filters, orders, keyset pages, stats → SQL), free of GraphQL;
//! - [`graphql`]: the schema (knows nothing about HTTP), thin adapters over the query core;
//! - [`live`]: announcing committed changes to subscribers, across processes on PostgreSQL;
//! - [`odata`]: OData v4 at `/odata`, another thin adapter over the query core;
//! - [`http`]: the axum server around it.

pub mod apq;
pub mod auth;
pub mod buckets;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod graphiql;
pub mod graphql;
pub mod http;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod odata;
pub mod query;
pub mod tenant;
pub mod throttle;
pub mod time;
pub mod wallboard;
