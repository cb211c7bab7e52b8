//! Private PostgreSQL servers for the tests that stop, restart or replicate one (never the
//! shared server of `TEST_POSTGRES_URL`): a primary made with initdb on a free port, and
//! streaming replicas of it made with pg_basebackup -R. Each is stopped when dropped.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::live;

/// The newest PostgreSQL binaries on this machine, if any.
fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop()
}

fn as_postgres(bin: &Path, tool: &str) -> Command {
    // initdb refuses root: run the tools as `postgres` then.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

/// One private PostgreSQL server on a free port.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Cluster {
    /// A new primary; None when this machine has no PostgreSQL binaries.
    pub fn start() -> Option<Cluster> {
        let bin = pg_bin()?;
        let cluster = Self::empty(bin);
        let ok = as_postgres(&cluster.bin, "initdb")
            .arg("-D")
            .arg(cluster.data())
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success();
        assert!(ok, "initdb failed");
        cluster.pg_ctl("start");
        Some(cluster)
    }

    /// A streaming replica of this server (hot standby, following it from now on).
    pub fn replica(&self) -> Cluster {
        let replica = Self::empty(self.bin.clone());
        let ok = as_postgres(&self.bin, "pg_basebackup")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg("-D")
            .arg(replica.data())
            .args(["-R", "-X", "stream", "--checkpoint=fast"])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "pg_basebackup failed");
        replica.pg_ctl("start");
        replica
    }

    fn empty(bin: PathBuf) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let _ = Command::new("chown")
            .args(["postgres", dir.path().to_str().unwrap()])
            .status();
        Cluster {
            bin,
            port: live::free_port(),
            dir,
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `pg_ctl start`, `stop` (fast), `restart`.
    pub fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let ok = as_postgres(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "-t", "60", "-m", "fast", "-o", &options, action])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "pg_ctl {action} failed");
    }

    /// Creates database `name` on this server and migrates it; its URL and a connection.
    pub async fn migrated_database(&self, name: &str) -> (String, sea_orm::DatabaseConnection) {
        use insights_core::db::{connect, connect_and_migrate, DbOptions};
        use sea_orm::ConnectionTrait;
        let admin = connect(&DbOptions::new(self.url("postgres")))
            .await
            .unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = self.url(name);
        let db = connect_and_migrate(&DbOptions::new(url.clone()))
            .await
            .unwrap();
        (url, db)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
