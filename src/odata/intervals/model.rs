//! The `QueueInterval` entity type: its properties, built from the query core's KPI catalogue
//! (one property per catalogued measure and per ratio, under the measure's own name), the values
//! of one interval × queue, and `$filter` evaluated on those values.
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use super::super::json::Obj;
use super::super::parser::{Prop, PropType};
use insights_core::query::{Filter, Measure, Op, Operand, StatsRow, CATALOGUE, RATIOS};

/// Where a property's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The interval's first instant.
    Start,
    /// The instant after its last (exclusive).
    End,
    /// The queue (never null: dialogues that were never queued have no queue interval).
    QueueId,
    /// A measure of the catalogue: a count (`Edm.Int32`) or seconds (`Edm.Double`).
    Kpi(Measure),
    /// A ratio of the catalogue (index in `RATIOS`): its value, null when undefined.
    Ratio(usize),
}

/// How many properties the entity type has: the key and end, every catalogued KPI, every ratio.
pub(crate) const COUNT: usize = 3 + CATALOGUE.len() + RATIOS.len();

/// The properties in `$metadata` order: `intervalStart`, `intervalEnd`, `queueId`, the counts of
/// the catalogue (in its order), the ratios, then the measures in seconds.
pub(crate) const COLUMNS: [(Prop, Source); COUNT] = {
    const fn prop(name: &'static str, ty: PropType, nullable: bool) -> Prop {
        Prop {
            name,
            ty,
            nullable,
            searchable: false,
        }
    }
    let mut columns = [(prop("", PropType::Text, false), Source::Start); COUNT];
    columns[0] = (
        prop("intervalStart", PropType::Instant, false),
        Source::Start,
    );
    columns[1] = (prop("intervalEnd", PropType::Instant, false), Source::End);
    columns[2] = (prop("queueId", PropType::Text, false), Source::QueueId);
    let mut at = 3;
    let mut i = 0;
    while i < CATALOGUE.len() {
        let kpi = &CATALOGUE[i];
        if kpi.is_count() {
            columns[at] = (
                prop(kpi.name, PropType::Int, false),
                Source::Kpi(kpi.measure),
            );
            at += 1;
        }
        i += 1;
    }
    let mut r = 0;
    while r < RATIOS.len() {
        columns[at] = (
            prop(RATIOS[r].name, PropType::Double, true),
            Source::Ratio(r),
        );
        at += 1;
        r += 1;
    }
    let mut i = 0;
    while i < CATALOGUE.len() {
        let kpi = &CATALOGUE[i];
        if !kpi.is_count() {
            let p = prop(kpi.name, PropType::Double, kpi.nullable());
            columns[at] = (p, Source::Kpi(kpi.measure));
            at += 1;
        }
        i += 1;
    }
    assert!(at == COUNT);
    columns
};

/// The properties alone, for the option parsers.
pub(crate) const PROPS: [Prop; COUNT] = {
    let mut props = [COLUMNS[0].0; COUNT];
    let mut i = 0;
    while i < COUNT {
        props[i] = COLUMNS[i].0;
        i += 1;
    }
    props
};

/// `$filter` reads every property (the filter tree's field is the property's index).
pub(crate) const FIELDS: [Option<usize>; COUNT] = {
    let mut fields = [None; COUNT];
    let mut i = 0;
    while i < COUNT {
        fields[i] = Some(i);
        i += 1;
    }
    fields
};

pub(crate) const START: usize = 0;
pub(crate) const QUEUE: usize = 2;

