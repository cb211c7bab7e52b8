//! Batched, idempotent upserts. One multi-row statement per batch (on SQLite a look-up of the
//! stored ids, an insert of the new rows and an upsert of the stored ones); a row that is
//! already stored with the same values is not rewritten, so re-importing a file changes nothing.
//! Each upsert tells the rows it inserted or changed, so counts come from the batch itself.
use std::collections::{HashMap, HashSet};

use entity::{dialogue, endpoint, EndpointRole, Outcome};
use sea_orm::{
    ActiveEnum, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryResult, Statement, Value,
};

use super::columns::{self, column, names, Column, Kind};
use crate::db::placeholder;
use crate::ingest::record::Derived;

/// Largest number of rows in one statement: 22 values a dialogue stays below SQLite's 32,766
/// bound parameters and PostgreSQL's 65,535.
pub const MAX_BATCH_ROWS: usize = 1000;

/// Rows the importer hands the writer at once (PostgreSQL writes them in one statement).
pub const IMPORT_BATCH_ROWS: usize = 5000;

const DIALOGUE_COLUMNS: [Column; 22] = [
    column("tenant_id", Kind::Int),
    column("id", Kind::Text),
    column("order_number", Kind::Int),
    column("start_date", Kind::Date),
    column("start_timestamp_ms", Kind::BigInt),
    column("queue_enter_timestamp_ms", Kind::NullableBigInt),
    column("accept_timestamp_ms", Kind::NullableBigInt),
    column("end_timestamp_ms", Kind::NullableBigInt),
    column("ivr_duration_in_sec", Kind::NullableDouble),
    column("queue_duration_in_sec", Kind::NullableDouble),
    column("initial_talk_duration_in_sec", Kind::NullableDouble),
    column("session_duration_in_sec", Kind::NullableDouble),
    column("ivr_id", Kind::NullableText),
    column("queue_id", Kind::NullableText),
    column("customer_id", Kind::NullableText),
    column("agent_id", Kind::NullableText),
    column("direction", Kind::SmallInt),
    column("outcome", Kind::SmallInt),
    column("in_sla", Kind::NullableFlag),
    column("quick_drop", Kind::NullableFlag),
    column("change_position", Kind::BigInt),
    column("change_index", Kind::BigInt),
];

/// Columns an upsert writes but does not compare: a row whose other values are the same is
/// unchanged, and keeps the change position it has.
const NOT_COMPARED: [&str; 2] = ["change_position", "change_index"];

/// `name_search` is the name case-folded here, with Unicode rules, for the text filters
/// (SQLite's LOWER() folds ASCII only); it is not part of the entity.
const ENDPOINT_COLUMNS: [Column; 7] = [
    column("tenant_id", Kind::Int),
    column("id", Kind::Text),
    column("name", Kind::NullableText),
    column("role", Kind::SmallInt),
    column("sla_threshold_in_sec", Kind::NullableDouble),
    column("quick_drop_threshold_in_sec", Kind::NullableDouble),
    column("name_search", Kind::NullableText),
];

/// What an endpoint stub writes: the rest stays null until someone describes the endpoint.
const STUB_COLUMNS: [Column; 3] = [
    column("tenant_id", Kind::Int),
    column("id", Kind::Text),
    column("role", Kind::SmallInt),
];

#[derive(Clone, Copy)]
enum OnConflict<'a> {
    /// Update the row when any non-key value differs; leave it untouched otherwise.
    UpdateChanged,
    /// As `UpdateChanged`, a column taking the value of its expression (over `excluded` and
    /// the stored row) instead of `excluded`'s.
    UpdateChangedWith(&'a [(&'a str, String)]),
    Nothing,
}

