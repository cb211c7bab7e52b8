//! Pre-aggregates of the dialogues (issue 9): per tenant, per UTC time slot and per a few
//! dimensions, the counts and exact sums the KPIs of API.md §4 need. The same table layout at
//! several grains; database triggers on `dialogues` keep every grain exact in the transaction
//! that writes the rows, whoever writes them (importer, mutations, a hand-typed UPDATE).
//!
//! Grains, measured on the 1M demo (`insights demo --dialogues 1000000 --days 365 --until
//! 2026-11-01 --seed 42`, PostgreSQL 15, 2 shared cores): rows per grain, and what keeping the
//! grain costs an insert of 100,000 dialogues into the 1M table (2.0 s without any grain;
//! `INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE` per grain, about 25 µs per group touched):
//!
//! | grain | rows at 1M | rows at 5M | +ms per 100k inserted |
//! |---|---|---|---|
//! | UTC day × queue | 2,555 | 2,555 | 53 |
//! | UTC hour × queue | 32,059 | 33,093 | 83 |
//! | 15 min × queue | 114,511 | | ~290 (estimated from groups) |
//! | 15 min × queue, ivr, direction, outcome | 270,060 | 387,674 | 670 |
//! | 15 min × all five dimensions | 718,252 | 1,758,357 | 1,331 |
//!
//! With all of the last four the import fell from 25,494 to 11,056 dialogues/s (bench/rollups.sh);
//! the grains keyed by agent, ivr, direction or outcome hold nearly as many rows as the
//! dialogues at 15 minutes, so they save little reading and cost most of the writing. Kept: the
//! first three (within the 20% write budget): day × queue answers `totalCount`, hour × queue the
//! whole-hour zones' stats by queue, 15 min × queue the +05:30/+05:45 zones and sub-hour
//! buckets. Questions grouped or filtered by agent, ivr, direction or outcome read the rows, as
//! before. The flags (queued, inSla, quickDrop) are columns (per-set counts), never keys: as
//! keys they multiply the rows (146,951 at the hour grain against 32,059). The query core picks
//! the coarsest grain that holds the dimensions a question uses and whose slots do not straddle
//! its buckets (every modern IANA offset is a multiple of 15 minutes).
//!
//! An absent queue/agent/ivr id is stored as `''` (ids are never empty: the importer reads an
//! empty cell as null), so that the grain key is a plain unique key on SQLite and PostgreSQL;
//! the query core reads it back through `NULLIF(column, '')`.
//!
//! Exactness: counts and sums of whole milliseconds (`ROUND(duration * 1000)`, the expression
//! the row path sums) are added and subtracted; the maximum queue time cannot be subtracted, so
//! when a row that held a group's maximum leaves the group it is recomputed from the rows (an
//! index range scan of one slot: `ix_dialogues_tenant_start`). Groups left with no dialogue are
//! deleted.
//!
//! PostgreSQL: statement-level AFTER triggers with transition tables aggregate a whole batch in
//! one statement per grain (an `INSERT … ON CONFLICT DO UPDATE` fires the insert trigger for the
//! new rows and the update trigger for the changed ones). Inserts upsert the aggregate rows in
//! key order; updates and deletes first lock the existing aggregate rows they touch (old and new
//! keys) in key order, so two writers take the locks they share in one order. (A key created by
//! one transaction while another holds locks could still make PostgreSQL pick a deadlock
//! victim, which then rolls back whole; re-running the import finishes the job.) SQLite (one
//! writer at a time): row-level triggers.
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// One pre-aggregate table: slots of `slot_ms` (aligned to the UTC epoch) × `dims`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grain {
    pub table: &'static str,
    pub slot_ms: i64,
    /// Dialogue columns that key the grain, among queue_id, agent_id, ivr_id, direction, outcome.
    pub dims: &'static [&'static str],
}

/// Coarsest first.
pub const GRAINS: [Grain; 3] = [
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
        table: "rollup_15m_queue",
        slot_ms: 15 * MINUTE_MS,
        dims: &["queue_id"],
    },
];

/// Outcome and direction codes as stored (entity::Outcome / entity::Direction).
const ACCEPTED: i16 = 1;
const ABANDONED: i16 = 2;
const IVR_DROP: i16 = 3;
const INBOUND: i16 = 1;
const OUTBOUND: i16 = 2;

/// Whether a dimension is an id (stored with `''` for absent).
pub fn is_id(dim: &str) -> bool {
    dim.ends_with("_id")
}

