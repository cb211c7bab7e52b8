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
use sea_orm::{DbBackend, Statement};

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

/// The statements that create a grain and build it from the rows already stored.
fn build(grain: &Grain, backend: DbBackend) -> Vec<String> {
    let mut statements = create_table(grain, backend);
    statements.push(format!(
        "INSERT INTO {} ({}) {}",
        grain.table,
        table_columns(grain).join(", "),
        aggregate_select(grain, "dialogues")
    ));
    statements
}

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

fn create_table(grain: &Grain, backend: DbBackend) -> Vec<String> {
    let mut cols = vec![
        "tenant_id INTEGER NOT NULL".to_string(),
        "slot_ms BIGINT NOT NULL".to_string(),
    ];
    for dim in grain.dims {
        cols.push(match dim_kind(dim) {
            DimKind::Id => format!("{dim} VARCHAR NOT NULL"),
            DimKind::Code | DimKind::Flag => format!("{dim} SMALLINT NOT NULL"),
        });
    }
    for col in count_columns() {
        cols.push(format!("{col} BIGINT NOT NULL"));
    }
    cols.push("max_queue DOUBLE PRECISION".to_string());
    cols.push(format!("PRIMARY KEY ({})", key_columns(grain).join(", ")));
    let table = grain.table;
    let mut sql = vec![format!("CREATE TABLE {table} ({})", cols.join(", "))];
    if backend == DbBackend::Sqlite {
        // The key is the only index (slot second: tenant + slot range scans).
        sql[0].push_str(" WITHOUT ROWID");
    } else {
        // Room on each page for the next version of its rows: the triggers update rows in
        // place (HOT, no index entry), a third cheaper per touched group than on full pages.
        sql[0].push_str(" WITH (fillfactor = 60)");
    }
    sql
}