/// `INSERT ... VALUES (...), (...) ON CONFLICT (key) DO ...` for `rows` rows.
fn upsert_sql(
    backend: DbBackend,
    table: &str,
    columns: &[&str],
    key: &[&str],
    rows: usize,
    on_conflict: OnConflict<'_>,
) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    if backend == DbBackend::Postgres {
        let mut n = 0;
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for col in 0..columns.len() {
                if col > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                sql.push_str(&placeholder(backend, n));
            }
            sql.push(')');
        }
    } else {
        // SQLite's placeholders are all `?`: one row's text, repeated.
        let row = format!("({})", vec!["?"; columns.len()].join(", "));
        sql.push_str(&vec![row; rows].join(", "));
    }
    sql.push_str(&conflict_clause(backend, table, columns, key, on_conflict));
    sql
}

/// PostgreSQL: the batch as one array a column ([`columns`]), then `ON CONFLICT`.
fn upsert_arrays_sql(
    table: &str,
    columns: &[Column],
    key: &[&str],
    on_conflict: OnConflict<'_>,
) -> String {
    columns::insert_from_arrays(table, columns)
        + &conflict_clause(
            DbBackend::Postgres,
            table,
            &names(columns),
            key,
            on_conflict,
        )
}

fn conflict_clause(
    backend: DbBackend,
    table: &str,
    columns: &[&str],
    key: &[&str],
    on_conflict: OnConflict<'_>,
) -> String {
    let mut sql = format!(" ON CONFLICT ({}) DO ", key.join(", "));
    let with = match on_conflict {
        OnConflict::Nothing => {
            sql.push_str("NOTHING");
            return sql;
        }
        OnConflict::UpdateChanged => &[][..],
        OnConflict::UpdateChangedWith(with) => with,
    };
    let updated: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| !key.contains(c))
        .collect();
    let value = |c: &str| match with.iter().find(|(column, _)| *column == c) {
        Some((_, expression)) => format!("({expression})"),
        None => format!("excluded.{c}"),
    };
    let sets: Vec<String> = updated
        .iter()
        .map(|c| format!("{c} = {}", value(c)))
        .collect();
    // Null-safe equality: `IS` on SQLite, `IS NOT DISTINCT FROM` on PostgreSQL.
    let same = match backend {
        DbBackend::Postgres => "IS NOT DISTINCT FROM",
        _ => "IS",
    };
    let unchanged: Vec<String> = updated
        .iter()
        .filter(|c| !NOT_COMPARED.contains(c))
        .map(|c| format!("{table}.{c} {same} {}", value(c)))
        .collect();
    sql.push_str(&format!(
        "UPDATE SET {} WHERE NOT ({})",
        sets.join(", "),
        unchanged.join(" AND ")
    ));
    sql
}

fn dialogue_values(d: &dialogue::Model, out: &mut Vec<Value>) {
    out.extend([
        Value::from(d.tenant_id),
        Value::from(d.id.clone()),
        Value::from(d.order_number),
        Value::from(d.start_date),
        Value::from(d.start_timestamp_ms),
        Value::from(d.queue_enter_timestamp_ms),
        Value::from(d.accept_timestamp_ms),
        Value::from(d.end_timestamp_ms),
        Value::from(d.ivr_duration_in_sec),
        Value::from(d.queue_duration_in_sec),
        Value::from(d.initial_talk_duration_in_sec),
        Value::from(d.session_duration_in_sec),
        Value::from(d.ivr_id.clone()),
        Value::from(d.queue_id.clone()),
        Value::from(d.customer_id.clone()),
        Value::from(d.agent_id.clone()),
        Value::from(d.direction.to_value()),
        Value::from(d.outcome.to_value()),
        Value::from(d.in_sla),
        Value::from(d.quick_drop),
        Value::from(d.change_position),
        Value::from(d.change_index),
    ]);
}

/// A row an upsert inserted or changed (rows it left as they were are not reported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    pub id: String,
    /// Inserted (else an existing row was changed).
    pub inserted: bool,
}

