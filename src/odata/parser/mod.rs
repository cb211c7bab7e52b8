//! OData 4.0 URL syntax (`$filter`, `$orderby`, `$select`, `$expand`, entity keys) parsed into the
//! query core's own values: a `$filter` becomes the same [`Filter`] tree a GraphQL filter
//! becomes, so both mean the same rows by the one translation to SQL in `query::filter`.
//!
//! A small recursive-descent parser over a token list, written here: `cargo search odata` could
//! not reach the registry's search from this build machine and the local package lists name no
//! Rust OData parser, so a crate that fits was not found (worth another look later). Hostile input is bounded before and during parsing: an option longer than
//! [`MAX_OPTION_LEN`] bytes is refused unread, nesting deeper than [`MAX_DEPTH`] is refused with
//! its position (the recursion depth is bounded by it, never by the input), and the query core
//! bounds the number of conditions. Every error names the option and a 1-based character
//! position in it.
use chrono::{DateTime, NaiveDate};
use entity::{Direction, EndpointRole, Outcome};

use insights_core::query::{DialogueField, Filter, Kind, Op, Operand, Slot, DIALOGUE_FIELDS};

mod filter;
mod lexer;
mod model;
mod options;

pub use filter::parse_filter;
use filter::*;
use lexer::*;
pub use model::{find_prop, Prop, PropType, DIALOGUE_PROPS, ENDPOINT_PROPS, NAVIGATION};
pub use options::{
    parse_count_option, parse_expand, parse_interval_key, parse_key, parse_orderby, parse_select,
};

/// Longest value of one query option, in bytes.
pub const MAX_OPTION_LEN: usize = 16_384;
/// Deepest nesting of parentheses and `not` in a `$filter`.
pub const MAX_DEPTH: usize = 32;

/// Why an option cannot be answered: it is malformed (400) or asks for something this service
/// does not implement (501). The message names the option and, for syntax, the position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Invalid(String),
    Unsupported(String),
}