/// `g.k = o.k AND …` over a grain's key.
fn key_match(grain: &Grain, g: &str, o: &str) -> String {
    key_columns(grain)
        .iter()
        .map(|k| format!("{g}.{k} = {o}.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The rows of a group (the grain table's row named `g`), as a condition on `dialogues d`.
fn group_rows(grain: &Grain, g: &str) -> String {
    let mut cond = vec![
        format!("d.tenant_id = {g}.tenant_id"),
        format!("d.start_timestamp_ms >= {g}.slot_ms"),
        format!("d.start_timestamp_ms < {g}.slot_ms + {}", grain.slot_ms),
    ];
    for dim in grain.dims {
        cond.push(format!("{} = {g}.{dim}", dim_value(dim, "d.")));
    }
    cond.join(" AND ")
}

/// The maximum queue time of a group recomputed from its rows.
fn recomputed_max(grain: &Grain, g: &str) -> String {
    format!(
        "(SELECT MAX({}) FROM dialogues d WHERE {})",
        queue_time("d."),
        group_rows(grain, g)
    )
}

/// `max_queue` after adding `excluded`'s (null-safe: neither side's null wins).
fn merged_max(current: &str) -> String {
    format!(
        "CASE WHEN {current} IS NULL OR excluded.max_queue > {current} THEN excluded.max_queue ELSE {current} END"
    )
}

/// Every dimension some grain is keyed by, in a fixed order.
fn all_dims(grains: &[&Grain]) -> Vec<&'static str> {
    let mut dims: Vec<&'static str> = Vec::new();
    for grain in grains {
        for dim in grain.dims {
            if !dims.contains(dim) {
                dims.push(dim);
            }
        }
    }
    dims
}

/// A transition table's tenant, start and dimensions as the grains store them (the columns
/// [`grain_key`] groups by).
fn stored_dims(grains: &[&Grain]) -> Vec<String> {
    let mut cols = vec!["tenant_id".to_string(), "start_timestamp_ms".to_string()];
    cols.extend(
        all_dims(grains)
            .iter()
            .map(|d| format!("{} AS {d}", dim_value(d, ""))),
    );
    cols
}

/// A grain's key over [`stored_dims`] rows, and the `GROUP BY` positions of its columns.
fn grain_key(grain: &Grain) -> (Vec<String>, Vec<String>) {
    let mut key = vec!["tenant_id".to_string(), slot(grain, "")];
    key.extend(grain.dims.iter().map(|d| d.to_string()));
    let positions = (1..=key.len()).map(|i| i.to_string()).collect();
    (key, positions)
}

/// Each row of a transition table with its dimensions as the grains store them and what it
/// adds to every aggregate column, negated for the rows that leave (`sign` "-").
fn change_rows(grains: &[&Grain], source: &str, sign: &str) -> String {
    let mut cols = stored_dims(grains);
    cols.extend(
        contributions("")
            .into_iter()
            .map(|(c, e)| format!("{sign}{e} AS {c}")),
    );
    // A leaving row cannot lower a maximum by addition (the clean-up recomputes it).
    if sign.is_empty() {
        cols.push(format!("{} AS max_queue", queue_time("")));
    } else {
        cols.push("CAST(NULL AS DOUBLE PRECISION) AS max_queue".to_string());
    }
    format!("SELECT {} FROM {source}", cols.join(", "))
}

/// PostgreSQL: one statement that adds a statement's change to every grain. The rows' share
/// of each aggregate column is computed once (`change`); each grain sums it by its own key
/// and upserts in key order, so the aggregate rows a statement touches, old and new groups
/// alike, are locked in one order by every writer.
fn postgres_upsert(grains: &[&Grain], sources: &[(&str, &str)]) -> String {
    let change = sources
        .iter()
        .map(|(source, sign)| change_rows(grains, source, sign))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let cols = count_columns();
    let mut upserts = Vec::new();
    for grain in grains {
        let t = grain.table;
        let key = key_columns(grain);
        let (mut select, groups) = grain_key(grain);
        select.extend(cols.iter().map(|c| format!("SUM({c})")));
        select.push("MAX(max_queue)".to_string());
        let sets: Vec<String> = cols
            .iter()
            .map(|c| format!("{c} = {t}.{c} + excluded.{c}"))
            .collect();
        upserts.push(format!(
            "INSERT INTO {t} ({}) SELECT {} FROM change GROUP BY {} ORDER BY {} \
             ON CONFLICT ({}) DO UPDATE SET {}, max_queue = {}",
            table_columns(grain).join(", "),
            select.join(", "),
            groups.join(", "),
            groups.join(", "),
            key.join(", "),
            sets.join(", "),
            merged_max(&format!("{t}.max_queue"))
        ));
    }
    with_last_as_main(vec![format!("change AS MATERIALIZED ({change})")], upserts)
}

/// PostgreSQL: after rows left their groups (`old_rows`), one statement that deletes the
/// groups left empty and recomputes the maximum queue time of those that lost a row holding
/// it, unless a row that joined the group (`new_rows` of an UPDATE) holds at least as much
/// (then the upsert's maximum is already right: a re-import that keeps a dialogue's queue time
/// and moves it within a grain's group recomputes nothing).
fn postgres_cleanup(grains: &[&Grain], with_new_rows: bool) -> String {
    let moved = |source: &str, left: bool| {
        let mut cols = stored_dims(grains);
        let (l, e) = if left {
            (queue_time(""), "NULL".to_string())
        } else {
            ("NULL".to_string(), queue_time(""))
        };
        cols.push(format!("{} AS leaving", if left { 1 } else { 0 }));
        cols.push(format!("CAST({l} AS DOUBLE PRECISION) AS left_max"));
        cols.push(format!("CAST({e} AS DOUBLE PRECISION) AS entered_max"));
        format!("SELECT {} FROM {source}", cols.join(", "))
    };
    let mut sources = vec![moved("old_rows", true)];
    if with_new_rows {
        sources.push(moved("new_rows", false));
    }
    let mut statements = Vec::new();
    for grain in grains {
        let key = key_columns(grain);
        let (select, groups) = grain_key(grain);
        let t = grain.table;
        let touched = format!(
            "(SELECT {}, MAX(left_max), MAX(entered_max) FROM moved GROUP BY {} HAVING MAX(leaving) = 1) \
             AS o ({}, left_max, entered_max)",
            select.join(", "),
            groups.join(", "),
            key.join(", ")
        );
        // Disjoint rows (n = 0 / n <> 0): one statement may not change a row twice.
        statements.push(format!(
            "DELETE FROM {t} g USING {touched} WHERE {} AND g.n = 0",
            key_match(grain, "g", "o")
        ));
        statements.push(format!(
            "UPDATE {t} g SET max_queue = {} FROM {touched} WHERE {} AND g.n <> 0 \
             AND o.left_max IS NOT NULL AND (g.max_queue IS NULL OR o.left_max >= g.max_queue) \
             AND (o.entered_max IS NULL OR o.entered_max < o.left_max)",
            recomputed_max(grain, "g"),
            key_match(grain, "g", "o")
        ));
    }
    with_last_as_main(
        vec![format!(
            "moved AS MATERIALIZED ({})",
            sources.join(" UNION ALL ")
        )],
        statements,
    )
}

/// `WITH ctes…, s1 AS (stmt1), … stmtN`: data-modifying statements run in one statement.
fn with_last_as_main(mut ctes: Vec<String>, mut statements: Vec<String>) -> String {
    let main = statements.pop().expect("at least one statement");
    for (i, statement) in statements.into_iter().enumerate() {
        ctes.push(format!("s{i} AS ({statement})"));
    }
    format!("WITH {} {main};", ctes.join(", "))
}

/// PostgreSQL: the body of the statement-level trigger function.
fn postgres_function(grains: &[&Grain]) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION rollups_apply() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {}
  ELSIF TG_OP = 'UPDATE' THEN
    {}
    {}
  ELSE
    {}
    {}
  END IF;
  RETURN NULL;
END
$body$",
        postgres_upsert(grains, &[("new_rows", "")]),
        postgres_upsert(grains, &[("new_rows", ""), ("old_rows", "-")]),
        postgres_cleanup(grains, true),
        postgres_upsert(grains, &[("old_rows", "-")]),
        postgres_cleanup(grains, false),
    )
}

