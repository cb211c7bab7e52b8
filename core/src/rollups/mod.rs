//! Pre-aggregates of the dialogues (issue 9): per tenant, per UTC time slot and per a few
//! dimensions, the counts and exact sums the KPIs of docs/api.md need. The same table layout at
//! several grains, kept exact in the transaction that writes the rows, whoever writes them
//! (importer, mutations, a hand-typed UPDATE).
//!
//! Grains ([`GRAINS`]): UTC day × queue (`totalCount`, UTC days); UTC hour × queue (whole-hour
//! zones by queue); UTC hour × agent (by agent); UTC hour × queue, ivr, direction, outcome,
//! in_sla, quick_drop (the other dimensions and flags); 15 minutes without a dimension
//! (+05:30/+05:45 zones and sub-hour buckets, ungrouped). A batch of dialogues in time order
//! touches about (grain rows / dialogues) groups of each grain per dialogue, and each touched
//! group costs an upsert, so a grain earns its place only when it is much smaller than the
//! rows: the sizes measured at 1M and 5M dialogues, and the grains measured and left out, are in
//! `bench/results.md` ("Pre-aggregates"; `bash bench/rollups.sh`). The query core picks the
//! coarsest grain that holds the dimensions a question uses and whose slots do not straddle its
//! buckets (every modern IANA offset is a multiple of 15 minutes).
//!
//! An absent queue/agent/ivr id is stored as `''` (ids are never empty: the importer reads an
//! empty cell as null) and an absent flag as -1, so that the grain key is a plain unique key on
//! SQLite and PostgreSQL; the query core reads them back as nulls.
//!
//! Exactness: counts and sums of whole milliseconds (`ROUND(duration * 1000)`, the expression
//! the row path sums) are added and subtracted; the maximum queue time cannot be subtracted, so
//! when a row that held a group's maximum leaves the group (and no row joining it holds as
//! much) it is recomputed from the rows (an index range scan of one slot:
//! `ix_dialogues_tenant_start`). Groups left with no dialogue are deleted.
//!
//! PostgreSQL: statement-level AFTER triggers with transition tables (an `INSERT … ON CONFLICT
//! DO UPDATE` fires the insert trigger for the new rows and the update trigger for the changed
//! ones). One statement computes each row's share once, with a minus for the rows that leave,
//! and upserts every grain in key order, so the aggregate rows a statement touches, old and new
//! groups alike, are locked in one order by every writer (a key created by one transaction
//! while another holds locks could still make PostgreSQL pick a deadlock victim, which rolls
//! back whole; re-running the import finishes the job). A second statement deletes emptied
//! groups and recomputes lost maxima. The tables keep 40% of each page free, so that the
//! upserts update in place (HOT) without new index entries.
//!
//! SQLite (one writer at a time): row-level triggers, one upsert per grain and row, which cost
//! an import half its speed; so the batch writer sums what it writes itself ([`Deltas`], from
//! the same definitions of the aggregate columns as the SQL, with the triggers' clean-up of
//! emptied groups and lost maxima). An import sets the insert and update triggers aside for its
//! transaction and handles new and changed rows ([`writer_takes_over_writes`]); a mutation
//! marks its batch so that the insert trigger skips the rows it inserts
//! ([`writer_adds_inserts`]). Everything else (a mutation's updates, deletes, any other SQL)
//! goes through the triggers.
mod deltas;
mod sql;

use sea_orm::DbBackend;

pub use deltas::{Deltas, Dialogue};
use sql::*;
pub use sql::{writer_adds_inserts, writer_takes_over_writes};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// One pre-aggregate table: slots of `slot_ms` (aligned to the UTC epoch) × `dims`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grain {
    pub table: &'static str,
    pub slot_ms: i64,
    /// Dialogue columns that key the grain, among queue_id, agent_id, ivr_id, direction,
    /// outcome, in_sla and quick_drop.
    pub dims: &'static [&'static str],
}

