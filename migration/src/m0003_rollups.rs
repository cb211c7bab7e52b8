//! Pre-aggregated counts and sums of the dialogues, kept exact by triggers (as the SQL it ran, `frozen/`),
//! built here for the dialogues already stored.
crate::frozen::frozen_migration!("m0003");