/// SQLite: the statements of the row-level triggers.
fn sqlite_triggers(grains: &[&Grain]) -> Vec<String> {
    let mut add = Vec::new();
    let mut subtract = Vec::new();
    let mut cleanup = Vec::new();
    let mut cleanup_update = Vec::new();
    for grain in grains {
        let t = grain.table;
        let key = key_columns(grain);
        let mut cols = key.clone();
        let contributions_new = contributions("NEW.");
        cols.extend(contributions_new.iter().map(|(c, _)| *c));
        cols.push("max_queue");
        let mut values = vec!["NEW.tenant_id".to_string(), slot(grain, "NEW.")];
        values.extend(grain.dims.iter().map(|d| dim_value(d, "NEW.")));
        values.extend(contributions_new.iter().map(|(_, e)| e.clone()));
        values.push(queue_time("NEW."));
        let sets: Vec<String> = contributions_new
            .iter()
            .map(|(c, _)| format!("{c} = {c} + excluded.{c}"))
            .collect();
        add.push(format!(
            "INSERT INTO {t} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}, max_queue = {};",
            cols.join(", "),
            values.join(", "),
            key.join(", "),
            sets.join(", "),
            merged_max("max_queue")
        ));
        // The old row's group, its columns qualified by `g`.
        let old_group = |g: &str| {
            let mut key = vec![
                format!("{g}tenant_id = OLD.tenant_id"),
                format!("{g}slot_ms = {}", slot(grain, "OLD.")),
            ];
            key.extend(
                grain
                    .dims
                    .iter()
                    .map(|d| format!("{g}{d} = {}", dim_value(d, "OLD."))),
            );
            key.join(" AND ")
        };
        let old_key = old_group("");
        let sets: Vec<String> = contributions("OLD.")
            .into_iter()
            .map(|(c, e)| format!("{c} = {c} - {e}"))
            .collect();
        subtract.push(format!(
            "UPDATE {t} SET {} WHERE {old_key};",
            sets.join(", ")
        ));
        subtract.push(format!("DELETE FROM {t} WHERE {old_key} AND n = 0;"));
        let removed = queue_time("OLD.");
        let recompute = format!(
            "UPDATE {t} SET max_queue = {} WHERE {} AND {removed} IS NOT NULL \
             AND ({t}.max_queue IS NULL OR {removed} >= {t}.max_queue)",
            recomputed_max(grain, t),
            old_group(&format!("{t}.")),
        );
        cleanup.push(format!("{recompute};"));
        // An update that leaves the row in its group with at least its old queue time keeps
        // the maximum the add computed.
        let mut same_group = vec![
            "NEW.tenant_id = OLD.tenant_id".to_string(),
            format!("{} = {}", slot(grain, "NEW."), slot(grain, "OLD.")),
        ];
        same_group.extend(
            grain
                .dims
                .iter()
                .map(|d| format!("{} = {}", dim_value(d, "NEW."), dim_value(d, "OLD."))),
        );
        cleanup_update.push(format!(
            "{recompute} AND NOT COALESCE({} AND {} >= {removed}, 0);",
            same_group.join(" AND "),
            queue_time("NEW.")
        ));
    }
    vec![
        format!(
            "CREATE TRIGGER rollups_insert AFTER INSERT ON dialogues FOR EACH ROW \
             WHEN NOT EXISTS (SELECT 1 FROM {WRITER_TABLE}) BEGIN\n{}\nEND",
            add.join("\n")
        ),
        format!(
            "CREATE TRIGGER rollups_update AFTER UPDATE ON dialogues FOR EACH ROW BEGIN\n{}\n{}\n{}\nEND",
            subtract.join("\n"),
            add.join("\n"),
            cleanup_update.join("\n")
        ),
        format!(
            "CREATE TRIGGER rollups_delete AFTER DELETE ON dialogues FOR EACH ROW BEGIN\n{}\n{}\nEND",
            subtract.join("\n"),
            cleanup.join("\n")
        ),
    ]
}