/// The measures the core must compute for the properties `indexes` (at least one: the keys
/// alone still need a group to exist, which `dialogues` counts).
pub(crate) fn measures(indexes: impl IntoIterator<Item = usize>) -> Vec<Measure> {
    let mut out = Vec::new();
    for i in indexes {
        let needed: Vec<Measure> = match COLUMNS[i].1 {
            Source::Kpi(m) => vec![m],
            Source::Ratio(r) => RATIOS[r].measures().collect(),
            Source::Start | Source::End | Source::QueueId => Vec::new(),
        };
        for m in needed {
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    if out.is_empty() {
        out.push(Measure::Dialogues);
    }
    out
}

/// The value of property `index` of an interval × queue, as the core's operand.
pub(crate) fn operand(row: &StatsRow, index: usize) -> Operand {
    let (start, end) = row.period.expect("intervals have bounds");
    match COLUMNS[index].1 {
        Source::Start => Operand::Instant(start),
        Source::End => Operand::Instant(end),
        Source::QueueId => row
            .key
            .queue_id
            .clone()
            .map_or(Operand::Null, Operand::Text),
        Source::Kpi(m) if COLUMNS[index].0.ty == PropType::Int => Operand::Int(row.count(m)),
        Source::Kpi(m) => row.value(m).map_or(Operand::Null, Operand::Float),
        Source::Ratio(r) => RATIOS[r]
            .value(|m| row.count(m))
            .map_or(Operand::Null, Operand::Float),
    }
}

/// An instant written in `zone`'s offset at that instant (`Z` where it is UTC).
pub(crate) fn format_in(zone: Tz, ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&zone)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The selected properties of a row, put into `obj` in property order.
pub(crate) fn members(obj: &mut Obj, row: &StatsRow, selected: &[usize], zone: Tz) {
    for i in selected {
        let value = match operand(row, *i) {
            Operand::Instant(ms) => json!(format_in(zone, ms)),
            Operand::Text(s) => json!(s),
            Operand::Int(n) => json!(n),
            Operand::Float(f) => json!(f),
            _ => Value::Null,
        };
        obj.put(PROPS[*i].name, &value);
    }
}

/// Whether a row passes the `$filter`, by OData's rules: `eq null` holds for an absent value,
/// `ne` is the complement of `eq`, an order comparison never holds for an absent value, `not`
/// is the complement.
pub(crate) fn passes(filter: &Filter<usize>, row: &StatsRow) -> bool {
    match filter {
        Filter::All(list) => list.iter().all(|f| passes(f, row)),
        Filter::Any(list) => list.iter().any(|f| passes(f, row)),
        Filter::Not(inner) => !passes(inner, row),
        Filter::Is(index, op) => holds(&operand(row, *index), op),
        // The parser makes no relation filters on this entity type.
        Filter::Related(..) => false,
    }
}

fn holds(value: &Operand, op: &Op) -> bool {
    use std::cmp::Ordering;
    let order = |literal: &Operand| -> Option<Ordering> {
        match (value, literal) {
            (Operand::Int(a), Operand::Int(b)) => Some(a.cmp(b)),
            (Operand::Float(a), Operand::Float(b)) => a.partial_cmp(b),
            (Operand::Int(a), Operand::Float(b)) => (*a as f64).partial_cmp(b),
            (Operand::Instant(a), Operand::Instant(b)) => Some(a.cmp(b)),
            (Operand::Text(a), Operand::Text(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            _ => None,
        }
    };
    let eq = |literal: &Operand| match literal {
        Operand::Null => *value == Operand::Null,
        literal => order(literal) == Some(Ordering::Equal),
    };
    match op {
        Op::Eq(l) => eq(l),
        Op::Ne(l) => !eq(l),
        Op::Gt(l) => order(l) == Some(Ordering::Greater),
        Op::Gte(l) => matches!(order(l), Some(Ordering::Greater | Ordering::Equal)),
        Op::Lt(l) => order(l) == Some(Ordering::Less),
        Op::Lte(l) => matches!(order(l), Some(Ordering::Less | Ordering::Equal)),
        Op::In(list) => list.iter().any(eq),
        Op::NotIn(list) => !list.iter().any(eq),
        Op::IsNull(absent) => (*value == Operand::Null) == *absent,
        // Not searchable: the parser refuses the text functions here.
        Op::StartsWith(_) | Op::EndsWith(_) | Op::Contains(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogued_kpi_and_ratio_is_a_property_of_its_own_name() {
        let names: Vec<&str> = PROPS.iter().map(|p| p.name).collect();
        for kpi in CATALOGUE {
            let i = names.iter().position(|n| *n == kpi.name).expect(kpi.name);
            assert_eq!(COLUMNS[i].1, Source::Kpi(kpi.measure));
            let ty = if kpi.is_count() {
                "Edm.Int32"
            } else {
                "Edm.Double"
            };
            assert_eq!(PROPS[i].ty.edm(), ty, "{}", kpi.name);
            assert_eq!(PROPS[i].nullable, kpi.nullable(), "{}", kpi.name);
        }
        for (r, ratio) in RATIOS.iter().enumerate() {
            let i = names
                .iter()
                .position(|n| *n == ratio.name)
                .expect(ratio.name);
            assert_eq!(COLUMNS[i].1, Source::Ratio(r));
            assert_eq!(PROPS[i].ty.edm(), "Edm.Double");
            assert!(PROPS[i].nullable);
        }
        assert_eq!(names[..3], ["intervalStart", "intervalEnd", "queueId"]);
        // The contract's measures without arguments, all of them.
        for name in [
            "dialogues",
            "inbound",
            "outbound",
            "offered",
            "accepted",
            "abandoned",
            "quickDrops",
            "ivrDrops",
            "acceptedInSla",
            "serviceLevel",
            "abandonRate",
            "answerRate",
            "averageSpeedOfAnswer",
            "averageAbandonTime",
            "averageTalkTime",
            "averageIvrTime",
            "averageSessionTime",
            "maxQueueTime",
            "totalTalkTime",
        ] {
            assert!(names.contains(&name), "{name}");
        }
        assert_eq!(names.len(), 3 + 19);
    }

    #[test]
    fn null_rules_of_the_in_memory_filter() {
        let null = Operand::Null;
        assert!(holds(&null, &Op::Eq(Operand::Null)));
        assert!(!holds(&null, &Op::Gt(Operand::Float(0.5))));
        assert!(holds(&null, &Op::Ne(Operand::Float(0.5))));
        assert!(!holds(&Operand::Float(0.5), &Op::Eq(Operand::Null)));
        assert!(holds(
            &Operand::Int(3),
            &Op::In(vec![Operand::Int(1), Operand::Int(3)])
        ));
        assert!(holds(&Operand::Int(3), &Op::Gte(Operand::Float(2.5))));
        assert!(holds(
            &Operand::Text("q-10".into()),
            &Op::Lt(Operand::Text("q-2".into()))
        ));
    }

    #[test]
    fn local_offsets_are_written_as_the_zone_has_them() {
        let ms = insights_core::time::parse_rfc3339_ms("2026-03-02T09:30:00Z").unwrap();
        assert_eq!(
            format_in(chrono_tz::Asia::Kolkata, ms),
            "2026-03-02T15:00:00+05:30"
        );
        assert_eq!(format_in(chrono_tz::UTC, ms), "2026-03-02T09:30:00Z");
        assert_eq!(
            format_in(chrono_tz::Europe::Amsterdam, ms),
            "2026-03-02T10:30:00+01:00"
        );
    }
}