/// The aggregate columns and what one dialogue row `r` (a column prefix such as `NEW.`) adds
/// to each; `max_queue` is apart (a maximum).
fn contributions(r: &str) -> Vec<(&'static str, String)> {
    let q = format!(
        "{r}queue_enter_timestamp_ms IS NOT NULL AND {r}outcome IN ({ACCEPTED}, {ABANDONED})"
    );
    let a = format!("{r}queue_enter_timestamp_ms IS NOT NULL AND {r}outcome = {ACCEPTED}");
    let b = format!("{r}queue_enter_timestamp_ms IS NOT NULL AND {r}outcome = {ABANDONED}");
    let count = |cond: String| format!("(CASE WHEN {cond} THEN 1 ELSE 0 END)");
    let sum_ms = |cond: &str, col: &str| {
        format!("(CASE WHEN {cond} AND {r}{col} IS NOT NULL THEN CAST(ROUND({r}{col} * 1000) AS BIGINT) ELSE 0 END)")
    };
    let n = |cond: &str, col: &str| count(format!("{cond} AND {r}{col} IS NOT NULL"));
    vec![
        ("n", "1".to_string()),
        ("inbound", count(format!("{r}direction = {INBOUND}"))),
        ("outbound", count(format!("{r}direction = {OUTBOUND}"))),
        ("offered", count(q.clone())),
        ("accepted", count(a.clone())),
        ("abandoned", count(b.clone())),
        (
            "quick_drops",
            count(format!("{b} AND {r}quick_drop = TRUE")),
        ),
        ("ivr_drops", count(format!("{r}outcome = {IVR_DROP}"))),
        (
            "accepted_in_sla",
            count(format!("{a} AND {r}in_sla = TRUE")),
        ),
        ("asa_sum_ms", sum_ms(&a, "queue_duration_in_sec")),
        ("asa_n", n(&a, "queue_duration_in_sec")),
        ("abandon_sum_ms", sum_ms(&b, "queue_duration_in_sec")),
        ("abandon_n", n(&b, "queue_duration_in_sec")),
        ("talk_sum_ms", sum_ms(&a, "initial_talk_duration_in_sec")),
        ("talk_n", n(&a, "initial_talk_duration_in_sec")),
        ("ivr_sum_ms", sum_ms("TRUE", "ivr_duration_in_sec")),
        ("ivr_n", n("TRUE", "ivr_duration_in_sec")),
        ("session_sum_ms", sum_ms("TRUE", "session_duration_in_sec")),
        ("session_n", n("TRUE", "session_duration_in_sec")),
    ]
}

/// The aggregate columns (all BIGINT, never null) in table order.
pub fn count_columns() -> Vec<&'static str> {
    contributions("").into_iter().map(|(c, _)| c).collect()
}

/// The queue duration a row adds to `max_queue` (null unless it is in Q).
fn queue_time(r: &str) -> String {
    format!(
        "(CASE WHEN {r}queue_enter_timestamp_ms IS NOT NULL AND {r}outcome IN ({ACCEPTED}, {ABANDONED}) THEN {r}queue_duration_in_sec END)"
    )
}

/// The slot start of `r`'s start instant (floor division, right before 1970 too).
fn slot(grain: &Grain, r: &str) -> String {
    let u = grain.slot_ms;
    format!("({r}start_timestamp_ms - ((({r}start_timestamp_ms % {u}) + {u}) % {u}))")
}

