use sea_orm::entity::prelude::*;

/// The role an endpoint plays in a dialogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
pub enum EndpointRole {
    /// An interactive voice response menu that routes the customer to a queue.
    #[sea_orm(num_value = 1)]
    Ivr,
    /// A queue in which customers wait for an available agent.
    #[sea_orm(num_value = 2)]
    Queue,
    /// The customer who initiated or received the dialogue.
    #[sea_orm(num_value = 3)]
    Customer,
    /// An agent who handles dialogues.
    #[sea_orm(num_value = 4)]
    Agent,
}

impl EndpointRole {
    /// The vendor's spelling (`Ivr`, `Queue`, ...), matched case-insensitively; GraphQL names too.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "ivr" => Some(Self::Ivr),
            "queue" => Some(Self::Queue),
            "customer" => Some(Self::Customer),
            "agent" => Some(Self::Agent),
            _ => None,
        }
    }

    pub fn code(self) -> i16 {
        match self {
            Self::Ivr => 1,
            Self::Queue => 2,
            Self::Customer => 3,
            Self::Agent => 4,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        [Self::Ivr, Self::Queue, Self::Customer, Self::Agent]
            .into_iter()
            .find(|r| r.code() as i64 == code)
    }

    pub fn vendor_name(self) -> &'static str {
        match self {
            Self::Ivr => "Ivr",
            Self::Queue => "Queue",
            Self::Customer => "Customer",
            Self::Agent => "Agent",
        }
    }
}

/// Who initiated the dialogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
pub enum Direction {
    /// Initiated by the customer (vendor value 1).
    #[sea_orm(num_value = 1)]
    Inbound,
    /// Initiated by an agent (vendor value 2).
    #[sea_orm(num_value = 2)]
    Outbound,
}

impl Direction {
    /// The vendor's `1`/`2`, or the names `Inbound`/`Outbound` (case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "1" | "inbound" => Some(Self::Inbound),
            "2" | "outbound" => Some(Self::Outbound),
            _ => None,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(Self::Inbound),
            2 => Some(Self::Outbound),
            _ => None,
        }
    }

    pub fn code(self) -> i16 {
        match self {
            Self::Inbound => 1,
            Self::Outbound => 2,
        }
    }
}

/// How the dialogue ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
pub enum Outcome {
    /// Queued and accepted by an agent.
    #[sea_orm(num_value = 1)]
    Accepted,
    /// Queued but never accepted by an agent.
    #[sea_orm(num_value = 2)]
    Abandoned,
    /// Disconnected before it was queued (e.g. no choice was made in the IVR).
    #[sea_orm(num_value = 3)]
    IvrDrop,
}

impl Outcome {
    /// The vendor's `Accepted`/`Abandoned`/`IvrDrop` (case-insensitive; `IVR_DROP` too).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "accepted" => Some(Self::Accepted),
            "abandoned" => Some(Self::Abandoned),
            "ivrdrop" | "ivr_drop" => Some(Self::IvrDrop),
            _ => None,
        }
    }

    pub fn vendor_name(self) -> &'static str {
        match self {
            Self::Accepted => "Accepted",
            Self::Abandoned => "Abandoned",
            Self::IvrDrop => "IvrDrop",
        }
    }

    pub fn code(self) -> i16 {
        match self {
            Self::Accepted => 1,
            Self::Abandoned => 2,
            Self::IvrDrop => 3,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        [Self::Accepted, Self::Abandoned, Self::IvrDrop]
            .into_iter()
            .find(|o| o.code() as i64 == code)
    }
}