impl ParseError {
    pub fn message(&self) -> &str {
        match self {
            ParseError::Invalid(m) | ParseError::Unsupported(m) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use insights_core::query::DialogueField as D;

    fn dialogue(text: &str) -> Result<Filter<D>, ParseError> {
        let fields: Vec<Option<D>> = D::ALL.iter().copied().map(Some).collect();
        parse_filter(text, &DIALOGUE_PROPS, &fields)
    }

    fn is(field: D, op: Op) -> Filter<D> {
        Filter::Is(field, op)
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let a = is(D::OrderNumber, Op::Eq(Operand::Int(1)));
        let b = is(D::OrderNumber, Op::Eq(Operand::Int(2)));
        let c = is(D::OrderNumber, Op::Eq(Operand::Int(3)));
        assert_eq!(
            dialogue("not orderNumber eq 1 and orderNumber eq 2 or orderNumber eq 3").unwrap(),
            Filter::Any(vec![
                Filter::All(vec![Filter::Not(Box::new(a.clone())), b.clone()]),
                c.clone()
            ])
        );
        assert_eq!(
            dialogue("not (orderNumber eq 1 or orderNumber eq 2) and orderNumber eq 3").unwrap(),
            Filter::All(vec![Filter::Not(Box::new(Filter::Any(vec![a, b]))), c])
        );
    }

    #[test]
    fn literals_and_case_insensitive_names() {
        assert_eq!(
            dialogue("QUEUEID eq 'it''s'").unwrap(),
            is(D::QueueId, Op::Eq(Operand::Text("it's".into())))
        );
        assert_eq!(
            dialogue("starttimestamp ge 2026-03-02T10:00:00+01:00").unwrap(),
            is(
                D::StartTimestamp,
                Op::Gte(Operand::Instant(1_772_442_000_000))
            )
        );
        // A `+` form-decoded into a space is still an offset.
        assert_eq!(
            dialogue("startTimestamp ge 2026-03-02T10:00:00 01:00").unwrap(),
            dialogue("startTimestamp ge 2026-03-02T09:00:00Z").unwrap()
        );
        assert_eq!(
            dialogue("outcome in ('Accepted','IvrDrop') and InSLA eq 'True' and direction eq 2 and agentId eq null").unwrap(),
            Filter::All(vec![
                is(D::Outcome, Op::In(vec![Operand::Outcome(Outcome::Accepted), Operand::Outcome(Outcome::IvrDrop)])),
                is(D::InSla, Op::Eq(Operand::Bool(true))),
                is(D::Direction, Op::Eq(Operand::Direction(Direction::Outbound))),
                is(D::AgentId, Op::Eq(Operand::Null)),
            ])
        );
    }

    #[test]
    fn errors_name_the_option_and_position() {
        let e = dialogue("orderNumber eq 1 and (queueId eq 'x'").unwrap_err();
        assert_eq!(
            e,
            ParseError::Invalid("`$filter` at position 37: expected `)`, found the end".into())
        );
        let e = dialogue("orderNumber eq 'x'").unwrap_err();
        assert!(
            e.message().starts_with("`$filter` at position 16:"),
            "{e:?}"
        );
        assert!(matches!(
            dialogue("tolower(id) eq 'x'"),
            Err(ParseError::Unsupported(_))
        ));
        assert!(matches!(
            dialogue("nosuch(id)"),
            Err(ParseError::Invalid(_))
        ));
    }

    #[test]
    fn a_nul_in_a_string_is_refused_with_its_position() {
        assert_eq!(
            dialogue("id eq 'a\u{0}b'").unwrap_err(),
            ParseError::Invalid(
                "`$filter` at position 9: a string cannot hold the character NUL (%00)".into()
            )
        );
    }

    #[test]
    fn hostile_nesting_is_refused_not_overflowed() {
        let deep = format!("{}orderNumber eq 1{}", "(".repeat(5_000), ")".repeat(5_000));
        assert!(matches!(dialogue(&deep), Err(ParseError::Invalid(_))));
        let nots = format!("{}orderNumber eq 1", "not ".repeat(3_000));
        assert!(matches!(dialogue(&nots), Err(ParseError::Invalid(_))));
        let deep = format!("{}orderNumber eq 1{}", "(".repeat(20), ")".repeat(20));
        assert!(dialogue(&deep).is_ok());
    }

    #[test]
    fn the_dialogue_properties_are_the_cores_fields_index_for_index() {
        assert_eq!(DIALOGUE_PROPS.len(), D::ALL.len());
        for (prop, field) in DIALOGUE_PROPS.iter().zip(D::ALL) {
            assert_eq!(prop.name, field.odata_name());
            assert_eq!(
                find_prop(&DIALOGUE_PROPS, prop.name).map(|i| D::ALL[i]),
                Some(field)
            );
        }
        // The vendor's spellings and types, as before the catalogue.
        let names: Vec<&str> = DIALOGUE_PROPS.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "id",
                "startDate",
                "startTimestamp",
                "queueEnterTimestamp",
                "acceptTimestamp",
                "endTimestamp",
                "ivrDurationInSec",
                "queueDurationInSec",
                "initialTalkDurationInSec",
                "sessionDurationInSec",
                "ivrId",
                "queueId",
                "customerId",
                "agentId",
                "direction",
                "Outcome",
                "InSLA",
                "QuickDrop",
                "orderNumber"
            ]
        );
        let nullable: Vec<&str> = DIALOGUE_PROPS
            .iter()
            .filter(|p| p.nullable)
            .map(|p| p.name)
            .collect();
        assert_eq!(
            nullable,
            [
                "queueEnterTimestamp",
                "acceptTimestamp",
                "endTimestamp",
                "ivrDurationInSec",
                "queueDurationInSec",
                "initialTalkDurationInSec",
                "sessionDurationInSec",
                "ivrId",
                "queueId",
                "customerId",
                "agentId",
                "InSLA",
                "QuickDrop"
            ]
        );
        assert!(DIALOGUE_PROPS.iter().all(|p| !p.searchable));
        assert_eq!(DIALOGUE_PROPS[14].ty, PropType::Direction);
        assert_eq!(DIALOGUE_PROPS[16].ty, PropType::TriBool);
        assert_eq!(DIALOGUE_PROPS[18].ty, PropType::Int);
    }

    #[test]
    fn keys_orders_selects_and_expands() {
        assert_eq!(parse_key("'a''b'").unwrap(), "a'b");
        assert_eq!(parse_key("id='d1'").unwrap(), "d1");
        assert!(parse_key("1").is_err());
        assert_eq!(
            parse_orderby("StartTimestamp desc, id", &DIALOGUE_PROPS).unwrap(),
            vec![(2, true, 1), (0, false, 22)]
        );
        assert!(parse_orderby("id sideways", &DIALOGUE_PROPS).is_err());
        assert_eq!(
            parse_select("Outcome,ID", &DIALOGUE_PROPS).unwrap(),
            vec![0, 15]
        );
        assert_eq!(
            parse_expand("Queue,agent").unwrap(),
            vec![Slot::Queue, Slot::Agent]
        );
        assert!(matches!(
            parse_expand("queue($select=name)"),
            Err(ParseError::Unsupported(_))
        ));
    }
}