fn create_triggers(grains: &[&Grain], backend: DbBackend) -> Vec<String> {
    if grains.is_empty() {
        return Vec::new();
    }
    match backend {
        DbBackend::Postgres => vec![
            postgres_function(grains),
            "CREATE TRIGGER rollups_insert AFTER INSERT ON dialogues REFERENCING NEW TABLE AS new_rows \
             FOR EACH STATEMENT EXECUTE FUNCTION rollups_apply()"
                .into(),
            "CREATE TRIGGER rollups_update AFTER UPDATE ON dialogues REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows \
             FOR EACH STATEMENT EXECUTE FUNCTION rollups_apply()"
                .into(),
            "CREATE TRIGGER rollups_delete AFTER DELETE ON dialogues REFERENCING OLD TABLE AS old_rows \
             FOR EACH STATEMENT EXECUTE FUNCTION rollups_apply()"
                .into(),
        ],
        _ => {
            let mut statements = vec![format!(
                "CREATE TABLE IF NOT EXISTS {WRITER_TABLE} (id INTEGER PRIMARY KEY)"
            )];
            statements.extend(sqlite_triggers(grains));
            statements
        }
    }
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

/// The columns of one dialogue the pre-aggregates read.
#[derive(Debug, Clone, Copy)]
pub struct Dialogue<'a> {
    pub tenant_id: i32,
    pub start_timestamp_ms: i64,
    pub queue_enter_timestamp_ms: Option<i64>,
    pub ivr_duration_in_sec: Option<f64>,
    pub queue_duration_in_sec: Option<f64>,
    pub initial_talk_duration_in_sec: Option<f64>,
    pub session_duration_in_sec: Option<f64>,
    pub ivr_id: Option<&'a str>,
    pub queue_id: Option<&'a str>,
    pub agent_id: Option<&'a str>,
    pub direction: i16,
    pub outcome: i16,
    pub in_sla: Option<bool>,
    pub quick_drop: Option<bool>,
}

