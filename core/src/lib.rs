//! The core of Dialogue Insights: everything that answers a tenant's questions about its
//! dialogues and writes its records, free of GraphQL and HTTP (the compiler keeps it so: this
//! crate depends on neither). Every front door of the service — GraphQL over HTTP and
//! WebSocket, OData, the wallboard, the command line — is an adapter over these modules:
//! - [`query`]: filters, orders, keyset pages and KPIs → SQL, over a [`query::TenantScope`];
//! - [`ingest`]: vendor-shaped records, validated and written in batches (files and mutations);
//! - [`live`]: announcing committed changes to subscribers, across processes on PostgreSQL;
//! - [`buckets`], [`time`]: time buckets in an IANA zone, instants as stored;
//! - [`keys`], [`tenant`]: API keys and tenants; [`db`]: connecting and migrating;
//! - [`demo`]: realistic generated history;
//! - [`error`]: the neutral error every door words in its own terms.
pub mod buckets;
pub mod db;
pub mod demo;
pub mod error;
pub mod ingest;
pub mod keys;
pub mod live;
pub mod query;
pub mod reads;
pub mod rollups;
pub mod tenant;
pub mod time;
