//! Change positions (docs/api.md, resuming subscriptions): a per-tenant counter that every
//! commit changing dialogues increments, and on each dialogue the position of the commit that
//! changed it last with its place among that commit's changes, indexed for "what changed after
//! position p" in position order. Dialogues stored before this migration keep 0, which is
//! before any position. Kept as the SQL it ran (`frozen/`).
crate::frozen::frozen_migration!("m0005");
