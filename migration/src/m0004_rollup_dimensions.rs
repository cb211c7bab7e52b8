//! Pre-aggregates keyed by agent and by the other dimensions (queue, ivr, direction, outcome,
//! inSla, quickDrop) at the hour, built for the dialogues already stored; the triggers are
//! re-created over every grain (as the SQL it ran, `frozen/`).
crate::frozen::frozen_migration!("m0004");
