//! OData v4 at `/odata` (docs/odata.md): the vendor's own query language over the same query core as
//! GraphQL. [`parser`] turns the URL's options into the core's filter tree and order;
//! [`handlers`] answers the requests (service document, `$metadata`, entity sets, single
//! entities, `$count`) through the caller's [`insights_core::query::TenantScope`].
pub mod handlers;
pub mod parser;

pub use handlers::{error_response, routes};
