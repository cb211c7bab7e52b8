//! The SQL that builds the grains and keeps them exact on each database: the tables and their
//! fill from the rows, PostgreSQL's statement-level trigger function, SQLite's row-level
//! triggers, and the marks by which SQLite's batch writer takes writes over from them.
use sea_orm::{DbBackend, Statement};

use super::*;

/// The statements that create a grain and build it from the rows already stored.
pub(super) fn build(grain: &Grain, backend: DbBackend) -> Vec<String> {
    let mut statements = create_table(grain, backend);
    statements.push(format!(
        "INSERT INTO {} ({}) {}",
        grain.table,
        table_columns(grain).join(", "),
        aggregate_select(grain, "dialogues")
    ));
    statements
}

pub(super) fn create_table(grain: &Grain, backend: DbBackend) -> Vec<String> {
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
pub(super) fn key_match(grain: &Grain, g: &str, o: &str) -> String {
    key_columns(grain)
        .iter()
        .map(|k| format!("{g}.{k} = {o}.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The rows of a group (the grain table's row named `g`), as a condition on `dialogues d`.
pub(super) fn group_rows(grain: &Grain, g: &str) -> String {
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
pub(super) fn recomputed_max(grain: &Grain, g: &str) -> String {
    format!(
        "(SELECT MAX({}) FROM dialogues d WHERE {})",
        queue_time("d."),
        group_rows(grain, g)
    )
}

/// `max_queue` after adding `excluded`'s (null-safe: neither side's null wins).
pub(super) fn merged_max(current: &str) -> String {
    format!(
        "CASE WHEN {current} IS NULL OR excluded.max_queue > {current} THEN excluded.max_queue ELSE {current} END"
    )
}

/// Every dimension some grain is keyed by, in a fixed order.
pub(super) fn all_dims(grains: &[&Grain]) -> Vec<&'static str> {
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
pub(super) fn stored_dims(grains: &[&Grain]) -> Vec<String> {
    let mut cols = vec!["tenant_id".to_string(), "start_timestamp_ms".to_string()];
    cols.extend(
        all_dims(grains)
            .iter()
            .map(|d| format!("{} AS {d}", dim_value(d, ""))),
    );
    cols
}

/// A grain's key over [`stored_dims`] rows, and the `GROUP BY` positions of its columns.
pub(super) fn grain_key(grain: &Grain) -> (Vec<String>, Vec<String>) {
    let mut key = vec!["tenant_id".to_string(), slot(grain, "")];
    key.extend(grain.dims.iter().map(|d| d.to_string()));
    let positions = (1..=key.len()).map(|i| i.to_string()).collect();
    (key, positions)
}

/// Each row of a transition table with its dimensions as the grains store them and what it
/// adds to every aggregate column, negated for the rows that leave (`sign` "-").
pub(super) fn change_rows(grains: &[&Grain], source: &str, sign: &str) -> String {
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
pub(super) fn postgres_upsert(grains: &[&Grain], sources: &[(&str, &str)]) -> String {
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
pub(super) fn postgres_cleanup(grains: &[&Grain], with_new_rows: bool) -> String {
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
pub(super) fn with_last_as_main(mut ctes: Vec<String>, mut statements: Vec<String>) -> String {
    let main = statements.pop().expect("at least one statement");
    for (i, statement) in statements.into_iter().enumerate() {
        ctes.push(format!("s{i} AS ({statement})"));
    }
    format!("WITH {} {main};", ctes.join(", "))
}

/// PostgreSQL: the body of the statement-level trigger function.
pub(super) fn postgres_function(grains: &[&Grain]) -> String {
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
pub(super) fn sqlite_triggers(grains: &[&Grain]) -> Vec<String> {
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

pub(super) fn create_triggers(grains: &[&Grain], backend: DbBackend) -> Vec<String> {
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

pub(super) const WRITER_TABLE: &str = "rollups_writer";
