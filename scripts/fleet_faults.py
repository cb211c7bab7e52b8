#!/usr/bin/env python3
"""Fault checks on a running fleet (scripts/fleet.sh), driven by scripts/fleet-faults.sh.

    fleet_faults.py ENV_FILE CHECK...

CHECKs, each printing one `RESULT ...` line (and exiting 1 at the end if any failed):
  answers       the same queries through HAProxy (every instance, both replicas) and through a
                primary-only instance: every answer identical
  read-after    1,000 rounds of write-then-read through HAProxy, each read sending back the
                write's Insights-Read-After, while a background thread pauses a random replica's
                replay for 1 s at random; meanwhile SSE subscribers (one per instance) must get
                every written dialogue exactly once, with its row
  replica-stop  readers through HAProxy while one replica is stopped (pg_ctl stop -m fast):
                failed requests and when they happened
  kill          readers through HAProxy while one instance is killed with SIGKILL
  rate          one key sends 3x its budget through HAProxy for 10 s: accepted rate vs budget
Only the standard library is used.
"""
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

ENV = {}
RESULTS = []


def load_env(path):
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.strip().split("=", 1)
                ENV[k] = v


def result(check, ok, text):
    RESULTS.append(ok)
    print(f"RESULT {check}: {'PASS' if ok else 'FAIL'} {text}", flush=True)