/// Reads the `RETURNING id[, inserted]` rows of an upsert.
fn touched(rows: Vec<QueryResult>, inserted: Option<bool>) -> Result<Vec<Touched>, DbErr> {
    rows.into_iter()
        .map(|row| {
            Ok(Touched {
                id: row.try_get("", "id")?,
                inserted: match inserted {
                    Some(known) => known,
                    None => row.try_get("", "inserted")?,
                },
            })
        })
        .collect()
}

/// SQLite cannot tell an inserted row from an updated one in `RETURNING`: look up which ids of
/// a chunk are stored, insert the others (no `RETURNING`: every row of an import is new, and
/// handing each back costs as much as writing it), then upsert the stored ones, reporting those
/// it changed. Nothing can insert between the look-up and the insert: a write transaction holds
/// SQLite's one write lock (a snapshot older than another writer's commit cannot write at all);
/// should the count still differ, the statement fails rather than miscount.
async fn upsert_in_two_steps<C: ConnectionTrait, R>(
    db: &C,
    table: &str,
    columns: &[&str],
    rows: &[R],
    key_of: impl Fn(&R) -> (i32, &str),
    values_of: impl Fn(&R, &mut Vec<Value>),
    known_stored: Option<&(dyn Fn(&R) -> bool + Sync)>,
) -> Result<Vec<Touched>, DbErr> {
    let backend = db.get_database_backend();
    let key = ["tenant_id", "id"];
    let mut out = Vec::new();
    for chunk in rows.chunks(MAX_BATCH_ROWS) {
        let statement = |rows: &[&R], on_conflict: OnConflict| {
            let mut values = Vec::with_capacity(rows.len() * columns.len());
            for row in rows {
                values_of(row, &mut values);
            }
            let sql = upsert_sql(backend, table, columns, &key, rows.len(), on_conflict);
            Statement::from_sql_and_values(backend, sql, values)
        };
        let (existing, new): (Vec<&R>, Vec<&R>) = match known_stored {
            Some(is_stored) => chunk.iter().partition(|row| is_stored(row)),
            None => {
                let stored = stored_keys(db, table, chunk, &key_of).await?;
                chunk.iter().partition(|row| {
                    let (tenant, id) = key_of(row);
                    stored.contains(&(tenant, id.to_string()))
                })
            }
        };
        if !new.is_empty() {
            let inserted = db
                .execute_raw(statement(&new, OnConflict::Nothing))
                .await?
                .rows_affected();
            if inserted != new.len() as u64 {
                return Err(DbErr::Custom(format!(
                    "{table}: {inserted} of {} new rows inserted (another writer?)",
                    new.len()
                )));
            }
            out.extend(new.iter().map(|row| Touched {
                id: key_of(row).1.to_string(),
                inserted: true,
            }));
        }
        if !existing.is_empty() {
            let mut upsert = statement(&existing, OnConflict::UpdateChanged);
            upsert.sql.push_str(" RETURNING id");
            out.extend(touched(db.query_all_raw(upsert).await?, Some(false))?);
        }
    }
    Ok(out)
}

/// SQLite: the keys (tenant, id) of `chunk` already stored in `table`.
async fn stored_keys<C: ConnectionTrait, R>(
    db: &C,
    table: &str,
    chunk: &[R],
    key_of: &impl Fn(&R) -> (i32, &str),
) -> Result<HashSet<(i32, String)>, DbErr> {
    let tenants: std::collections::BTreeSet<i32> = chunk.iter().map(|r| key_of(r).0).collect();
    let mut values: Vec<Value> = tenants.iter().map(|&t| Value::from(t)).collect();
    values.extend(
        chunk
            .iter()
            .map(|row| Value::from(key_of(row).1.to_string())),
    );
    let sql = format!(
        "SELECT tenant_id, id FROM {table} WHERE tenant_id IN ({}) AND id IN ({})",
        vec!["?"; tenants.len()].join(", "),
        vec!["?"; chunk.len()].join(", ")
    );
    let keys: Result<HashSet<(i32, String)>, DbErr> = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values,
        ))
        .await?
        .into_iter()
        .map(|row| Ok((row.try_get("", "tenant_id")?, row.try_get("", "id")?)))
        .collect();
    // Several tenants: the look-up matched every pair of them; keep the chunk's own.
    let wanted: HashSet<(i32, &str)> = chunk.iter().map(key_of).collect();
    Ok(keys?
        .into_iter()
        .filter(|(t, id)| wanted.contains(&(*t, id.as_str())))
        .collect())
}