/// Coarsest first (the query core takes the first that can answer).
pub const GRAINS: [Grain; 5] = [
    Grain {
        table: "rollup_day_queue",
        slot_ms: DAY_MS,
        dims: &["queue_id"],
    },
    Grain {
        table: "rollup_hour_queue",
        slot_ms: HOUR_MS,
        dims: &["queue_id"],
    },
    Grain {
        table: "rollup_hour_agent",
        slot_ms: HOUR_MS,
        dims: &["agent_id"],
    },
    Grain {
        table: "rollup_hour_dims",
        slot_ms: HOUR_MS,
        dims: &[
            "queue_id",
            "ivr_id",
            "direction",
            "outcome",
            "in_sla",
            "quick_drop",
        ],
    },
    Grain {
        table: "rollup_15m",
        slot_ms: 15 * MINUTE_MS,
        dims: &[],
    },
];

/// How a dimension is stored in a grain's key (key columns are never null).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimKind {
    /// An endpoint id; absent is `''`.
    Id,
    /// A SMALLINT code (direction, outcome), never absent.
    Code,
    /// A nullable flag (in_sla, quick_drop) as SMALLINT: 1 true, 0 false, -1 absent.
    Flag,
}

pub fn dim_kind(dim: &str) -> DimKind {
    if dim.ends_with("_id") {
        DimKind::Id
    } else if dim == "in_sla" || dim == "quick_drop" {
        DimKind::Flag
    } else {
        DimKind::Code
    }
}

/// Outcome and direction codes as stored (entity::Outcome / entity::Direction).
const ACCEPTED: i16 = 1;
const ABANDONED: i16 = 2;
const IVR_DROP: i16 = 3;
const INBOUND: i16 = 1;
const OUTBOUND: i16 = 2;

/// The sets of dialogues the KPIs count (docs/api.md), each rendered to SQL and evaluated in
/// Rust from one definition: the triggers and the migration sum the SQL, the batch writer
/// ([`Deltas`]) sums the Rust, and `tests/rollups.rs` checks every grain against the SQL. The
/// query core's KPI catalogue (`query::kpi`) declares its measures over the same sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Set {
    All,
    Inbound,
    Outbound,
    /// In Q: queued, and accepted or abandoned.
    Offered,
    Accepted,
    Abandoned,
    QuickDrop,
    IvrDrop,
    AcceptedInSla,
}

impl Set {
    /// The predicate on dialogue row `r` (a column prefix such as `NEW.`, or `""`).
    pub(crate) fn sql(self, r: &str) -> String {
        let queued = format!("{r}queue_enter_timestamp_ms IS NOT NULL");
        match self {
            Set::All => "TRUE".into(),
            Set::Inbound => format!("{r}direction = {INBOUND}"),
            Set::Outbound => format!("{r}direction = {OUTBOUND}"),
            Set::Offered => format!("{queued} AND {r}outcome IN ({ACCEPTED}, {ABANDONED})"),
            Set::Accepted => format!("{queued} AND {r}outcome = {ACCEPTED}"),
            Set::Abandoned => format!("{queued} AND {r}outcome = {ABANDONED}"),
            Set::QuickDrop => format!("{} AND {r}quick_drop = TRUE", Set::Abandoned.sql(r)),
            Set::IvrDrop => format!("{r}outcome = {IVR_DROP}"),
            Set::AcceptedInSla => format!("{} AND {r}in_sla = TRUE", Set::Accepted.sql(r)),
        }
    }

    fn holds(self, d: &Dialogue) -> bool {
        let queued = d.queue_enter_timestamp_ms.is_some();
        match self {
            Set::All => true,
            Set::Inbound => d.direction == INBOUND,
            Set::Outbound => d.direction == OUTBOUND,
            Set::Offered => queued && (d.outcome == ACCEPTED || d.outcome == ABANDONED),
            Set::Accepted => queued && d.outcome == ACCEPTED,
            Set::Abandoned => queued && d.outcome == ABANDONED,
            Set::QuickDrop => Set::Abandoned.holds(d) && d.quick_drop == Some(true),
            Set::IvrDrop => d.outcome == IVR_DROP,
            Set::AcceptedInSla => Set::Accepted.holds(d) && d.in_sla == Some(true),
        }
    }
}

/// A duration column of a dialogue, in seconds (nullable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Duration {
    Ivr,
    Queue,
    Talk,
    Session,
}

