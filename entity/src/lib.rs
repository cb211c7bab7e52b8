//! sea-orm entities of Dialogue Insights. Every row carries its tenant; primary keys are per tenant.
//! Instants are stored as UTC epoch milliseconds (`*_ms`, BIGINT) so that both databases compare,
//! index and bucket them the same way; durations are double precision seconds.

pub mod api_key;
pub mod dialogue;
pub mod endpoint;
pub mod tenant;

mod enums;
pub use enums::{Direction, EndpointRole, Outcome};