class Conn:
    """One keep-alive HTTP connection to a base URL; reconnects after errors."""

    def __init__(self, base, key):
        u = urllib.parse.urlparse(base)
        self.host, self.port, self.key = u.hostname, u.port, key
        self.c = None

    def request(self, method, path, body=None, headers=None, timeout=15):
        h = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        h.update(headers or {})
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            try:
                self.c.request(method, path, body=body, headers=h)
                r = self.c.getresponse()
                data = r.read()
                return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
            except (ConnectionError, http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                # A keep-alive connection the server closed meanwhile: once more on a new one
                # (what any HTTP client does); a second failure counts.
                if attempt == 1:
                    raise

    def gql(self, query, variables=None, headers=None):
        body = json.dumps({"query": query, "variables": variables or {}})
        status, h, data = self.request("POST", "/graphql", body, headers)
        try:
            doc = json.loads(data)
        except ValueError:
            doc = {"raw": data[:200].decode(errors="replace")}
        return status, h, doc


def psql(port, sql):
    cmd = ["psql", "-qAt", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "insights", "-c", sql]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def replica_ports():
    return [urllib.parse.urlparse(u).port for u in ENV["FLEET_REPLICA_URLS"].split(",")]


# ---- answers ----------------------------------------------------------------------------------

QUERIES = [
    ("page", "{ dialogues(first: 100, orderBy: [{field: START_TIMESTAMP, direction: DESC}]) { totalCount edges { node { id outcome queue { id name } agent { id name } } } } }"),
    ("count", "{ dialogues(filter: {outcome: {eq: ABANDONED}}) { totalCount } }"),
    ("stats", "{ dialogueStats(from: \"2025-01-01T00:00:00Z\", to: \"2027-01-01T00:00:00Z\", granularity: MONTH, timeZone: \"Europe/Amsterdam\", groupBy: [QUEUE]) { periodStart queue { id } offered accepted serviceLevel { value numerator denominator } averageSpeedOfAnswer totalTalkTime } }"),
    ("relation", "{ dialogues(first: 20, filter: {agent: {name: {contains: \"a\"}}}) { totalCount edges { node { id } } } }"),
]


def check_answers():
    reference = Conn(ENV["FLEET_REFERENCE"], ENV["FLEET_KEY"])
    expected = {}
    for name, q in QUERIES:
        status, _, doc = reference.gql(q)
        if status != 200 or "errors" in doc:
            result("answers", False, f"reference {name}: {status} {json.dumps(doc)[:300]}")
            return
        expected[name] = doc
    wrong, total = [], 0
    conns = [Conn(ENV["FLEET_URL"], ENV["FLEET_KEY"]) for _ in range(4)]
    for i in range(60):
        for name, q in QUERIES:
            total += 1
            status, _, doc = conns[i % 4].gql(q)
            if status != 200 or doc != expected[name]:
                wrong.append((name, status, json.dumps(doc)[:200]))
    result("answers", not wrong, f"{total} answers through HAProxy, {len(wrong)} differ from the primary-only instance's {wrong[:2]}")


# ---- read-your-writes and subscribers ----------------------------------------------------------

INGEST = "mutation($d: [DialogueInput!]!) { ingestDialogues(dialogues: $d) { inserted } }"
ONE = "query($id: ID!) { dialogue(id: $id) { id outcome } }"


def dialogue_input(run, n):
    return {
        "id": f"ryw-{run}-{n}",
        "orderNumber": 800_000_000 + run % 1000 * 10_000 + n,
        "startTimestamp": "2026-03-02T15:00:00+01:00",
        "queueEnterTimestamp": "2026-03-02T14:00:10Z",
        "acceptTimestamp": "2026-03-02T14:00:22.5Z",
        "endTimestamp": "2026-03-02T14:02:00Z",
        "ivrId": "ryw-ivr",
        "queueId": "ryw-queue",
        "customerId": f"ryw-cust-{run}-{n}",
        "agentId": "ryw-agent",
        "direction": "INBOUND",
        "outcome": "ACCEPTED",
    }


class Subscriber(threading.Thread):
    """dialogueIngested over Server-Sent Events on one instance; collects ids and rows."""

    def __init__(self, base, prefix):
        super().__init__(daemon=True)
        self.base, self.prefix = base, prefix
        self.ids, self.bad, self.ready, self.error = [], [], threading.Event(), None

    def run(self):
        u = urllib.parse.urlparse(self.base)
        try:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
            body = json.dumps({"query": "subscription { dialogueIngested { id outcome queue { id } } }"})
            c.request("POST", "/graphql/stream", body=body, headers={
                "Authorization": f"Bearer {ENV['FLEET_KEY']}",
                "Content-Type": "application/json",
                "Accept": "text/event-stream",
            })
            r = c.getresponse()
            if r.status != 200:
                self.error = f"status {r.status}"
                self.ready.set()
                return
            self.ready.set()
            event = None
            while True:
                line = r.fp.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "next":
                    doc = json.loads(line[5:])
                    d = (doc.get("data") or {}).get("dialogueIngested")
                    if d is None or doc.get("errors"):
                        self.bad.append(doc)
                    elif d["id"].startswith(self.prefix):
                        if d["outcome"] != "ACCEPTED" or d["queue"] is None:
                            self.bad.append(d)
                        self.ids.append(d["id"])
                elif line.startswith("event:") and "complete" in line:
                    return
        except Exception as e:  # noqa: BLE001 - reported as the subscriber's failure
            self.error = repr(e)
            self.ready.set()


def pauser(stop, log):
    """Pauses replay for 1 s at random moments: on one replica, or (one time in three) on both,
    when only the primary has the latest writes."""
    ports = replica_ports()
    while not stop.is_set():
        time.sleep(random.uniform(0.2, 1.5))
        paused = ports if random.random() < 1 / 3 else [random.choice(ports)]
        for port in paused:
            psql(port, "SELECT pg_wal_replay_pause()")
        log.append(len(paused))
        stop.wait(1.0)
        for port in paused:
            psql(port, "SELECT pg_wal_replay_resume()")


def check_read_after(rounds):
    run = random.randrange(1_000_000)
    prefix = f"ryw-{run}-"
    subscribers = [Subscriber(b, prefix) for b in ENV["FLEET_INSTANCES"].split(",")]
    for s in subscribers:
        s.start()
        s.ready.wait(10)
    time.sleep(1.0)
    stop, pauses = threading.Event(), []
    t = threading.Thread(target=pauser, args=(stop, pauses), daemon=True)
    t.start()
    conn = Conn(ENV["FLEET_URL"], ENV["FLEET_KEY"])
    misses, stale, errors, slow = [], 0, [], 0
    started = time.time()
    for n in range(rounds):
        status, h, doc = conn.gql(INGEST, {"d": [dialogue_input(run, n)]})
        position = h.get("insights-commit-position")
        if status != 200 or not position or doc.get("extensions", {}).get("commitPosition") != position:
            errors.append((n, status, json.dumps(doc)[:200]))
            continue
        t0 = time.time()
        status, _, doc = conn.gql(ONE, {"id": f"ryw-{run}-{n}"}, {"Insights-Read-After": position})
        if time.time() - t0 > 1.0:
            slow += 1
        if status != 200 or (doc.get("data") or {}).get("dialogue") is None:
            misses.append((n, status, json.dumps(doc)[:200]))
        # Without the header a read may land on a replica that has not replayed the write yet.
        if n % 10 == 0:
            status, _, doc = conn.gql(ONE, {"id": f"ryw-{run}-{n}"})
            if (doc.get("data") or {}).get("dialogue") is None:
                stale += 1
    elapsed = time.time() - started
    stop.set()
    t.join()
    for port in replica_ports():
        psql(port, "SELECT pg_wal_replay_resume()")
    result("read-after", not misses and not errors,
           f"{rounds} write-then-read rounds in {elapsed:.1f} s with {len(pauses)} replay pauses of 1 s "
           f"({sum(1 for p in pauses if p > 1)} of both replicas): "
           f"{len(misses)} reads missed their write {misses[:2]}, {len(errors)} failed writes {errors[:2]}; "
           f"{slow} reads waited > 1 s; without the header {stale} of {rounds // 10} reads missed it")
    deadline = time.time() + 20
    expected = [f"ryw-{run}-{n}" for n in range(rounds) if not any(e[0] == n for e in errors)]
    while time.time() < deadline and any(len(s.ids) < len(expected) for s in subscribers):
        time.sleep(0.2)
    time.sleep(1.0)
    ok = True
    parts = []
    for i, s in enumerate(subscribers):
        good = s.ids == expected and not s.bad and s.error is None
        ok &= good
        parts.append(f"instance {i + 1}: {len(s.ids)} events, {len(s.ids) - len(set(s.ids))} duplicates, "
                     f"{len(set(expected) - set(s.ids))} missing, in order {s.ids == sorted(s.ids, key=lambda x: int(x.rsplit('-', 1)[1]))}, "
                     f"{len(s.bad)} without their row, error {s.error}")
    result("subscribers", ok, "; ".join(parts))


# ---- faults under read load --------------------------------------------------------------------

def load_during(seconds, fault_at, fault, threads=4, query=QUERIES[1][1]):
    """Readers through HAProxy for `seconds`; `fault()` runs at `fault_at`. Failures with times."""
    failures, done, lock = [], [0], threading.Lock()
    start = time.time()
    stop = time.time() + seconds

    def reader():
        c = Conn(ENV["FLEET_URL"], ENV["FLEET_KEY"])
        while time.time() < stop:
            try:
                status, _, doc = c.gql(query)
                bad = status != 200 or "errors" in doc
                what = f"{status} {json.dumps(doc)[:160]}"
            except Exception as e:  # noqa: BLE001
                bad, what = True, repr(e)
            with lock:
                done[0] += 1
                if bad:
                    failures.append((time.time() - start, what))

    ts = [threading.Thread(target=reader) for _ in range(threads)]
    for t in ts:
        t.start()
    time.sleep(fault_at)
    fault_time = time.time() - start
    fault()
    for t in ts:
        t.join()
    return done[0], failures, fault_time


def window(failures, fault_time):
    if not failures:
        return "no failed request"
    first, last = failures[0][0], failures[-1][0]
    return (f"{len(failures)} failed, from {first - fault_time:+.2f} s to {last - fault_time:+.2f} s after the fault; "
            f"first: {failures[0][1]}")


def check_replica_stop():
    port = replica_ports()[0]
    data_dir = psql(port, "SHOW data_directory")

    def stop():
        cmd = ["pg_ctl", "-D", data_dir, "-m", "fast", "stop"]
        pg_ctl = os.path.join(ENV.get("FLEET_PG_BIN", ""), "pg_ctl")
        cmd[0] = pg_ctl if os.path.exists(pg_ctl) else "pg_ctl"
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, check=True, capture_output=True)

    done, failures, at = load_during(10, 3, stop)
    late = [f for f in failures if f[0] - at > 2.0]
    result("replica-stop", not late, f"{done} requests, replica on port {port} stopped at {at:.1f} s: {window(failures, at)}")


