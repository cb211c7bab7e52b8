//! The filter fields of a dialogue, each declared once: one row of [`DIALOGUE_FIELDS`] says
//! what the query core, GraphQL and OData need to know of it. Everything else derives from the
//! row:
//! - the core's filter translation (the column, whether it may be absent, what it holds:
//!   [`Field`] for [`DialogueField`]);
//! - the pre-aggregates (`query::rollups`: which grain column holds it, if any);
//! - GraphQL: `DialogueFilter` reads each operator input by the row's GraphQL name, with the
//!   operator input of the row's [`Kind`] (`src/graphql/filter.rs`); selections and the
//!   one-pass rows read the value by the same name;
//! - OData: the Dialogue's properties (`DIALOGUE_PROPS`, in this order), their EDM type (from
//!   the kind), their values and `$metadata`.
//!
//! The relation filters (`ivr`, `queue`, `customer`, `agent`) are declared by
//! [`Slot`](super::Slot): each names the id field whose endpoint it matches.
//!
//! Adding a field: one row here (the enum variant comes with it) and the input field of
//! `DialogueFilter` (docs/architecture.md, "Adding a filter field").
use entity::dialogue::{self, Column as C};

use super::dialogues::Slot;
use super::filter::{Field, Kind, Operand};
use sea_orm::sea_query::Expr;

/// One filter field of a dialogue: its row of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    pub field: DialogueField,
    /// The stored column.
    pub column: dialogue::Column,
    /// What it holds (which operands and operators it takes, in every front end).
    pub kind: Kind,
    /// Whether a dialogue may lack it.
    pub nullable: bool,
    /// The GraphQL name: the input field of `DialogueFilter`, the field of `Dialogue`, and the
    /// name in the core's messages.
    pub graphql: &'static str,
    /// The OData property of the Dialogue (the vendor's spelling, matched case-insensitively).
    pub odata: &'static str,
    /// The column of the pre-aggregate grains keyed by it (`crate::rollups::GRAINS`), if any.
    pub rollup: Option<&'static str>,
    /// Its value in a dialogue.
    pub value: fn(&dialogue::Model) -> Operand,
}