impl Duration {
    pub(crate) fn column(self) -> &'static str {
        match self {
            Duration::Ivr => "ivr_duration_in_sec",
            Duration::Queue => "queue_duration_in_sec",
            Duration::Talk => "initial_talk_duration_in_sec",
            Duration::Session => "session_duration_in_sec",
        }
    }

    fn of(self, d: &Dialogue) -> Option<f64> {
        match self {
            Duration::Ivr => d.ivr_duration_in_sec,
            Duration::Queue => d.queue_duration_in_sec,
            Duration::Talk => d.initial_talk_duration_in_sec,
            Duration::Session => d.session_duration_in_sec,
        }
    }
}

/// What an aggregate column adds up over its set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sum {
    /// The dialogues.
    Count,
    /// A duration in whole milliseconds (`ROUND(x * 1000)`, as the row path sums it).
    Ms(Duration),
    /// The dialogues that have the duration.
    Having(Duration),
}

/// The aggregate columns (all BIGINT, never null) in table order; `max_queue` is apart.
const AGGREGATES: [(&str, Set, Sum); 19] = [
    ("n", Set::All, Sum::Count),
    ("inbound", Set::Inbound, Sum::Count),
    ("outbound", Set::Outbound, Sum::Count),
    ("offered", Set::Offered, Sum::Count),
    ("accepted", Set::Accepted, Sum::Count),
    ("abandoned", Set::Abandoned, Sum::Count),
    ("quick_drops", Set::QuickDrop, Sum::Count),
    ("ivr_drops", Set::IvrDrop, Sum::Count),
    ("accepted_in_sla", Set::AcceptedInSla, Sum::Count),
    ("asa_sum_ms", Set::Accepted, Sum::Ms(Duration::Queue)),
    ("asa_n", Set::Accepted, Sum::Having(Duration::Queue)),
    ("abandon_sum_ms", Set::Abandoned, Sum::Ms(Duration::Queue)),
    ("abandon_n", Set::Abandoned, Sum::Having(Duration::Queue)),
    ("talk_sum_ms", Set::Accepted, Sum::Ms(Duration::Talk)),
    ("talk_n", Set::Accepted, Sum::Having(Duration::Talk)),
    ("ivr_sum_ms", Set::All, Sum::Ms(Duration::Ivr)),
    ("ivr_n", Set::All, Sum::Having(Duration::Ivr)),
    ("session_sum_ms", Set::All, Sum::Ms(Duration::Session)),
    ("session_n", Set::All, Sum::Having(Duration::Session)),
];

/// The aggregate columns and what one dialogue row `r` (a column prefix such as `NEW.`) adds
/// to each, as SQL.
fn contributions(r: &str) -> Vec<(&'static str, String)> {
    AGGREGATES
        .iter()
        .map(|(column, set, sum)| {
            let set = set.sql(r);
            let expr = match sum {
                Sum::Count if set == "TRUE" => "1".to_string(),
                Sum::Count => format!("(CASE WHEN {set} THEN 1 ELSE 0 END)"),
                Sum::Ms(d) => format!(
                    "(CASE WHEN {set} AND {r}{c} IS NOT NULL THEN CAST(ROUND({r}{c} * 1000) AS BIGINT) ELSE 0 END)",
                    c = d.column()
                ),
                Sum::Having(d) => format!(
                    "(CASE WHEN {set} AND {r}{c} IS NOT NULL THEN 1 ELSE 0 END)",
                    c = d.column()
                ),
            };
            (*column, expr)
        })
        .collect()
}

/// The aggregate columns (all BIGINT, never null) in table order.
pub fn count_columns() -> Vec<&'static str> {
    AGGREGATES.iter().map(|(c, _, _)| *c).collect()
}

/// The aggregate column that adds up `sum` over `set`, if the grains keep one: the query core
/// finds the columns of a KPI by their definition, never by name.
pub(crate) fn aggregate_column(set: Set, sum: Sum) -> Option<&'static str> {
    AGGREGATES
        .iter()
        .find(|(_, s, m)| (*s, *m) == (set, sum))
        .map(|(column, _, _)| *column)
}

/// What `max_queue` keeps: the largest queue duration over Q.
pub(crate) const MAX_QUEUE: (Set, Duration) = (Set::Offered, Duration::Queue);

/// The queue duration a row adds to `max_queue` (null unless it is in Q).
fn queue_time(r: &str) -> String {
    let (set, duration) = MAX_QUEUE;
    format!(
        "(CASE WHEN {} THEN {r}{} END)",
        set.sql(r),
        duration.column()
    )
}