/// A value of a grain's key, ordered as the database orders it (ids as UTF-8 bytes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum KeyPart {
    Int(i64),
    Text(String),
}

/// The dimensions a grain may key on, in the order of [`Deltas::dimensions`].
const DIMENSIONS: [&str; 7] = [
    "queue_id",
    "agent_id",
    "ivr_id",
    "direction",
    "outcome",
    "in_sla",
    "quick_drop",
];

/// A group's key while [`Deltas`] sums: tenant, slot and the grain's dimensions in its order,
/// an id as its position in the deltas' list of ids, so that summing a row allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct GroupKey {
    tenant_id: i32,
    slot_ms: i64,
    dims: [i64; DIMENSIONS.len()],
}

impl Dialogue<'_> {
    fn queue_time(&self) -> Option<f64> {
        let (set, duration) = MAX_QUEUE;
        set.holds(self).then_some(duration.of(self)).flatten()
    }
}

/// `CAST(ROUND(x) AS BIGINT)` as SQLite computes it: half away from zero, by adding ±0.5 and
/// truncating (`(sqlite_int64)(r ± 0.5)`, below 2^52; PostgreSQL would round half to even).
fn sqlite_round(x: f64) -> i64 {
    if x.abs() > 4_503_599_627_370_496.0 {
        x as i64
    } else {
        (x + if x < 0.0 { -0.5 } else { 0.5 }) as i64
    }
}

#[derive(Debug, Clone, Default)]
struct Group {
    /// Added rows counted plus, removed rows minus.
    sums: [i64; AGGREGATES.len()],
    /// The largest queue time among the added rows.
    max_queue: Option<f64>,
    /// The largest queue time among the removed rows: the stored maximum may have been one of
    /// theirs.
    removed_max: Option<f64>,
}

impl Group {
    /// The stored maximum may be a removed row's and no added row holds as much: recompute it.
    fn max_may_drop(&self) -> bool {
        self.removed_max
            .is_some_and(|removed| self.max_queue.is_none_or(|added| added < removed))
    }

    /// Changes nothing: rows that left and came back with the same sums and the same largest
    /// queue time (a dialogue moved in another grain's dimension).
    fn is_no_op(&self) -> bool {
        self.sums.iter().all(|s| *s == 0) && self.max_queue == self.removed_max
    }
}

/// SQLite: what a batch changes in the pre-aggregates, summed by the writer (rows it inserted
/// or wrote added, the stored versions of rows it changed removed) and written to every grain
/// with a few multi-row statements, instead of one upsert per grain and row by the row-level
/// triggers (which cost SQLite's import half its speed).
#[derive(Debug)]
pub struct Deltas {
    /// Per grain, the positions in [`DIMENSIONS`] of its dimensions.
    grain_dims: Vec<Vec<usize>>,
    /// Per grain, its groups (a fast hash: keys are the writer's own, not a client's).
    groups: Vec<foldhash::HashMap<GroupKey, Group>>,
    /// The ids the keys name (absent is `""`), and each one's position.
    ids: Vec<String>,
    id_positions: foldhash::HashMap<String, i64>,
}

/// Groups per upsert statement: 50 rows of up to 27 values stay far under SQLite's 32,766
/// bound values. A batch's last groups go in statements of 32, 16, …, 1, so a grain's upserts
/// come in seven texts, each prepared once per connection.
const GROUPS_PER_STATEMENT: usize = 50;