/// Declares [`DialogueField`] and [`DIALOGUE_FIELDS`] from one list, so that a variant cannot
/// lack its row nor a row its variant, and `ALL` is in the rows' order.
macro_rules! dialogue_fields {
    ($( $(#[doc = $doc:literal])* $variant:ident { $($key:ident: $value:expr),+ $(,)? } ),+ $(,)?) => {
        /// The fields of a dialogue a filter can compare (one row each in [`DIALOGUE_FIELDS`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum DialogueField {
            $( $(#[doc = $doc])* $variant, )+
        }

        /// The catalogue: one row per [`DialogueField`], in the order of the OData properties.
        pub const DIALOGUE_FIELDS: &[FieldDef] = &[
            $( FieldDef { field: DialogueField::$variant, $($key: $value),+ }, )+
        ];
    };
}

fn text(value: &Option<String>) -> Operand {
    value.clone().map_or(Operand::Null, Operand::Text)
}

fn instant(value: Option<i64>) -> Operand {
    value.map_or(Operand::Null, Operand::Instant)
}

fn float(value: Option<f64>) -> Operand {
    value.map_or(Operand::Null, Operand::Float)
}

fn flag(value: Option<bool>) -> Operand {
    value.map_or(Operand::Null, Operand::Bool)
}

dialogue_fields! {
    /// The dialogue's id.
    Id {
        column: C::Id,
        kind: Kind::Id,
        nullable: false,
        graphql: "id",
        odata: "id",
        rollup: None,
        value: |d| Operand::Text(d.id.clone()),
    },
    /// The date at which the dialogue was received.
    StartDate {
        column: C::StartDate,
        kind: Kind::Date,
        nullable: false,
        graphql: "startDate",
        odata: "startDate",
        rollup: None,
        value: |d| Operand::Date(d.start_date),
    },
    /// When the dialogue was received.
    StartTimestamp {
        column: C::StartTimestampMs,
        kind: Kind::Instant,
        nullable: false,
        graphql: "startTimestamp",
        odata: "startTimestamp",
        rollup: None,
        value: |d| Operand::Instant(d.start_timestamp_ms),
    },
    /// When the dialogue entered the queue.
    QueueEnterTimestamp {
        column: C::QueueEnterTimestampMs,
        kind: Kind::Instant,
        nullable: true,
        graphql: "queueEnterTimestamp",
        odata: "queueEnterTimestamp",
        rollup: None,
        value: |d| instant(d.queue_enter_timestamp_ms),
    },
    /// When an agent accepted the dialogue.
    AcceptTimestamp {
        column: C::AcceptTimestampMs,
        kind: Kind::Instant,
        nullable: true,
        graphql: "acceptTimestamp",
        odata: "acceptTimestamp",
        rollup: None,
        value: |d| instant(d.accept_timestamp_ms),
    },
    /// When the dialogue ended.
    EndTimestamp {
        column: C::EndTimestampMs,
        kind: Kind::Instant,
        nullable: true,
        graphql: "endTimestamp",
        odata: "endTimestamp",
        rollup: None,
        value: |d| instant(d.end_timestamp_ms),
    },
    /// Seconds in the IVR.
    IvrDuration {
        column: C::IvrDurationInSec,
        kind: Kind::Float,
        nullable: true,
        graphql: "ivrDurationInSec",
        odata: "ivrDurationInSec",
        rollup: None,
        value: |d| float(d.ivr_duration_in_sec),
    },
    /// Seconds in the queue.
    QueueDuration {
        column: C::QueueDurationInSec,
        kind: Kind::Float,
        nullable: true,
        graphql: "queueDurationInSec",
        odata: "queueDurationInSec",
        rollup: None,
        value: |d| float(d.queue_duration_in_sec),
    },
    /// Seconds connected with the initial agent.
    InitialTalkDuration {
        column: C::InitialTalkDurationInSec,
        kind: Kind::Float,
        nullable: true,
        graphql: "initialTalkDurationInSec",
        odata: "initialTalkDurationInSec",
        rollup: None,
        value: |d| float(d.initial_talk_duration_in_sec),
    },
    /// Seconds from start to end.
    SessionDuration {
        column: C::SessionDurationInSec,
        kind: Kind::Float,
        nullable: true,
        graphql: "sessionDurationInSec",
        odata: "sessionDurationInSec",
        rollup: None,
        value: |d| float(d.session_duration_in_sec),
    },
    /// The IVR endpoint's id.
    IvrId {
        column: C::IvrId,
        kind: Kind::Id,
        nullable: true,
        graphql: "ivrId",
        odata: "ivrId",
        rollup: Some("ivr_id"),
        value: |d| text(&d.ivr_id),
    },
    /// The queue endpoint's id.
    QueueId {
        column: C::QueueId,
        kind: Kind::Id,
        nullable: true,
        graphql: "queueId",
        odata: "queueId",
        rollup: Some("queue_id"),
        value: |d| text(&d.queue_id),
    },
    /// The customer endpoint's id.
    CustomerId {
        column: C::CustomerId,
        kind: Kind::Id,
        nullable: true,
        graphql: "customerId",
        odata: "customerId",
        rollup: None,
        value: |d| text(&d.customer_id),
    },
    /// The agent endpoint's id.
    AgentId {
        column: C::AgentId,
        kind: Kind::Id,
        nullable: true,
        graphql: "agentId",
        odata: "agentId",
        rollup: Some("agent_id"),
        value: |d| text(&d.agent_id),
    },
    /// Inbound or outbound.
    Direction {
        column: C::Direction,
        kind: Kind::Direction,
        nullable: false,
        graphql: "direction",
        odata: "direction",
        rollup: Some("direction"),
        value: |d| Operand::Direction(d.direction),
    },
    /// Accepted, abandoned or dropped in the IVR.
    Outcome {
        column: C::Outcome,
        kind: Kind::Outcome,
        nullable: false,
        graphql: "outcome",
        odata: "Outcome",
        rollup: Some("outcome"),
        value: |d| Operand::Outcome(d.outcome),
    },
    /// Accepted within the queue's SLA threshold.
    InSla {
        column: C::InSla,
        kind: Kind::Bool,
        nullable: true,
        graphql: "inSla",
        odata: "InSLA",
        rollup: Some("in_sla"),
        value: |d| flag(d.in_sla),
    },
    /// Abandoned within the queue's quick-drop threshold.
    QuickDrop {
        column: C::QuickDrop,
        kind: Kind::Bool,
        nullable: true,
        graphql: "quickDrop",
        odata: "QuickDrop",
        rollup: Some("quick_drop"),
        value: |d| flag(d.quick_drop),
    },
    /// The readable reference number.
    OrderNumber {
        column: C::OrderNumber,
        kind: Kind::Int,
        nullable: false,
        graphql: "orderNumber",
        odata: "orderNumber",
        rollup: None,
        value: |d| Operand::Int(i64::from(d.order_number)),
    },
}

impl DialogueField {
    /// Every field, in the catalogue's order (the OData properties' order).
    pub const ALL: [DialogueField; DIALOGUE_FIELDS.len()] = {
        let mut all = [DialogueField::Id; DIALOGUE_FIELDS.len()];
        let mut i = 0;
        while i < all.len() {
            all[i] = DIALOGUE_FIELDS[i].field;
            // The macro declares variants and rows in one order: `def` indexes by variant.
            assert!(all[i] as usize == i, "the catalogue is in variant order");
            i += 1;
        }
        all
    };

    /// The field's row of the catalogue.
    pub fn def(self) -> &'static FieldDef {
        &DIALOGUE_FIELDS[self as usize]
    }

    /// The stored column.
    pub fn db_column(self) -> dialogue::Column {
        self.def().column
    }

    /// The field's value in `d`.
    pub fn value(self, d: &dialogue::Model) -> Operand {
        (self.def().value)(d)
    }

    /// The OData property name.
    pub fn odata_name(self) -> &'static str {
        self.def().odata
    }

    /// The column of the pre-aggregate grains keyed by this field, if any.
    pub fn rollup_column(self) -> Option<&'static str> {
        self.def().rollup
    }

    /// The relation whose endpoint this field holds the id of, if any.
    pub fn slot(self) -> Option<Slot> {
        Slot::ALL.into_iter().find(|s| s.field() == self)
    }
}

