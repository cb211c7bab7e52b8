//! The domain's enums as GraphQL enums. The core and the entity crate know nothing of GraphQL,
//! so each is mirrored here (async-graphql's `remote` derive writes the conversions both ways,
//! and fails to compile when a variant is added to one side only).
use async_graphql::Enum;

/// The role an endpoint plays in a dialogue.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[graphql(remote = "entity::EndpointRole")]
pub enum EndpointRole {
    /// An interactive voice response menu that routes the customer to a queue.
    Ivr,
    /// A queue in which customers wait for an available agent.
    Queue,
    /// The customer who initiated or received the dialogue.
    Customer,
    /// An agent who handles dialogues.
    Agent,
}

/// Who initiated the dialogue.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[graphql(remote = "entity::Direction")]
pub enum Direction {
    /// Initiated by the customer (vendor value 1).
    Inbound,
    /// Initiated by an agent (vendor value 2).
    Outbound,
}

/// How the dialogue ended.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[graphql(remote = "entity::Outcome")]
pub enum Outcome {
    /// Queued and accepted by an agent.
    Accepted,
    /// Queued but never accepted by an agent.
    Abandoned,
    /// Disconnected before it was queued (e.g. no choice was made in the IVR).
    IvrDrop,
}

/// Size of the time buckets.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "insights_core::buckets::Granularity")]
pub enum Granularity {
    /// Quarter hours of local time.
    FifteenMinutes,
    /// Half hours of local time.
    ThirtyMinutes,
    /// Hours of local time.
    Hour,
    /// Local calendar days (23 or 25 hours on DST change days).
    Day,
    /// ISO weeks, starting Monday at local midnight.
    Week,
    /// Calendar months, starting on the 1st at local midnight.
    Month,
    /// One bucket for the whole range.
    Total,
}
