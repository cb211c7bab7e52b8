//! SQLite: what a batch changes in the pre-aggregates, summed by the batch writer itself from
//! the same definitions of the aggregate columns as the SQL ([`super::AGGREGATES`]), and
//! written with a few multi-row statements instead of the row triggers' upsert per grain and row.
use sea_orm::{DbBackend, Statement};

use super::*;

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
pub(super) enum KeyPart {
    Int(i64),
    Text(String),
}

/// The dimensions a grain may key on, in the order of [`Deltas::dimensions`].
pub(super) const DIMENSIONS: [&str; 7] = [
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
pub(super) struct GroupKey {
    pub(super) tenant_id: i32,
    pub(super) slot_ms: i64,
    pub(super) dims: [i64; DIMENSIONS.len()],
}

impl Dialogue<'_> {
    pub(super) fn queue_time(&self) -> Option<f64> {
        let (set, duration) = MAX_QUEUE;
        set.holds(self).then_some(duration.of(self)).flatten()
    }
}

/// `CAST(ROUND(x) AS BIGINT)` as SQLite computes it: half away from zero, by adding ±0.5 and
/// truncating (`(sqlite_int64)(r ± 0.5)`, below 2^52; PostgreSQL would round half to even).
pub(super) fn sqlite_round(x: f64) -> i64 {
    if x.abs() > 4_503_599_627_370_496.0 {
        x as i64
    } else {
        (x + if x < 0.0 { -0.5 } else { 0.5 }) as i64
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Group {
    /// Added rows counted plus, removed rows minus.
    pub(super) sums: [i64; AGGREGATES.len()],
    /// The largest queue time among the added rows.
    pub(super) max_queue: Option<f64>,
    /// The largest queue time among the removed rows: the stored maximum may have been one of
    /// theirs.
    pub(super) removed_max: Option<f64>,
}

impl Group {
    /// The stored maximum may be a removed row's and no added row holds as much: recompute it.
    pub(super) fn max_may_drop(&self) -> bool {
        self.removed_max
            .is_some_and(|removed| self.max_queue.is_none_or(|added| added < removed))
    }

    /// Changes nothing: rows that left and came back with the same sums and the same largest
    /// queue time (a dialogue moved in another grain's dimension).
    pub(super) fn is_no_op(&self) -> bool {
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
    pub(super) grain_dims: Vec<Vec<usize>>,
    /// Per grain, its groups (a fast hash: keys are the writer's own, not a client's).
    pub(super) groups: Vec<foldhash::HashMap<GroupKey, Group>>,
    /// The ids the keys name (absent is `""`), and each one's position.
    pub(super) ids: Vec<String>,
    pub(super) id_positions: foldhash::HashMap<String, i64>,
}

/// Groups per upsert statement: 50 rows of up to 27 values stay far under SQLite's 32,766
/// bound values. A batch's last groups go in statements of 32, 16, …, 1, so a grain's upserts
/// come in seven texts, each prepared once per connection.
pub(super) const GROUPS_PER_STATEMENT: usize = 50;

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

    pub(super) fn id(&mut self, id: Option<&str>) -> i64 {
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
    pub(super) fn dimensions(&mut self, d: &Dialogue) -> [i64; DIMENSIONS.len()] {
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

    pub(super) fn apply(&mut self, d: &Dialogue, sign: i64) {
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
    pub(super) fn keyed_groups(&mut self, grain: usize) -> Vec<(Vec<KeyPart>, Group)> {
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
pub(super) fn in_few_sizes<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
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

pub(super) fn key_value(part: &KeyPart) -> sea_orm::Value {
    match part {
        KeyPart::Int(i) => (*i).into(),
        KeyPart::Text(s) => s.clone().into(),
    }
}

/// Deletes the groups of `tenant` left empty in `slots` (the primary key's prefix: only those
/// slots' groups are read).
pub(super) fn delete_emptied(grain: &Grain, tenant: i64, slots: &[i64]) -> Statement {
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
pub(super) fn recompute_max(grain: &Grain, groups: &[(Vec<KeyPart>, f64)]) -> Statement {
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
pub(super) fn upsert_groups(grain: &Grain, groups: &[(Vec<KeyPart>, Group)]) -> Statement {
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