impl Default for Deltas {
    fn default() -> Self {
        let position = |dim: &str| {
            DIMENSIONS
                .iter()
                .position(|d| *d == dim)
                .unwrap_or_else(|| unreachable!("no dimension {dim}"))
        };
        Self {
            grain_dims: GRAINS
                .iter()
                .map(|g| g.dims.iter().map(|d| position(d)).collect())
                .collect(),
            groups: vec![Default::default(); GRAINS.len()],
            ids: Vec::new(),
            id_positions: Default::default(),
        }
    }
}

impl Deltas {
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.is_empty())
    }

    fn id(&mut self, id: Option<&str>) -> i64 {
        let id = id.unwrap_or("");
        if let Some(&at) = self.id_positions.get(id) {
            return at;
        }
        let at = self.ids.len() as i64;
        self.ids.push(id.to_string());
        self.id_positions.insert(id.to_string(), at);
        at
    }

    /// `d`'s value of every dimension in [`DIMENSIONS`]' order, as a grain's key stores it (see
    /// [`dim_value`]), ids as positions in `ids`.
    fn dimensions(&mut self, d: &Dialogue) -> [i64; DIMENSIONS.len()] {
        let flag = |v: Option<bool>| v.map_or(-1, i64::from);
        [
            self.id(d.queue_id),
            self.id(d.agent_id),
            self.id(d.ivr_id),
            d.direction.into(),
            d.outcome.into(),
            flag(d.in_sla),
            flag(d.quick_drop),
        ]
    }

    /// Adds a dialogue (inserted, or the new version of a changed one) to its group in every
    /// grain.
    pub fn add(&mut self, d: &Dialogue) {
        self.apply(d, 1);
    }

    /// Takes the stored version of a changed dialogue out of its group in every grain.
    pub fn remove(&mut self, d: &Dialogue) {
        self.apply(d, -1);
    }

    fn apply(&mut self, d: &Dialogue, sign: i64) {
        let mut sums = [0i64; AGGREGATES.len()];
        for (sum, (_, set, of)) in sums.iter_mut().zip(AGGREGATES.iter()) {
            if !set.holds(d) {
                continue;
            }
            *sum = sign
                * match of {
                    Sum::Count => 1,
                    Sum::Ms(duration) => duration.of(d).map_or(0, |x| sqlite_round(x * 1000.0)),
                    Sum::Having(duration) => i64::from(duration.of(d).is_some()),
                };
        }
        let queue_time = d.queue_time();
        let values = self.dimensions(d);
        for ((grain, dims), groups) in GRAINS
            .iter()
            .zip(self.grain_dims.iter())
            .zip(self.groups.iter_mut())
        {
            let mut key = GroupKey {
                tenant_id: d.tenant_id,
                slot_ms: d.start_timestamp_ms.div_euclid(grain.slot_ms) * grain.slot_ms,
                dims: [0; DIMENSIONS.len()],
            };
            for (k, &at) in key.dims.iter_mut().zip(dims) {
                *k = values[at];
            }
            let group = groups.entry(key).or_default();
            for (total, add) in group.sums.iter_mut().zip(sums) {
                *total += add;
            }
            if let Some(q) = queue_time {
                let max = if sign > 0 {
                    &mut group.max_queue
                } else {
                    &mut group.removed_max
                };
                if max.is_none_or(|m| q > m) {
                    *max = Some(q);
                }
            }
        }
    }

    /// A grain's groups with their keys as the table stores them, in the table's key order
    /// (so that upserts walk its B-tree forwards).
    fn keyed_groups(&mut self, grain: usize) -> Vec<(Vec<KeyPart>, Group)> {
        let dims = &self.grain_dims[grain];
        let mut groups: Vec<(Vec<KeyPart>, Group)> = std::mem::take(&mut self.groups[grain])
            .into_iter()
            .map(|(key, group)| {
                let mut parts = vec![
                    KeyPart::Int(key.tenant_id.into()),
                    KeyPart::Int(key.slot_ms),
                ];
                parts.extend(dims.iter().zip(key.dims).map(|(&at, value)| {
                    match dim_kind(DIMENSIONS[at]) {
                        DimKind::Id => KeyPart::Text(self.ids[value as usize].clone()),
                        DimKind::Code | DimKind::Flag => KeyPart::Int(value),
                    }
                }));
                (parts, group)
            })
            .collect();
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        groups
    }

    /// The statements that add the sums to the grains (and empty the deltas): upserts, then,
    /// where rows left, the deletion of groups left empty and the recomputation of maxima a
    /// leaving row may have held (what the SQLite update trigger does row by row).
    pub fn take_statements(&mut self) -> Vec<Statement> {
        let mut statements = Vec::new();
        for (at, grain) in GRAINS.iter().enumerate() {
            let mut groups = self.keyed_groups(at);
            groups.retain(|(_, group)| !group.is_no_op());
            statements.extend(in_few_sizes(&groups).map(|chunk| upsert_groups(grain, chunk)));
            // `n` can reach 0 only where rows left and fewer came: their tenant's slots.
            let mut emptied: Vec<(i64, i64)> = groups
                .iter()
                .filter(|(_, group)| group.sums[0] < 0)
                .filter_map(|(key, _)| match (&key[0], &key[1]) {
                    (KeyPart::Int(tenant), KeyPart::Int(slot)) => Some((*tenant, *slot)),
                    _ => None,
                })
                .collect();
            emptied.dedup();
            // In key order: one run of slots per tenant.
            for run in emptied.chunk_by(|a, b| a.0 == b.0) {
                let slots: Vec<i64> = run.iter().map(|(_, slot)| *slot).collect();
                statements.extend(
                    in_few_sizes(&slots).map(|chunk| delete_emptied(grain, run[0].0, chunk)),
                );
            }
            let recompute: Vec<(Vec<KeyPart>, f64)> = groups
                .into_iter()
                .filter(|(_, group)| group.max_may_drop())
                .filter_map(|(key, group)| Some((key, group.removed_max?)))
                .collect();
            statements.extend(in_few_sizes(&recompute).map(|chunk| recompute_max(grain, chunk)));
        }
        self.ids.clear();
        self.id_positions.clear();
        statements
    }
}

