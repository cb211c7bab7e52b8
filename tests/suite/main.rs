//! The integration tests, one binary: each module is what was one test file, sharing
//! `common` (fixtures, servers, databases) and compiled and linked once. `tests/ops.rs`
//! stays apart: it counts what the process-wide metrics recorder saw.
mod cluster;
mod common;
mod live;

mod apq;
mod auth;
mod cli;
mod errors;
mod fair_pool;
mod first_hour;
mod fleet;
mod hostile;
mod http;
mod import;
mod ingest_api;
mod ingest_faults;
mod isolation;
mod odata;
mod odata_fuzz;
mod odata_intervals;
mod pagination;
mod periods;
mod read_api;
mod readme;
mod relation_filters;
mod replicas;
mod request_head;
mod resume;
mod rollups;
mod rows;
mod schema;
mod smoke;
mod sse;
mod statements;
mod stats;
mod stats_compared;
mod stats_ranked;
mod subscriptions;
mod subscriptions_processes;
mod validation;
mod wallboard;
mod write_service;