fn dim_value(dim: &str, r: &str) -> String {
    if is_id(dim) {
        format!("COALESCE({r}{dim}, '')")
    } else {
        format!("{r}{dim}")
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
        cols.push(if is_id(dim) {
            format!("{dim} VARCHAR NOT NULL")
        } else {
            format!("{dim} SMALLINT NOT NULL")
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

/// PostgreSQL: the body of the statement-level trigger function.
fn postgres_function() -> String {
    let mut lock = Vec::new();
    let mut subtract = Vec::new();
    let mut add = Vec::new();
    let mut cleanup = Vec::new();
    for grain in &GRAINS {
        let t = grain.table;
        let key = key_columns(grain).join(", ");
        let cols = count_columns();
        let old_agg = aggregate_select(grain, "old_rows");
        let new_agg = aggregate_select(grain, "new_rows");
        let keys_of = |source: &str| {
            let mut cols = vec!["tenant_id".to_string(), slot(grain, "")];
            cols.extend(grain.dims.iter().map(|d| dim_value(d, "")));
            format!("SELECT {} FROM {source}", cols.join(", "))
        };
        // Lock the existing aggregate rows the statement touches, in key order.
        let touched = format!(
            "(SELECT DISTINCT * FROM ({} UNION ALL {}) AS k ({key}))",
            keys_of("old_rows"),
            keys_of("new_rows")
        );
        lock.push((
            t,
            format!(
                "PERFORM 1 FROM {t} g JOIN {touched} o ON {} ORDER BY {} FOR UPDATE OF g;",
                key_match(grain, "g", "o"),
                key_columns(grain)
                    .iter()
                    .map(|k| format!("g.{k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
        let sets: Vec<String> = cols
            .iter()
            .map(|c| format!("{c} = g.{c} - o.{c}"))
            .collect();
        subtract.push(format!(
            "UPDATE {t} g SET {} FROM ({old_agg}) o WHERE {};",
            sets.join(", "),
            key_match(grain, "g", "o")
        ));
        let sets: Vec<String> = cols
            .iter()
            .map(|c| format!("{c} = {t}.{c} + excluded.{c}"))
            .collect();
        let mut all_cols = key_columns(grain);
        all_cols.extend(cols.iter().copied());
        all_cols.push("max_queue");
        add.push(format!(
            "INSERT INTO {t} ({}) SELECT * FROM ({new_agg}) AS a ORDER BY {key} \
             ON CONFLICT ({key}) DO UPDATE SET {}, max_queue = {};",
            all_cols.join(", "),
            sets.join(", "),
            merged_max(&format!("{t}.max_queue"))
        ));
        cleanup.push(format!(
            "DELETE FROM {t} g USING ({old_agg}) o WHERE {} AND g.n = 0;",
            key_match(grain, "g", "o")
        ));
        cleanup.push(format!(
            "UPDATE {t} g SET max_queue = {} FROM ({old_agg}) o WHERE {} AND o.max_queue IS NOT NULL \
             AND (g.max_queue IS NULL OR o.max_queue >= g.max_queue);",
            recomputed_max(grain, "g"),
            key_match(grain, "g", "o")
        ));
    }
    let lock_old: Vec<String> = lock
        .iter()
        .map(|(_, sql)| sql.replace("new_rows", "old_rows"))
        .collect();
    let lock_both: Vec<String> = lock.iter().map(|(_, sql)| sql.clone()).collect();
    format!(
        "CREATE OR REPLACE FUNCTION rollups_apply() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {}
  ELSIF TG_OP = 'UPDATE' THEN
    {}
    {}
    {}
    {}
  ELSE
    {}
    {}
    {}
  END IF;
  RETURN NULL;
END
$body$",
        add.join("\n    "),
        lock_both.join("\n    "),
        subtract.join("\n    "),
        add.join("\n    "),
        cleanup.join("\n    "),
        lock_old.join("\n    "),
        subtract.join("\n    "),
        cleanup.join("\n    "),
    )
}

/// SQLite: the statements of the row-level triggers.
fn sqlite_triggers() -> Vec<String> {
    let mut add = Vec::new();
    let mut subtract = Vec::new();
    let mut cleanup = Vec::new();
    for grain in &GRAINS {
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
        cleanup.push(format!(
            "UPDATE {t} SET max_queue = {} WHERE {} AND {removed} IS NOT NULL \
             AND ({t}.max_queue IS NULL OR {removed} >= {t}.max_queue);",
            recomputed_max(grain, t),
            old_group(&format!("{t}.")),
        ));
    }
    vec![
        format!(
            "CREATE TRIGGER rollups_insert AFTER INSERT ON dialogues FOR EACH ROW BEGIN\n{}\nEND",
            add.join("\n")
        ),
        format!(
            "CREATE TRIGGER rollups_update AFTER UPDATE ON dialogues FOR EACH ROW BEGIN\n{}\n{}\n{}\nEND",
            subtract.join("\n"),
            add.join("\n"),
            cleanup.join("\n")
        ),
        format!(
            "CREATE TRIGGER rollups_delete AFTER DELETE ON dialogues FOR EACH ROW BEGIN\n{}\n{}\nEND",
            subtract.join("\n"),
            cleanup.join("\n")
        ),
    ]
}

/// Creates the tables and triggers, and builds the pre-aggregates of the rows already stored.
pub async fn install<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let mut statements = Vec::new();
    for grain in &GRAINS {
        statements.extend(create_table(grain, backend));
        let mut cols = key_columns(grain);
        cols.extend(count_columns());
        cols.push("max_queue");
        statements.push(format!(
            "INSERT INTO {} ({}) {}",
            grain.table,
            cols.join(", "),
            aggregate_select(grain, "dialogues")
        ));
    }
    match backend {
        DbBackend::Postgres => {
            statements.push(postgres_function());
            statements.push(
                "CREATE TRIGGER rollups_insert AFTER INSERT ON dialogues REFERENCING NEW TABLE AS new_rows \
                 FOR EACH STATEMENT EXECUTE FUNCTION rollups_apply()"
                    .into(),
            );
            statements.push(
                "CREATE TRIGGER rollups_update AFTER UPDATE ON dialogues REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows \
                 FOR EACH STATEMENT EXECUTE FUNCTION rollups_apply()"
                    .into(),
            );
            statements.push(
                "CREATE TRIGGER rollups_delete AFTER DELETE ON dialogues REFERENCING OLD TABLE AS old_rows \
                 FOR EACH STATEMENT EXECUTE FUNCTION rollups_apply()"
                    .into(),
            );
        }
        _ => statements.extend(sqlite_triggers()),
    }
    for sql in statements {
        db.execute_raw(Statement::from_string(backend, sql)).await?;
    }
    Ok(())
}

/// Drops the triggers and tables.
pub async fn uninstall<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let mut statements = Vec::new();
    for trigger in ["rollups_insert", "rollups_update", "rollups_delete"] {
        statements.push(match backend {
            DbBackend::Postgres => format!("DROP TRIGGER IF EXISTS {trigger} ON dialogues"),
            _ => format!("DROP TRIGGER IF EXISTS {trigger}"),
        });
    }
    if backend == DbBackend::Postgres {
        statements.push("DROP FUNCTION IF EXISTS rollups_apply()".into());
    }
    for grain in &GRAINS {
        statements.push(format!("DROP TABLE IF EXISTS {}", grain.table));
    }
    for sql in statements {
        db.execute_raw(Statement::from_string(backend, sql)).await?;
    }
    Ok(())
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