def check_kill():
    pid = int(open(os.path.join(ENV["FLEET_DIR"], "insights2.pid")).read())

    def kill():
        os.kill(pid, signal.SIGKILL)

    done, failures, at = load_during(10, 3, kill)
    late = [f for f in failures if f[0] - at > 2.0]
    result("kill", not late, f"{done} requests, instance 2 killed (SIGKILL) at {at:.1f} s: {window(failures, at)}")


def check_rate(budget, seconds=10):
    """Sends about three times the budget for `seconds`; counts what was accepted."""
    accepted, refused, other, lock = [0], [0], [], threading.Lock()
    stop = time.time() + seconds
    interval = 1.0 / (budget * 3)

    def sender(offset, step):
        c = Conn(ENV["FLEET_URL"], ENV["FLEET_KEY"])
        next_at = time.time() + offset
        while next_at < stop:
            time.sleep(max(0.0, next_at - time.time()))
            status, _, _ = c.request("POST", "/graphql", json.dumps({"query": "{ __typename }"}))
            with lock:
                if status == 200:
                    accepted[0] += 1
                elif status == 429:
                    refused[0] += 1
                else:
                    other.append(status)
            next_at += step

    n = 6
    ts = [threading.Thread(target=sender, args=(i * interval, interval * n)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    # The budget allows a burst of twice the rate at the start; the steady rate is what is left.
    steady = (accepted[0] - 2 * budget) / seconds
    ok = abs(steady - budget) <= 0.15 * budget and not other
    result("rate", ok, f"budget {budget}/s per key: {accepted[0]} accepted, {refused[0]} refused in {seconds} s "
                       f"-> {steady:.1f}/s after the burst ({(steady / budget - 1) * 100:+.1f}%), other statuses {other[:3]}")


def main():
    load_env(sys.argv[1])
    for check in sys.argv[2:]:
        if check == "answers":
            check_answers()
        elif check == "read-after":
            check_read_after(int(os.environ.get("FLEET_ROUNDS", "1000")))
        elif check == "replica-stop":
            check_replica_stop()
        elif check == "kill":
            check_kill()
        elif check.startswith("rate="):
            check_rate(int(check.split("=")[1]))
        else:
            sys.exit(f"unknown check {check}")
    sys.exit(0 if all(RESULTS) else 1)


if __name__ == "__main__":
    main()