/// Upserts dialogues (ids unique within `rows`, one tenant's); returns the rows it inserted or
/// changed (a row stored with the same values is left alone and not returned).
///
/// `derived` (index for index with `rows`), when given, keeps stored derivations by the rule of
/// [`keep_stored_derivations`]. PostgreSQL applies it within the upsert itself
/// ([`kept_derivations`]): the conflict reads the stored row through the primary key, so there
/// is no look-up whose plan could depend on the planner's statistics, and `rows` keep the
/// values derived from today's thresholds. SQLite applies it to `rows` first, from `stored` or
/// else from the stored versions it looks up. `stored`, the stored versions of all `rows` if the
/// caller read them in this transaction, spares SQLite its own look-ups.
pub async fn upsert_dialogues<C: ConnectionTrait>(
    db: &C,
    rows: &mut [dialogue::Model],
    derived: Option<&[Derived]>,
    stored: Option<&HashMap<String, dialogue::Model>>,
) -> Result<Vec<Touched>, DbErr> {
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        // The arrays are parameters 1..=22, the ids of `kept_derivations` the next.
        let kept = kept_derivations(DIALOGUE_COLUMNS.len() + 1);
        // `xmax` is 0 on a row version this statement inserted, the writer's id on one its
        // `DO UPDATE` wrote.
        let sql = upsert_arrays_sql(
            "dialogues",
            &DIALOGUE_COLUMNS,
            &["tenant_id", "id"],
            OnConflict::UpdateChangedWith(&kept),
        ) + " RETURNING id, (xmax = 0) AS inserted";
        let mut values = columns::arrays(&DIALOGUE_COLUMNS, rows, dialogue_values)?;
        // The ids whose inSla/quickDrop the record left out, as the keys of a JSON object: the
        // statement tests each conflicting row with `?` (a binary search), whatever its plan.
        let mut derived_ids = serde_json::Map::new();
        for (row, derived) in rows.iter().zip(derived.unwrap_or_default()) {
            if derived.in_sla || derived.quick_drop {
                derived_ids.insert(row.id.clone(), serde_json::Value::from(1));
            }
        }
        values.push(Value::from(serde_json::Value::Object(derived_ids)));
        return touched(
            db.query_all_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?,
            None,
        );
    }
    if let Some(derived) = derived {
        let looked_up;
        let stored = match stored {
            Some(stored) => stored,
            None => {
                looked_up =
                    stored_versions(db, rows, |i| derived[i].in_sla || derived[i].quick_drop)
                        .await?;
                &looked_up
            }
        };
        keep_stored_derivations(stored, rows, derived);
    }
    let is_stored = |d: &dialogue::Model| stored.is_some_and(|s| s.contains_key(&d.id));
    upsert_in_two_steps(
        db,
        "dialogues",
        &names(&DIALOGUE_COLUMNS),
        rows,
        |d| (d.tenant_id, &d.id),
        dialogue_values,
        stored.map(|_| &is_stored as &(dyn Fn(&dialogue::Model) -> bool + Sync)),
    )
    .await
}