/// The slot start of `r`'s start instant (floor division, right before 1970 too).
fn slot(grain: &Grain, r: &str) -> String {
    let u = grain.slot_ms;
    format!("({r}start_timestamp_ms - ((({r}start_timestamp_ms % {u}) + {u}) % {u}))")
}

/// A dimension of row `r` as the grain's key stores it.
fn dim_value(dim: &str, r: &str) -> String {
    match dim_kind(dim) {
        DimKind::Id => format!("COALESCE({r}{dim}, '')"),
        DimKind::Code => format!("{r}{dim}"),
        DimKind::Flag => {
            format!("(CASE WHEN {r}{dim} IS NULL THEN -1 WHEN {r}{dim} THEN 1 ELSE 0 END)")
        }
    }
}

/// The key columns of a grain table.
fn key_columns(grain: &Grain) -> Vec<&'static str> {
    let mut key = vec!["tenant_id", "slot_ms"];
    key.extend(grain.dims.iter().copied());
    key
}

/// `SELECT key…, SUM(contributions)…, MAX(queue time) FROM source GROUP BY key…`
fn aggregate_select(grain: &Grain, source: &str) -> String {
    let mut cols = vec![
        "tenant_id AS tenant_id".to_string(),
        format!("{} AS slot_ms", slot(grain, "")),
    ];
    for dim in grain.dims {
        cols.push(format!("{} AS {dim}", dim_value(dim, "")));
    }
    for (col, expr) in contributions("") {
        cols.push(format!("SUM({expr}) AS {col}"));
    }
    cols.push(format!("MAX({}) AS max_queue", queue_time("")));
    let groups: Vec<String> = (1..=key_columns(grain).len())
        .map(|i| i.to_string())
        .collect();
    format!(
        "SELECT {} FROM {source} GROUP BY {}",
        cols.join(", "),
        groups.join(", ")
    )
}

/// The statements that create today's grains, fill them from the rows already stored and
/// keep them exact: what the migrations, taken together, must have run. A change to the
/// definitions above changes these, and [`tests`] then fail until a new migration (its SQL
/// frozen beside the others in the migration crate) holds the new statements.
pub fn schema_statements(backend: DbBackend) -> Vec<String> {
    let grains: Vec<&Grain> = GRAINS.iter().collect();
    let mut statements: Vec<String> = GRAINS.iter().flat_map(|g| build(g, backend)).collect();
    statements.extend(create_triggers(&grains, backend));
    statements
}

/// The columns of a grain table in order (key, counts, `max_queue`).
pub fn table_columns(grain: &Grain) -> Vec<&'static str> {
    let mut cols = key_columns(grain);
    cols.extend(count_columns());
    cols.push("max_queue");
    cols
}

/// A grain's rows rebuilt from `dialogues` (the same columns as [`table_columns`]): what the
/// migration fills the table with, and what the triggers must keep it equal to.
pub fn rebuilt_select(grain: &Grain) -> String {
    aggregate_select(grain, "dialogues")
}

#[cfg(test)]
mod tests {
    use super::deltas::*;
    use super::*;

    #[test]
    fn every_statement_of_todays_definitions_is_in_a_frozen_migration() {
        for (backend, name) in [
            (DbBackend::Postgres, "PostgreSQL"),
            (DbBackend::Sqlite, "SQLite"),
        ] {
            let frozen: std::collections::HashSet<&str> = migration::FROZEN_SCRIPTS
                .iter()
                .flat_map(|s| {
                    migration::frozen_statements(match backend {
                        DbBackend::Postgres => s.postgres,
                        _ => s.sqlite,
                    })
                })
                .collect();
            for statement in schema_statements(backend) {
                assert!(
                    frozen.contains(statement.trim().trim_end_matches(';')),
                    "{name}: the pre-aggregate definitions render a statement no migration ran; \
                     add a migration whose frozen SQL runs it:\n{statement}"
                );
            }
        }
    }

    #[test]
    fn milliseconds_round_as_sqlite_rounds() {
        // 2.0625 s is exact in binary: 2062.5 ms is a true tie (PostgreSQL would say 2062).
        assert_eq!(sqlite_round(2.0625 * 1000.0), 2063);
        assert_eq!(sqlite_round(-2.5), -3);
        // SQLite adds 0.5 then truncates: the sum itself rounds up here.
        assert_eq!(sqlite_round(0.49999999999999994), 1);
        assert_eq!(sqlite_round(59_028.999_999_999_99), 59_029);
    }

