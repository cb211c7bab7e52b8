//! The PostgreSQL side of announcements: one `LISTEN` per serving process on [`CHANNEL`], each
//! notification handed to the process's subscribers through [`Announcer::deliver`], and on
//! [`FLEET_CHANNEL`], each peer's heartbeat handed to the process's [`Fleet`].
//!
//! The listener holds a connection of its own (not one of the request pool's), made with the
//! pool's connect options. When the database goes away (a restart, a network failure) the
//! listener reconnects with backoff (100 ms doubling to 5 s) and logs both the loss and the
//! recovery; commits made while it was not listening are not announced (NOTIFY does not keep
//! them), which the log says.
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::watch;

use super::fleet::{Fleet, Heartbeat, FLEET_CHANNEL};
use super::{Announcer, DialoguesCommitted, CHANNEL};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts the listener when `db` is PostgreSQL (SQLite announces in-process). Call once per
/// serving process. The receiver turns true while the listener listens (a server should not
/// report ready before: commits made until then reach none of its subscribers).
pub fn spawn(
    db: &DatabaseConnection,
    announcer: Announcer,
    fleet: Fleet,
) -> Option<watch::Receiver<bool>> {
    if db.get_database_backend() != DbBackend::Postgres {
        return None;
    }
    let options = db.get_postgres_connection_pool().connect_options();
    let (listening_tx, listening_rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut backoff = FIRST_BACKOFF;
        let mut lost = false;
        loop {
            // A pool of one, for the listener alone: it never takes a request's connection.
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(5))
                .max_lifetime(None)
                .idle_timeout(None)
                .connect_lazy_with((*options).clone());
            let listening = async {
                let mut listener = PgListener::connect_with(&pool).await?;
                listener.listen_all([CHANNEL, FLEET_CHANNEL]).await?;
                Ok::<_, sea_orm::sqlx::Error>(listener)
            }
            .await;
            match listening {
                Ok(mut listener) => {
                    if lost {
                        tracing::warn!(
                            channel = CHANNEL,
                            "live updates: listening again after losing the database; \
                             subscribers catch up on what was committed meanwhile"
                        );
                    } else {
                        tracing::info!(channel = CHANNEL, "live updates: listening");
                    }
                    backoff = FIRST_BACKOFF;
                    listening_tx.send_replace(true);
                    if lost {
                        // Commits made while not listening were announced to nobody here:
                        // subscribers catch up from the database (`follow`) or recompute.
                        announcer.may_have_missed();
                        // Peers may have stopped counting this instance meanwhile.
                        fleet.nudge();
                    }
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(notification)) if notification.channel() == FLEET_CHANNEL => {
                                match Heartbeat::from_payload(notification.payload()) {
                                    Ok(heartbeat) => fleet.heard(heartbeat),
                                    Err(error) => tracing::warn!(
                                        %error,
                                        "fleet: ignoring a notification that is not a heartbeat"
                                    ),
                                }
                            }
                            Ok(Some(notification)) => {
                                match DialoguesCommitted::from_payload(notification.payload()) {
                                    Ok(event) => announcer.deliver(event),
                                    Err(error) => tracing::warn!(
                                        %error,
                                        "live updates: ignoring a notification that is not an announcement"
                                    ),
                                }
                            }
                            Ok(None) => {
                                tracing::warn!(
                                    "live updates: lost the listening connection; reconnecting"
                                );
                                break;
                            }
                            Err(error) => {
                                tracing::warn!(%error, "live updates: the listening connection failed; reconnecting");
                                break;
                            }
                        }
                    }
                    listening_tx.send_replace(false);
                    lost = true;
                }
                Err(error) => {
                    tracing::warn!(
                        %error,
                        retry_in_ms = backoff.as_millis() as u64,
                        "live updates: cannot listen for announcements yet"
                    );
                    lost = true;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            pool.close().await;
        }
    });
    Some(listening_rx)
}