/// For rows already stored, keeps the stored `inSla`/`quickDrop` where the record left them out
/// (`derived`) and nothing they derive from changed (outcome, queue, queue duration): a threshold
/// changed since must not rewrite history (docs/api.md), and re-importing a file changes nothing.
fn keep_stored_derivations(
    stored: &HashMap<String, dialogue::Model>,
    rows: &mut [dialogue::Model],
    derived: &[Derived],
) {
    for (row, derived) in rows.iter_mut().zip(derived) {
        if !(derived.in_sla || derived.quick_drop) {
            continue;
        }
        let Some(old) = stored.get(&row.id) else {
            continue;
        };
        if old.outcome == row.outcome
            && old.queue_id == row.queue_id
            && old.queue_duration_in_sec == row.queue_duration_in_sec
        {
            if derived.in_sla {
                row.in_sla = old.in_sla;
            }
            if derived.quick_drop {
                row.quick_drop = old.quick_drop;
            }
        }
    }
}

/// PostgreSQL: [`keep_stored_derivations`]' rule as the values the upsert's `DO UPDATE` gives
/// `in_sla` and `quick_drop`; parameter `ids_parameter` is a JSON object whose keys are the ids
/// of the records that left them out. A record derives `inSla` only when accepted and
/// `quickDrop` only when abandoned, so an id among the keys with that outcome is exactly the
/// rule's `derived` flag.
fn kept_derivations(ids_parameter: usize) -> [(&'static str, String); 2] {
    let nothing_they_derive_from_changed = "dialogues.outcome = excluded.outcome \
         AND dialogues.queue_id IS NOT DISTINCT FROM excluded.queue_id \
         AND dialogues.queue_duration_in_sec IS NOT DISTINCT FROM excluded.queue_duration_in_sec";
    let kept = |column: &str, outcome: Outcome| {
        format!(
            "CASE WHEN ${ids_parameter}::jsonb ? excluded.id AND excluded.outcome = {} AND {nothing_they_derive_from_changed} \
             THEN dialogues.{column} ELSE excluded.{column} END",
            outcome.to_value()
        )
    };
    [
        ("in_sla", kept("in_sla", Outcome::Accepted)),
        ("quick_drop", kept("quick_drop", Outcome::Abandoned)),
    ]
}

/// The stored versions of the rows `wanted` picks among `rows` (one tenant's), by id. For SQLite,
/// whose planner takes the primary key for this `IN` list; PostgreSQL's, without statistics,
/// may read all the tenant's rows for it instead (so it never looks up here, see
/// [`upsert_dialogues`]).
pub async fn stored_versions<C: ConnectionTrait>(
    db: &C,
    rows: &[dialogue::Model],
    wanted: impl Fn(usize) -> bool,
) -> Result<HashMap<String, dialogue::Model>, DbErr> {
    let picked: Vec<usize> = (0..rows.len()).filter(|&i| wanted(i)).collect();
    let backend = db.get_database_backend();
    let mut stored = HashMap::new();
    for chunk in picked.chunks(MAX_BATCH_ROWS) {
        // Plain text: building a 1,000-id IN list through the query builder costs more than
        // the look-up itself.
        let mut values = vec![Value::from(rows[chunk[0]].tenant_id)];
        values.extend(chunk.iter().map(|&i| Value::from(rows[i].id.clone())));
        let ids: Vec<String> = (2..=chunk.len() + 1)
            .map(|n| placeholder(backend, n))
            .collect();
        let sql = format!(
            "SELECT * FROM dialogues WHERE tenant_id = {} AND id IN ({})",
            placeholder(backend, 1),
            ids.join(", ")
        );
        stored.extend(
            dialogue::Entity::find()
                .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
                .all(db)
                .await?
                .into_iter()
                .map(|d| (d.id.clone(), d)),
        );
    }
    Ok(stored)
}

fn endpoint_values(e: &endpoint::Model, values: &mut Vec<Value>) {
    values.extend([
        Value::from(e.tenant_id),
        Value::from(e.id.clone()),
        Value::from(e.name.clone()),
        Value::from(e.role.to_value()),
        Value::from(e.sla_threshold_in_sec),
        Value::from(e.quick_drop_threshold_in_sec),
        Value::from(e.name.as_deref().map(str::to_lowercase)),
    ]);
}

/// Upserts endpoints (ids unique within `rows`); returns the rows it inserted or changed.
pub async fn upsert_endpoints<C: ConnectionTrait>(
    db: &C,
    rows: &[endpoint::Model],
) -> Result<Vec<Touched>, DbErr> {
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres {
        return upsert_in_two_steps(
            db,
            "endpoints",
            &names(&ENDPOINT_COLUMNS),
            rows,
            |e| (e.tenant_id, &e.id),
            endpoint_values,
            None,
        )
        .await;
    }
    let sql = upsert_arrays_sql(
        "endpoints",
        &ENDPOINT_COLUMNS,
        &["tenant_id", "id"],
        OnConflict::UpdateChanged,
    ) + " RETURNING id, (xmax = 0) AS inserted";
    let values = columns::arrays(&ENDPOINT_COLUMNS, rows, endpoint_values)?;
    touched(
        db.query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?,
        None,
    )
}

/// Creates the endpoints dialogues name but nobody has described yet (role from the slot, no
/// name), so no relation ever dangles. Remembers a bounded set of ids it has already ensured.
pub struct EndpointStubs {
    tenant_id: i32,
    ensured: HashSet<String>,
}

/// Beyond this many remembered ids the memory is cleared (it is only a shortcut).
const MAX_REMEMBERED_ENDPOINTS: usize = 200_000;

impl EndpointStubs {
    pub fn new(tenant_id: i32) -> Self {
        Self {
            tenant_id,
            ensured: HashSet::new(),
        }
    }

    /// Ensures every endpoint the dialogues name exists; returns how many were created.
    pub async fn ensure<C: ConnectionTrait>(
        &mut self,
        db: &C,
        dialogues: &[dialogue::Model],
    ) -> Result<u64, DbErr> {
        let mut missing: Vec<(String, EndpointRole)> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for d in dialogues {
            for (id, role) in crate::ingest::record::endpoint_refs(d) {
                if !self.ensured.contains(id) && seen.insert(id) {
                    missing.push((id.to_string(), role));
                }
            }
        }
        if missing.is_empty() {
            return Ok(0);
        }
        // In key order: the new keys go into the primary key's pages one after another (a
        // caller's first call is most of a batch's stubs, and their ids are as random as
        // phone numbers), rather than jumping about the index.
        missing.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        let backend = db.get_database_backend();
        let tenant_id = self.tenant_id;
        let stub_values = |(id, role): &(String, EndpointRole), out: &mut Vec<Value>| {
            out.extend([
                Value::from(tenant_id),
                Value::from(id.clone()),
                Value::from(role.to_value()),
            ]);
        };
        let key = ["tenant_id", "id"];
        let mut created = 0;
        if backend == DbBackend::Postgres {
            // One array a column rather than three parameters a row: a statement with
            // thousands of parameters costs PostgreSQL more to plan than to run.
            let sql = upsert_arrays_sql("endpoints", &STUB_COLUMNS, &key, OnConflict::Nothing);
            let values = columns::arrays(&STUB_COLUMNS, &missing, stub_values)?;
            created = db
                .execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?
                .rows_affected();
        } else {
            let columns = names(&STUB_COLUMNS);
            for chunk in missing.chunks(MAX_BATCH_ROWS) {
                let sql = upsert_sql(
                    backend,
                    "endpoints",
                    &columns,
                    &key,
                    chunk.len(),
                    OnConflict::Nothing,
                );
                let mut values = Vec::with_capacity(chunk.len() * columns.len());
                for stub in chunk {
                    stub_values(stub, &mut values);
                }
                created += db
                    .execute_raw(Statement::from_sql_and_values(backend, sql, values))
                    .await?
                    .rows_affected();
            }
        }
        if self.ensured.len() + missing.len() > MAX_REMEMBERED_ENDPOINTS {
            self.ensured.clear();
        }
        self.ensured.extend(missing.into_iter().map(|(id, _)| id));
        Ok(created)
    }
}
