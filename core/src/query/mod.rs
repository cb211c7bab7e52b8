//! The query core: everything that turns a question about a tenant's dialogues and endpoints
//! into SQL and its answer into plain Rust values. It knows nothing of GraphQL or HTTP: the
//! GraphQL resolvers, the subscriptions and the OData endpoint are thin adapters over it, so a
//! filter, an order, a keyset page or a KPI means the same rows whichever way it was asked.
//!
//! Every read starts from a [`TenantScope`], the only holder of the database connection here.
mod changes;
pub mod dialogues;
pub mod endpoints;
pub mod fields;
pub mod filter;
pub mod kpi;
pub mod page;
pub mod period;
mod rollups;
mod scope;
pub mod share;
pub mod stats;

pub use dialogues::{
    DialogueKey, DialogueListRequest, DialogueOrder, DialogueOrderField, DialoguePage,
    DialogueSelection, Slot,
};
pub use endpoints::{EndpointListRequest, EndpointOrder, EndpointOrderField, EndpointPage};
pub use fields::{FieldDef, DIALOGUE_FIELDS};
pub use filter::{DialogueField, EndpointField, Filter, Kind, Op, Operand};
pub use kpi::{Figure, Kpi, Measure, RatioKpi, StatsMeasure, Threshold, CATALOGUE, RATIOS};
pub use page::{PageArgs, PageInfo, PageLimits};
pub use period::{Period, Window};
pub use scope::TenantScope;
pub use share::{ReadShare, ReadShares};
pub use stats::{
    CompareOp, Comparison, Dimension, GroupKey, HavingNode, RankArgs, StatsOrder, StatsRequest,
    StatsRow,
};