impl Field for DialogueField {
    fn column(self) -> Expr {
        Expr::col((dialogue::Entity, self.db_column()))
    }

    fn nullable(self) -> bool {
        self.def().nullable
    }

    fn kind(self) -> Kind {
        self.def().kind
    }

    fn name(self) -> &'static str {
        self.def().graphql
    }

    fn endpoint_tenant(self) -> Option<Expr> {
        self.slot()
            .map(|_| Expr::col((dialogue::Entity, dialogue::Column::TenantId)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollups::GRAINS;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_in_every_front_end() {
        let graphql: HashSet<_> = DIALOGUE_FIELDS.iter().map(|d| d.graphql).collect();
        // OData matches property names case-insensitively.
        let odata: HashSet<_> = DIALOGUE_FIELDS
            .iter()
            .map(|d| d.odata.to_ascii_lowercase())
            .collect();
        let columns: HashSet<_> = DIALOGUE_FIELDS
            .iter()
            .map(|d| sea_orm::Iden::to_string(&d.column))
            .collect();
        assert_eq!(graphql.len(), DIALOGUE_FIELDS.len());
        assert_eq!(odata.len(), DIALOGUE_FIELDS.len());
        assert_eq!(columns.len(), DIALOGUE_FIELDS.len());
        // The relations' names are taken too (GraphQL's relation filters, OData's navigation).
        for slot in Slot::ALL {
            assert!(!graphql.contains(slot.name()), "{}", slot.name());
            assert_eq!(slot.field().slot(), Some(slot));
            assert_eq!(slot.field().kind(), Kind::Id);
        }
    }

    #[test]
    fn rollup_columns_are_the_grains_dimensions() {
        let dims: HashSet<&str> = GRAINS.iter().flat_map(|g| g.dims.iter().copied()).collect();
        let declared: Vec<&str> = DIALOGUE_FIELDS.iter().filter_map(|d| d.rollup).collect();
        assert_eq!(declared.iter().copied().collect::<HashSet<_>>(), dims);
        assert_eq!(declared.len(), dims.len(), "one field per grain column");
        // A grain column holds the stored column of its field.
        for d in DIALOGUE_FIELDS {
            if let Some(rollup) = d.rollup {
                use sea_orm::Iden;
                assert_eq!(d.column.to_string(), rollup);
            }
        }
    }

    #[test]
    fn every_value_is_of_its_fields_kind() {
        let d = dialogue::Model {
            tenant_id: 1,
            id: "d".into(),
            order_number: 7,
            start_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            start_timestamp_ms: 1,
            queue_enter_timestamp_ms: Some(2),
            accept_timestamp_ms: Some(3),
            end_timestamp_ms: Some(4),
            ivr_duration_in_sec: Some(1.0),
            queue_duration_in_sec: Some(1.0),
            initial_talk_duration_in_sec: Some(1.0),
            session_duration_in_sec: Some(1.0),
            ivr_id: Some("i".into()),
            queue_id: Some("q".into()),
            customer_id: Some("c".into()),
            agent_id: Some("a".into()),
            direction: entity::Direction::Inbound,
            outcome: entity::Outcome::Accepted,
            in_sla: Some(true),
            quick_drop: Some(false),
            change_position: 0,
            change_index: 0,
        };
        for field in DialogueField::ALL {
            let ok = matches!(
                (field.kind(), field.value(&d)),
                (Kind::Id | Kind::Name, Operand::Text(_))
                    | (Kind::Int, Operand::Int(_))
                    | (Kind::Float, Operand::Float(_))
                    | (Kind::Bool, Operand::Bool(_))
                    | (Kind::Date, Operand::Date(_))
                    | (Kind::Instant, Operand::Instant(_))
                    | (Kind::Direction, Operand::Direction(_))
                    | (Kind::Outcome, Operand::Outcome(_))
                    | (Kind::Role, Operand::Role(_))
            );
            assert!(ok, "{field:?}: {:?}", field.value(&d));
        }
    }
}