/// `items` in chunks of [`GROUPS_PER_STATEMENT`], the rest in powers of two: few statement
/// texts, each prepared once per connection.
fn in_few_sizes<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = if rest.len() >= GROUPS_PER_STATEMENT {
            GROUPS_PER_STATEMENT
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, after) = rest.split_at(n);
        rest = after;
        Some(chunk)
    })
}

fn key_value(part: &KeyPart) -> sea_orm::Value {
    match part {
        KeyPart::Int(i) => (*i).into(),
        KeyPart::Text(s) => s.clone().into(),
    }
}

/// Deletes the groups of `tenant` left empty in `slots` (the primary key's prefix: only those
/// slots' groups are read).
fn delete_emptied(grain: &Grain, tenant: i64, slots: &[i64]) -> Statement {
    let mut values = vec![tenant.into()];
    values.extend(slots.iter().map(|s| (*s).into()));
    Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!(
            "DELETE FROM {} WHERE tenant_id = ? AND slot_ms IN ({}) AND n = 0",
            grain.table,
            vec!["?"; slots.len()].join(", ")
        ),
        values,
    )
}

/// Recomputes from the rows the maximum queue time of each group whose stored maximum may be a
/// leaving row's (`removed`, the largest that left, at least that maximum).
fn recompute_max(grain: &Grain, groups: &[(Vec<KeyPart>, f64)]) -> Statement {
    let key = key_columns(grain);
    let mut values = Vec::with_capacity(groups.len() * (key.len() + 1));
    for (parts, removed) in groups {
        values.extend(parts.iter().map(key_value));
        values.push((*removed).into());
    }
    let row = format!("({})", vec!["?"; key.len() + 1].join(", "));
    let matches: Vec<String> = key
        .iter()
        .enumerate()
        .map(|(i, c)| format!("g.{c} = k.column{}", i + 1))
        .collect();
    Statement::from_sql_and_values(
        DbBackend::Sqlite,
        format!(
            "UPDATE {} AS g SET max_queue = {} FROM (VALUES {}) AS k WHERE {} \
             AND (g.max_queue IS NULL OR k.column{} >= g.max_queue)",
            grain.table,
            recomputed_max(grain, "g"),
            vec![row; groups.len()].join(", "),
            matches.join(" AND "),
            key.len() + 1
        ),
        values,
    )
}