    #[test]
    fn upserts_come_in_few_sizes_in_key_order() {
        let mut deltas = Deltas::default();
        // 123 hours in reverse order: 123 groups in every hour grain.
        for hour in (0..123).rev() {
            deltas.add(&Dialogue {
                tenant_id: 1,
                start_timestamp_ms: hour * HOUR_MS,
                queue_enter_timestamp_ms: None,
                ivr_duration_in_sec: None,
                queue_duration_in_sec: None,
                initial_talk_duration_in_sec: None,
                session_duration_in_sec: None,
                ivr_id: None,
                queue_id: Some("q"),
                agent_id: None,
                direction: INBOUND,
                outcome: IVR_DROP,
                in_sla: None,
                quick_drop: None,
            });
        }
        let hour_queue = GRAINS
            .iter()
            .position(|g| g.table == "rollup_hour_queue")
            .unwrap();
        let width = table_columns(&GRAINS[hour_queue]).len();
        let mut one_grain = Deltas {
            ids: deltas.ids.clone(),
            ..Default::default()
        };
        one_grain.groups[hour_queue] = deltas.groups[hour_queue].clone();
        let rows: Vec<usize> = one_grain
            .take_statements()
            .iter()
            .map(|s| s.values.as_ref().map_or(0, |v| v.0.len()) / width)
            .collect();
        let groups = deltas.keyed_groups(hour_queue);
        let slots: Vec<KeyPart> = groups.iter().map(|(key, _)| key[1].clone()).collect();
        let in_order: Vec<KeyPart> = (0..123).map(|h| KeyPart::Int(h * HOUR_MS)).collect();
        assert_eq!(slots, in_order);
        assert_eq!(rows, vec![50, 50, 16, 4, 2, 1]);
    }

    #[test]
    fn a_dialogue_adds_to_its_group_in_every_grain() {
        let d = Dialogue {
            tenant_id: 7,
            start_timestamp_ms: 3 * HOUR_MS + 20 * MINUTE_MS,
            queue_enter_timestamp_ms: Some(3 * HOUR_MS + 21 * MINUTE_MS),
            ivr_duration_in_sec: Some(60.0),
            queue_duration_in_sec: Some(12.345),
            initial_talk_duration_in_sec: Some(100.0),
            session_duration_in_sec: None,
            ivr_id: None,
            queue_id: Some("q"),
            agent_id: Some("a"),
            direction: INBOUND,
            outcome: ACCEPTED,
            in_sla: Some(true),
            quick_drop: None,
        };
        let mut deltas = Deltas::default();
        deltas.add(&d);
        deltas.add(&d);
        let dims = deltas.keyed_groups(3);
        assert_eq!(dims.len(), 1);
        let (key, group) = &dims[0];
        assert_eq!(GRAINS[3].table, "rollup_hour_dims");
        assert_eq!(
            key,
            &vec![
                KeyPart::Int(7),
                KeyPart::Int(3 * HOUR_MS),
                KeyPart::Text("q".into()),
                KeyPart::Text("".into()),
                KeyPart::Int(1),
                KeyPart::Int(1),
                KeyPart::Int(1),
                KeyPart::Int(-1),
            ]
        );
        let sums: Vec<(&str, i64)> = count_columns().into_iter().zip(group.sums).collect();
        assert_eq!(
            sums,
            vec![
                ("n", 2),
                ("inbound", 2),
                ("outbound", 0),
                ("offered", 2),
                ("accepted", 2),
                ("abandoned", 0),
                ("quick_drops", 0),
                ("ivr_drops", 0),
                ("accepted_in_sla", 2),
                ("asa_sum_ms", 24_690),
                ("asa_n", 2),
                ("abandon_sum_ms", 0),
                ("abandon_n", 0),
                ("talk_sum_ms", 200_000),
                ("talk_n", 2),
                ("ivr_sum_ms", 120_000),
                ("ivr_n", 2),
                ("session_sum_ms", 0),
                ("session_n", 0),
            ]
        );
        assert_eq!(group.max_queue, Some(12.345));
        deltas.add(&d);
        deltas.add(&d);
        assert_eq!(deltas.take_statements().len(), GRAINS.len());
        assert!(deltas.is_empty());
    }
}
