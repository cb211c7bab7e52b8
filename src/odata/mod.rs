//! OData v4 at `/odata` (docs/odata.md): the vendor's own query language over the same query core as
//! GraphQL. [`parser`] turns the URL's options into the core's filter tree and order;
//! [`handlers`] answers the requests (service document, `$metadata`, entity sets, single
//! entities, `$count`) through the caller's [`insights_core::query::TenantScope`]; [`intervals`]
//! serves `QueueIntervals`, the KPIs per interval × queue, from the stats core.
mod errors;
pub mod handlers;
mod intervals;
mod json;
mod metadata;
pub mod parser;

pub use errors::error_response;
pub use handlers::routes;
pub use metadata::metadata;