/// `INSERT INTO grain VALUES (…), … ON CONFLICT (key) DO UPDATE SET column = column +
/// excluded.column…` (SQLite: bound values read faster than JSON there).
fn upsert_groups(grain: &Grain, groups: &[(Vec<KeyPart>, Group)]) -> Statement {
    use sea_orm::Value;
    let t = grain.table;
    let columns = table_columns(grain);
    let mut values: Vec<Value> = Vec::with_capacity(groups.len() * columns.len());
    for (key, group) in groups {
        values.extend(key.iter().map(key_value));
        values.extend(group.sums.iter().map(|s| Value::from(*s)));
        values.push(Value::from(group.max_queue));
    }
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    let sets: Vec<String> = count_columns()
        .iter()
        .map(|c| format!("{c} = {t}.{c} + excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO {t} ({}) VALUES {} ON CONFLICT ({}) DO UPDATE SET {}, max_queue = {}",
        columns.join(", "),
        vec![row; groups.len()].join(", "),
        key_columns(grain).join(", "),
        sets.join(", "),
        merged_max(&format!("{t}.max_queue"))
    );
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

/// SQLite: the statements that begin and end, within the current transaction, the mark that
/// the writer adds the rows it inserts to the pre-aggregates itself ([`Deltas`]), so that the
/// row-level insert trigger leaves them alone; every other insert (plain SQL included), every
/// update and every delete still goes through the triggers. One writer at a time: the mark is a
/// row only this transaction sees, deleted again before it commits. None on PostgreSQL, whose
/// statement-level trigger sums a whole statement at once and stays in charge there.
pub fn writer_adds_inserts(backend: DbBackend) -> Option<(Statement, Statement)> {
    (backend == DbBackend::Sqlite).then(|| {
        let statement = |sql: String| Statement::from_string(backend, sql);
        (
            statement(format!(
                "INSERT OR IGNORE INTO {WRITER_TABLE} (id) VALUES (1)"
            )),
            statement(format!("DELETE FROM {WRITER_TABLE}")),
        )
    })
}

/// SQLite: the statements that begin and end, within the current transaction, the writer's
/// charge of every insert and update of that transaction ([`Deltas::add`] and
/// [`Deltas::remove`]): they drop the row-level insert and update triggers and create them
/// again, so that no row pays for a trigger, not even for the insert trigger's test of the mark
/// ([`writer_adds_inserts`]), which costs an import of many batches about a tenth of its speed.
/// A change of the schema, seen by no one before the commit (the transaction holds the one
/// write lock; a rollback restores the triggers) and by everyone after it (each connection then
/// reads the schema again once): for a transaction of many rows such as an import, not for
/// each small write. Deletes keep their trigger. None on PostgreSQL.
pub fn writer_takes_over_writes(backend: DbBackend) -> Option<(Vec<Statement>, Vec<Statement>)> {
    (backend == DbBackend::Sqlite).then(|| {
        let grains: Vec<&Grain> = GRAINS.iter().collect();
        let triggers = sqlite_triggers(&grains);
        let statement = |sql: String| Statement::from_string(backend, sql);
        (
            vec![
                statement("DROP TRIGGER rollups_insert".to_string()),
                statement("DROP TRIGGER rollups_update".to_string()),
            ],
            triggers[..2].iter().cloned().map(statement).collect(),
        )
    })
}

const WRITER_TABLE: &str = "rollups_writer";

#[cfg(test)]
mod tests {
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
