//! Hostile requests over real HTTP with a valid read key (API.md §6): each gets the coded client
//! error of the limit it runs into, nothing leaks, and the server keeps answering everyone else
//! meanwhile.
//!
//! "Without blowing up" is checked by structure, not by the clock (a wall-clock bound fails on a
//! loaded machine and passes a hang that ends just under it): the server's database connection
//! counts the statements each request runs, and a request refused by a limit must be refused
//! before it runs any (or run no more than the few its case names). A request the server
//! worked on without end would meet the server's own request timeout, whose answer (503,
//! INTERNAL_SERVER_ERROR) fails the case's status and code checks.
use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;
use insights::app::config::ServeConfig;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Levels of the fragment bomb (2^BOMB fields once expanded).
const BOMB: usize = 30;

/// How long the client waits for an answer: longer than the server's request timeout (30 s),
/// so a request the server works on without end comes back as the server's timeout error.
const CLIENT_WAIT: Duration = Duration::from_secs(60);

const NORMAL: &str = "{ dialogues(first: 5) { totalCount nodes { id queue { name } } } }";

/// What a hostile request must get back (None: anything but a server error, and every error
/// coded).
#[derive(Debug)]
struct Expect {
    status: Option<StatusCode>,
    /// Acceptable codes (any one of them, for every error).
    codes: Option<&'static [&'static str]>,
    /// Most SQL statements the request may run (besides the API key's look-up): 0 for a
    /// request a limit refuses before it reaches the database.
    statements: usize,
}

const fn expect(status: StatusCode, codes: &'static [&'static str]) -> Expect {
    Expect {
        status: Some(status),
        codes: Some(codes),
        statements: 0,
    }
}

const fn anything_coded() -> Expect {
    Expect {
        status: None,
        codes: None,
        statements: 0,
    }
}

impl Expect {
    /// A case that legitimately reaches the database, with at most `n` statements.
    const fn touching(self, n: usize) -> Expect {
        Expect {
            statements: n,
            ..self
        }
    }
}

/// A hostile request: a name, the request, what must come back.
struct Case {
    name: String,
    request: reqwest::RequestBuilder,
    expect: Expect,
}

/// As a current client posts: accepting application/graphql-response+json, under which request
/// errors are HTTP 4xx.
fn post(server: &Server, key: &str, body: Value) -> reqwest::RequestBuilder {
    server
        .post_with_key(key, body)
        .header(ACCEPT, "application/graphql-response+json")
}

fn query(server: &Server, key: &str, query: String) -> reqwest::RequestBuilder {
    post(server, key, json!({ "query": query }))
}

/// `{ endpoint { dialogues { nodes { queue { dialogues { nodes { queue ... } } } } } } }`,
/// `levels` selection sets deep.
fn deep_query(levels: usize) -> String {
    let mut open = String::from("{ endpoint(id: \"q-1\") {");
    let mut depth = 2;
    let mut close = String::from("} }");
    let cycle = ["dialogues {", "nodes {", "queue {"];
    let mut i = 0;
    while depth < levels {
        open.push_str(cycle[i % 3]);
        close.push('}');
        depth += 1;
        i += 1;
    }
    format!("{open} id {close}")
}

fn aliases(n: usize, field: &str) -> String {
    (0..n)
        .map(|i| format!("a{i}: {field}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `{ not: { not: ... { id: { eq: "d1" } } } }`, `levels` deep.
fn nested_filter(levels: usize, op: &str) -> Value {
    let mut filter = json!({ "id": { "eq": "d1" } });
    for _ in 0..levels {
        filter = match op {
            "not" => json!({ "not": filter }),
            "and" => json!({ "and": [filter] }),
            _ => json!({ "or": [filter, { "id": { "eq": "d2" } }] }),
        };
    }
    filter
}

/// The same, written inline in the document (GraphQL syntax, not JSON).
fn nested_filter_inline(levels: usize) -> String {
    format!(
        "{{ dialogues(filter: {}{{ id: {{ eq: \"d1\" }} }}{}) {{ totalCount }} }}",
        "{ not: ".repeat(levels),
        " }".repeat(levels)
    )
}

fn fragment_bomb(levels: usize) -> String {
    let mut doc = String::from("query { ...F0 }\n");
    for i in 0..levels {
        doc.push_str(&format!(
            "fragment F{i} on Query {{ ...F{n} ...F{n} }}\n",
            n = i + 1
        ));
    }
    doc.push_str(&format!("fragment F{levels} on Query {{ __typename }}\n"));
    doc
}

fn cases(server: &Server, key: &str) -> Vec<Case> {
    use StatusCode as S;
    let bad_request = expect(S::BAD_REQUEST, &["BAD_USER_INPUT"]);
    let bad_request_input = || expect(S::BAD_REQUEST, &["BAD_USER_INPUT"]);
    let too_complex = || expect(S::BAD_REQUEST, &["QUERY_TOO_COMPLEX"]);
    // Field errors come with 200 and `data` (GraphQL over HTTP).
    let bad_input = || expect(S::OK, &["BAD_USER_INPUT"]);
    let mut cases = vec![
        Case {
            name: "depth 50".into(),
            request: query(server, key, deep_query(50)),
            expect: too_complex(),
        },
        Case {
            name: "depth 20".into(),
            request: query(server, key, deep_query(20)),
            expect: too_complex(),
        },
        Case {
            name: "depth 1,000".into(),
            request: query(server, key, deep_query(1000)),
            expect: too_complex(),
        },
        Case {
            name: "10,000 root aliases".into(),
            request: query(server, key, format!("{{ {} }}", aliases(10_000, "__typename"))),
            expect: too_complex(),
        },
        Case {
            name: "10,000 nested aliases".into(),
            request: query(
                server,
                key,
                format!("{{ dialogues(first: 1) {{ nodes {{ {} }} }} }}", aliases(10_000, "id")),
            ),
            expect: too_complex(),
        },
        Case {
            name: "10,000 aliases of dialogueStats".into(),
            request: post(
                server,
                key,
                json!({
                    "query": format!(
                        "query($f: DateTime!, $t: DateTime!) {{ {} }}",
                        aliases(10_000, "dialogueStats(from: $f, to: $t) { dialogues }")
                    ),
                    "variables": { "f": "2026-01-01T00:00:00Z", "t": "2026-12-01T00:00:00Z" }
                }),
            ),
            expect: too_complex(),
        },
        Case {
            name: "fragment bomb (2^30 fields)".into(),
            request: query(server, key, fragment_bomb(BOMB)),
            expect: too_complex(),
        },
        Case {
            name: "first: 1000000000".into(),
            request: query(server, key, "{ dialogues(first: 1000000000) { totalCount } }".into()),
            expect: bad_request_input(),
        },
        Case {
            name: "first: 501".into(),
            request: query(server, key, "{ dialogues(first: 501) { totalCount } }".into()),
            expect: bad_input(),
        },
        Case {
            name: "first: 1000000000 in a variable".into(),
            request: post(
                server,
                key,
                json!({ "query": "query($n: Int) { dialogues(first: $n) { nodes { id } } }", "variables": { "n": 1_000_000_000 } }),
            ),
            expect: bad_request_input(),
        },
        Case {
            name: "last: 1000000000 on Endpoint.dialogues".into(),
            request: query(
                server,
                key,
                "{ endpoint(id: \"q-1\") { dialogues(last: 1000000000) { totalCount } } }".into(),
            ),
            expect: bad_request_input(),
        },
        Case {
            name: "first beyond Int".into(),
            request: query(server, key, "{ dialogues(first: 99999999999) { totalCount } }".into()),
            expect: expect(S::BAD_REQUEST, &["GRAPHQL_VALIDATION_FAILED"]),
        },
        Case {
            name: "first: -1".into(),
            request: query(server, key, "{ dialogues(first: -1) { totalCount } }".into()),
            expect: bad_input(),
        },
        Case {
            name: "filter nested 100 levels (variables)".into(),
            request: post(
                server,
                key,
                json!({ "query": "query($f: DialogueFilter) { dialogues(filter: $f) { totalCount } }", "variables": { "f": nested_filter(100, "not") } }),
            ),
            expect: bad_request_input(),
        },
        Case {
            name: "filter nested 20 levels (variables)".into(),
            request: post(
                server,
                key,
                json!({ "query": "query($f: DialogueFilter) { dialogues(filter: $f) { totalCount } }", "variables": { "f": nested_filter(20, "or") } }),
            ),
            expect: bad_input(),
        },
        Case {
            name: "filter nested 100 levels of and (variables)".into(),
            request: post(
                server,
                key,
                json!({ "query": "query($f: DialogueFilter) { dialogueStats(from: \"2026-01-01T00:00:00Z\", to: \"2026-12-01T00:00:00Z\", filter: $f) { dialogues } }", "variables": { "f": nested_filter(100, "and") } }),
            ),
            expect: bad_request_input(),
        },
        Case {
            name: "filter nested 100 levels (inline)".into(),
            request: query(server, key, nested_filter_inline(100)),
            expect: bad_request_input(),
        },
        Case {
            name: "filter nested 5,000 levels (inline)".into(),
            request: query(server, key, nested_filter_inline(5_000)),
            expect: bad_request_input(),
        },
        Case {
            name: "list value nested 100,000 levels (inline)".into(),
            request: query(
                server,
                key,
                format!(
                    "{{ dialogues(orderBy: {}{}) {{ totalCount }} }}",
                    "[".repeat(100_000),
                    "]".repeat(100_000)
                ),
            ),
            expect: bad_request_input(),
        },
        Case {
            name: "JSON nested 100,000 levels".into(),
            request: server
                .client
                .post(server.url("/graphql"))
                .bearer_auth(key)
                .header(CONTENT_TYPE, "application/json")
                .body(format!(
                    "{{\"query\": \"{{ __typename }}\", \"variables\": {{\"x\": {}{}}}}}",
                    "[".repeat(100_000),
                    "]".repeat(100_000)
                )),
            expect: bad_request,
        },
        Case {
            name: "filter with an `or` of 2,000 branches".into(),
            request: post(
                server,
                key,
                json!({ "query": "query($f: DialogueFilter) { dialogues(filter: $f) { totalCount } }",
                        "variables": { "f": { "or": (0..2_000).map(|i| json!({ "id": { "eq": format!("d{i}") } })).collect::<Vec<_>>() } } }),
            ),
            expect: bad_input(),
        },
        Case {
            name: "`in` list of 100,000 ids".into(),
            request: post(
                server,
                key,
                json!({ "query": "query($ids: [ID!]) { dialogues(filter: { id: { in: $ids } }) { totalCount } }",
                        "variables": { "ids": (0..100_000).map(|i| i.to_string()).collect::<Vec<_>>() } }),
            ),
            expect: bad_input(),
        },
        Case {
            name: "`notIn` list of 100,000 ids on endpoints".into(),
            request: post(
                server,
                key,
                json!({ "query": "query($ids: [ID!]) { endpoints(filter: { id: { notIn: $ids } }) { totalCount } }",
                        "variables": { "ids": (0..100_000).map(|i| i.to_string()).collect::<Vec<_>>() } }),
            ),
            expect: bad_input(),
        },
        Case {
            name: "malformed JSON".into(),
            request: server
                .client
                .post(server.url("/graphql"))
                .bearer_auth(key)
                .header(CONTENT_TYPE, "application/json")
                .body("{\"query\": \"{ dialogues { totalCount } }\""),
            expect: expect(S::BAD_REQUEST, &["BAD_USER_INPUT"]),
        },
        Case {
            name: "JSON that is not a request".into(),
            request: server
                .client
                .post(server.url("/graphql"))
                .bearer_auth(key)
                .header(CONTENT_TYPE, "application/json")
                .body("[1, 2, 3]"),
            expect: expect(S::BAD_REQUEST, &["BAD_USER_INPUT"]),
        },
        Case {
            name: "invalid UTF-8 in a JSON body".into(),
            request: server
                .client
                .post(server.url("/graphql"))
                .bearer_auth(key)
                .header(CONTENT_TYPE, "application/json")
                .body(b"{\"query\": \"{ dialogue(id: \\\"\xff\xfe\\\") { id } }\"}".to_vec()),
            expect: expect(S::BAD_REQUEST, &["BAD_USER_INPUT"]),
        },
        Case {
            name: "invalid UTF-8 in an application/graphql body".into(),
            request: server
                .client
                .post(server.url("/graphql"))
                .bearer_auth(key)
                .header(CONTENT_TYPE, "application/graphql")
                .body(b"{ dialogue(id: \"\xc3\x28\") { id } }".to_vec()),
            expect: expect(S::BAD_REQUEST, &["BAD_USER_INPUT"]),
        },
        Case {
            name: "a mutation over GET".into(),
            request: server
                .client
                .get(server.url("/graphql"))
                .bearer_auth(key)
                .query(&[("query", "mutation { x }")]),
            expect: expect(S::METHOD_NOT_ALLOWED, &["BAD_USER_INPUT"]),
        },
        Case {
            name: "a mutation over POST".into(),
            request: query(server, key, "mutation { x }".into()),
            expect: expect(S::BAD_REQUEST, &["GRAPHQL_VALIDATION_FAILED"]),
        },
        Case {
            name: "a subscription over POST".into(),
            request: query(server, key, "subscription { x }".into()),
            expect: expect(S::BAD_REQUEST, &["GRAPHQL_VALIDATION_FAILED"]),
        },
        Case {
            name: "text/plain".into(),
            request: server
                .client
                .post(server.url("/graphql"))
                .bearer_auth(key)
                .header(CONTENT_TYPE, "text/plain")
                .body(NORMAL),
            expect: expect(S::UNSUPPORTED_MEDIA_TYPE, &["BAD_USER_INPUT"]),
        },
        Case {
            name: "form-encoded".into(),
            request: server
                .client
                .post(server.url("/graphql"))
                .bearer_auth(key)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(format!("query={NORMAL}")),
            expect: expect(S::UNSUPPORTED_MEDIA_TYPE, &["BAD_USER_INPUT"]),
        },
        Case {
            name: "empty body".into(),
            request: server
                .client
                .post(server.url("/graphql"))
                .bearer_auth(key)
                .header(CONTENT_TYPE, "application/json"),
            expect: expect(S::BAD_REQUEST, &["BAD_USER_INPUT"]),
        },
        Case {
            name: "a cursor that is not one".into(),
            request: query(
                server,
                key,
                "{ dialogues(after: \"'; DROP TABLE dialogues; --\") { totalCount } }".into(),
            ),
            expect: bad_input(),
        },
        Case {
            name: "a forged cursor with the wrong types".into(),
            request: post(
                server,
                key,
                json!({ "query": "query($c: String) { dialogues(after: $c) { totalCount } }",
                        "variables": { "c": base64_json(json!({ "o": "START_TIMESTAMP:D,ID:D", "k": [{ "$gt": 1 }, ["x"]] })) } }),
            ),
            expect: bad_input(),
        },
        Case {
            name: "a huge number in a forged cursor".into(),
            request: post(
                server,
                key,
                json!({ "query": "query($c: String) { dialogues(after: $c) { totalCount } }",
                        "variables": { "c": base64_json(json!({ "o": "START_TIMESTAMP:D,ID:D", "k": [1e300, "d1"] })) } }),
            ),
            expect: bad_input(),
        },
        Case {
            name: "a time zone that is not one".into(),
            request: query(
                server,
                key,
                "{ dialogueStats(from: \"2026-01-01T00:00:00Z\", to: \"2026-12-01T00:00:00Z\", timeZone: \"../../etc/passwd\") { dialogues } }".into(),
            ),
            expect: bad_input(),
        },
        Case {
            name: "a million 15-minute buckets".into(),
            request: query(
                server,
                key,
                "{ dialogueStats(from: \"1970-01-01T00:00:00Z\", to: \"2100-01-01T00:00:00Z\", granularity: FIFTEEN_MINUTES) { dialogues } }".into(),
            ),
            expect: bad_input(),
        },
        Case {
            name: "a percentile out of range".into(),
            request: query(
                server,
                key,
                "{ dialogueStats(from: \"2026-01-01T00:00:00Z\", to: \"2026-12-01T00:00:00Z\") { queueTimePercentile(p: 1e308) } }".into(),
            ),
            expect: bad_input(),
        },
    ];
    cases.push(Case {
        name: "a chain of 5,000 fragments".into(),
        request: query(server, key, {
            let mut doc = String::from("query { ...F0 }\n");
            for i in 0..5_000 {
                doc.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1));
            }
            doc.push_str("fragment F5000 on Query { __typename }\n");
            doc
        }),
        expect: too_complex(),
    });
    cases.push(Case {
        name: "10,000 operations".into(),
        request: post(
            server,
            key,
            json!({
                "query": (0..10_000).map(|i| format!("query Q{i} {{ __typename }}")).collect::<Vec<_>>().join("\n"),
                "operationName": "Q9999"
            }),
        ),
        expect: anything_coded(),
    });
    cases.push(Case {
        name: "10,000 directives on one field".into(),
        request: query(
            server,
            key,
            format!(
                "{{ dialogues {{ totalCount {} }} }}",
                "@include(if: true) ".repeat(10_000)
            ),
        ),
        expect: expect(S::BAD_REQUEST, &["GRAPHQL_VALIDATION_FAILED"]),
    });
    cases.push(Case {
        name: "10,000 variable definitions".into(),
        request: query(
            server,
            key,
            format!(
                "query({}) {{ __typename }}",
                (0..10_000)
                    .map(|i| format!("$v{i}: Int"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        expect: expect(S::BAD_REQUEST, &["GRAPHQL_VALIDATION_FAILED"]),
    });
    cases.push(Case {
        name: "10,000 unused fragments".into(),
        request: query(
            server,
            key,
            format!(
                "{{ __typename }} {}",
                (0..10_000)
                    .map(|i| format!("fragment U{i} on Query {{ __typename }}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
        expect: expect(S::BAD_REQUEST, &["GRAPHQL_VALIDATION_FAILED"]),
    });
    // Extra: a string with 10,000 characters of nonsense, a query that is only whitespace.
    cases.push(Case {
        name: "only whitespace".into(),
        request: query(server, key, " ".repeat(10_000)),
        expect: expect(S::BAD_REQUEST, &["GRAPHQL_PARSE_FAILED"]),
    });
    cases
}

/// A valid dialogue input, but for what a case changes.
fn hostile_dialogue(i: usize) -> Value {
    json!({
        "id": format!("h-{i}"), "orderNumber": 90_000 + i, "startTimestamp": "2026-03-02T15:00:00Z",
        "endTimestamp": "2026-03-02T15:01:00Z", "ivrId": "h-ivr", "direction": "INBOUND", "outcome": "IVR_DROP"
    })
}

const INGEST: &str =
    "mutation($d: [DialogueInput!]!) { x: ingestDialogues(dialogues: $d) { inserted } }";
const UPSERT: &str =
    "mutation($e: [EndpointInput!]!) { x: upsertEndpoints(endpoints: $e) { inserted } }";

/// The write path's hostile cases, with a key that may write (`key`) and one that may only
/// read (`read_key`). None of them may store anything; one record at fault is refused after at
/// most the two reads that precede validation (the tenant and its thresholds), never by a write.
fn write_cases(server: &Server, key: &str, read_key: &str) -> Vec<Case> {
    use StatusCode as S;
    let bad_input = || expect(S::OK, &["BAD_USER_INPUT"]);
    let with = |i: usize, field: &str, value: Value| {
        let mut batch: Vec<Value> = (0..10).map(hostile_dialogue).collect();
        batch[i][field] = value;
        json!({ "query": INGEST, "variables": { "d": batch } })
    };
    vec![
        Case {
            name: "ingestDialogues with a read key".into(),
            request: post(server, read_key, with(0, "id", json!("h-0"))),
            expect: expect(S::OK, &["FORBIDDEN"]),
        },
        Case {
            name: "upsertEndpoints with a read key".into(),
            request: post(
                server,
                read_key,
                json!({ "query": UPSERT, "variables": { "e": [{ "id": "h-e", "role": "AGENT" }] } }),
            ),
            expect: expect(S::OK, &["FORBIDDEN"]),
        },
        Case {
            name: "1,001 dialogues".into(),
            request: post(
                server,
                key,
                json!({ "query": INGEST, "variables": { "d": (0..1001).map(hostile_dialogue).collect::<Vec<_>>() } }),
            ),
            expect: bad_input(),
        },
        Case {
            name: "10,000 endpoints".into(),
            request: post(
                server,
                key,
                json!({ "query": UPSERT, "variables": { "e": (0..10_000).map(|i| json!({ "id": format!("h-{i}"), "role": "AGENT" })).collect::<Vec<_>>() } }),
            ),
            expect: bad_input(),
        },
        Case {
            name: "a dialogue id of 500,000 bytes".into(),
            request: post(server, key, with(7, "id", json!("h".repeat(500_000)))),
            expect: bad_input().touching(2),
        },
        Case {
            name: "a queue id of 500,000 bytes".into(),
            request: post(server, key, with(3, "queueId", json!("q".repeat(500_000)))),
            expect: bad_input().touching(2),
        },
        Case {
            name: "an endpoint name of 900,000 bytes".into(),
            request: post(
                server,
                key,
                json!({ "query": UPSERT, "variables": { "e": [{ "id": "h-e", "role": "AGENT", "name": "n".repeat(900_000) }] } }),
            ),
            expect: bad_input(),
        },
        Case {
            name: "a NUL in a dialogue id".into(),
            request: post(server, key, with(7, "id", json!("h-\u{0}"))),
            expect: bad_input().touching(2),
        },
        Case {
            name: "a NUL in an endpoint name".into(),
            request: post(
                server,
                key,
                json!({ "query": UPSERT, "variables": { "e": [{ "id": "h-e", "role": "AGENT", "name": "a\u{0}b" }] } }),
            ),
            expect: bad_input(),
        },
        Case {
            name: "end before start at index 7".into(),
            request: post(server, key, with(7, "endTimestamp", json!("2026-03-02T14:59:59Z"))),
            expect: bad_input().touching(2),
        },
        Case {
            name: "an order number beyond Int".into(),
            request: post(server, key, with(2, "orderNumber", json!(1u64 << 40))),
            // async-graphql checks an Int's range inside a variable's input object when the
            // field's arguments are read, so this is a field error (200), coded all the same.
            expect: Expect {
                status: None,
                codes: Some(&["GRAPHQL_VALIDATION_FAILED"]),
                statements: 0,
            },
        },
        Case {
            name: "a start that is not a DateTime".into(),
            request: post(server, key, with(2, "startTimestamp", json!("yesterday"))),
            expect: expect(S::BAD_REQUEST, &["GRAPHQL_VALIDATION_FAILED"]),
        },
        Case {
            name: "a duration of 1e400".into(),
            request: server
                .client
                .post(server.url("/graphql"))
                .bearer_auth(key)
                .header(CONTENT_TYPE, "application/json")
                .header(ACCEPT, "application/graphql-response+json")
                .body(r#"{"query": "mutation { x: ingestDialogues(dialogues: [{id: \"h-1\", orderNumber: 1, startTimestamp: \"2026-03-02T15:00:00Z\", direction: INBOUND, outcome: IVR_DROP, sessionDurationInSec: 1e400}]) { inserted } }"}"#),
            expect: expect(S::BAD_REQUEST, &["GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED"]),
        },
        Case {
            name: "21 aliases of ingestDialogues".into(),
            request: post(
                server,
                key,
                json!({ "query": format!("mutation($d: [DialogueInput!]!) {{ {} }}", aliases(21, "ingestDialogues(dialogues: $d) { inserted }")),
                        "variables": { "d": (0..1000).map(hostile_dialogue).collect::<Vec<_>>() } }),
            ),
            expect: expect(S::BAD_REQUEST, &["QUERY_TOO_COMPLEX"]),
        },
        Case {
            name: "dialogues as a list of lists".into(),
            request: query(
                server,
                key,
                format!(
                    "mutation {{ ingestDialogues(dialogues: {}{}) {{ inserted }} }}",
                    "[".repeat(10_000),
                    "]".repeat(10_000)
                ),
            ),
            expect: expect(S::BAD_REQUEST, &["BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"]),
        },
    ]
}

/// POSTs a `size`-byte JSON body by hand (a client library may give up writing once the
/// server has answered); returns status, content type and the JSON body of the answer.
async fn raw_post(base: &str, key: &str, size: usize, chunked: bool) -> (u16, String, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let length = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {size}")
    };
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\n{length}\r\nConnection: close\r\n\r\n"
    );
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        let mut body = br#"{"query": "{ dialogues { totalCount } }", "x": ""#.to_vec();
        body.resize(size - 2, b'x');
        body.extend(b"\"}");
        for chunk in body.chunks(64 << 10) {
            if chunked {
                write
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await?;
                write.write_all(chunk).await?;
                write.write_all(b"\r\n").await?;
            } else {
                write.write_all(chunk).await?;
            }
        }
        if chunked {
            write.write_all(b"0\r\n\r\n").await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), read.read_to_end(&mut answer)).await;
    writer.abort();
    let answer = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-type:"))
        .unwrap_or("")
        .to_string();
    let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    (status, content_type, body)
}

fn base64_json(value: Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Requests with the text `nul` where the API takes text. Built with a NUL byte for the hostile
/// cases and with U+0001 for their reference: a value no row holds that sorts where the NUL
/// does (just after `d1`), so the two must be answered alike — or the NUL refused with a coded
/// client error (PostgreSQL cannot hold it), never an internal error.
fn nul_cases(server: &Server, key: &str, nul: &str) -> Vec<(String, reqwest::RequestBuilder)> {
    let nul_id_query = [
        ("dialogue(id)", "query($s: ID!) { x: dialogue(id: $s) { id } }"),
        ("endpoint(id)", "query($s: ID!) { x: endpoint(id: $s) { id } }"),
        (
            "id eq",
            "query($s: ID!) { x: dialogues(filter: { id: { eq: $s } }) { totalCount } }",
        ),
        (
            "queueId in",
            "query($s: ID!) { x: dialogues(filter: { queueId: { in: [$s, \"q-1\"] } }) { totalCount } }",
        ),
        (
            "agentId notIn",
            "query($s: ID!) { x: dialogues(filter: { agentId: { notIn: [$s] } }) { totalCount } }",
        ),
        (
            "name contains",
            "query($s: String!) { x: endpoints(filter: { name: { contains: $s } }) { totalCount } }",
        ),
        (
            "name eq",
            "query($s: String!) { x: endpoints(filter: { name: { eq: $s } }) { totalCount } }",
        ),
        (
            "stats filter",
            "query($s: ID!) { x: dialogueStats(from: \"2026-01-01T00:00:00Z\", to: \"2026-12-01T00:00:00Z\", filter: { queueId: { eq: $s } }) { dialogues } }",
        ),
        (
            "timeZone",
            "query($s: String!) { x: dialogueStats(from: \"2026-01-01T00:00:00Z\", to: \"2026-12-01T00:00:00Z\", timeZone: $s) { dialogues } }",
        ),
        (
            "Endpoint.dialogues filter",
            "query($s: ID!) { endpoint(id: \"q-1\") { x: dialogues(filter: { customerId: { eq: $s } }) { totalCount } } }",
        ),
    ];
    let mut cases: Vec<(String, reqwest::RequestBuilder)> = nul_id_query
        .iter()
        .map(|(name, q)| {
            (
                format!("NUL in {name}"),
                post(
                    server,
                    key,
                    json!({ "query": q, "variables": { "s": nul } }),
                ),
            )
        })
        .collect();
    // In a forged cursor's text value.
    cases.push((
        "NUL in a cursor".into(),
        post(
            server,
            key,
            json!({ "query": "query($c: String) { x: dialogues(after: $c) { totalCount nodes { id } } }",
                    "variables": { "c": base64_json(json!({ "o": "START_TIMESTAMP:D,ID:D", "k": [1772442000000i64, nul] })) } }),
        ),
    ));
    // Written inline in the document as an escape.
    let escape = if nul.contains('\u{0}') {
        "\\u0000"
    } else {
        "\\u0001"
    };
    cases.push((
        "NUL escape inline".into(),
        query(
            server,
            key,
            format!("{{ x: dialogue(id: \"d1{escape}\") {{ id }} }}"),
        ),
    ));
    cases
}

async fn parts(response: reqwest::Response) -> (StatusCode, String, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, body)
}

/// Nothing internal in an error: no SQL, no driver or library wording.
fn assert_no_internals(name: &str, body: &Value) {
    let text = body.to_string().to_ascii_lowercase();
    for word in [
        "select ",
        "sqlx",
        "sqlite",
        "postgres",
        "database",
        "syntax error at",
        "panicked",
        "thread '",
        "stack overflow",
        "sea_orm",
        "dberr",
        "/src/",
        ".rs:",
    ] {
        assert!(!text.contains(word), "{name}: leaks {word:?}: {body}");
    }
}

/// Sends normal queries with their own key until stopped; returns every failure and the count.
fn bystander(
    server: &Server,
    key: String,
) -> (
    Arc<AtomicBool>,
    tokio::task::JoinHandle<(usize, Vec<String>)>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let client = server.client.clone();
    let url = server.url("/graphql");
    let flag = stop.clone();
    let task = tokio::spawn(async move {
        let mut ok = 0;
        let mut failures = Vec::new();
        while !flag.load(Ordering::SeqCst) {
            let started = Instant::now();
            let response = client
                .post(&url)
                .bearer_auth(&key)
                .json(&json!({ "query": NORMAL }))
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            match response {
                Ok(response) if response.status() == StatusCode::OK => {
                    let body: Value = response.json().await.unwrap_or_default();
                    if body["data"]["dialogues"]["totalCount"] == json!(5)
                        && body.get("errors").is_none()
                    {
                        ok += 1;
                    } else {
                        failures.push(format!("{body}"));
                    }
                }
                Ok(response) => failures.push(format!("status {}", response.status())),
                Err(e) => failures.push(format!("{e} after {:?}", started.elapsed())),
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        (ok, failures)
    });
    (stop, task)
}

/// One database with tenant `a`'s fixtures: the server hostile requests go to, whose database
/// connection records every statement it runs, and a second server on a connection of its own
/// for the bystander (so its statements do not mix with the hostile ones' count), in this same
/// process and runtime.
struct Setup {
    t: common::TestDb,
    server: Server,
    bystander_server: Server,
    hostile: String,
    normal: String,
    statements: Arc<Mutex<Vec<String>>>,
}

impl Setup {
    /// The statements run since the last call, leaving out the API key's look-up and use.
    fn take_statements(&self) -> Vec<String> {
        std::mem::take(&mut *self.statements.lock().unwrap())
            .into_iter()
            .filter(|s| !s.contains("api_keys"))
            .collect()
    }
}

async fn setup() -> Vec<Setup> {
    let mut all = Vec::new();
    for t in common::databases().await {
        common::load(
            &t.db,
            "a",
            "isolation_a_endpoints.ndjson",
            "isolation_a_dialogues.ndjson",
        )
        .await;
        let hostile = common::key(&t.db, "a", "read,ingest").await;
        let normal = common::key(&t.db, "a", "read").await;
        let config = || ServeConfig {
            no_auth: false,
            ..ServeConfig::default()
        };
        let mut metered =
            insights_core::db::connect(&insights_core::db::DbOptions::new(t.url.clone()))
                .await
                .expect("a second connection");
        let statements: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = statements.clone();
        metered.set_metric_callback(move |info| {
            log.lock().unwrap().push(info.statement.to_string());
        });
        let server = Server::start(&metered, config()).await;
        let bystander_server = Server::start(&t.db, config()).await;
        all.push(Setup {
            t,
            server,
            bystander_server,
            hostile,
            normal,
            statements,
        });
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_coded_errors_without_reaching_the_database_while_others_are_served() {
    for setup in setup().await {
        let Setup {
            t,
            server,
            bystander_server,
            hostile,
            normal,
            ..
        } = &setup;
        let (stop, bystander) = bystander(bystander_server, normal.clone());
        let mut problems = Vec::new();
        let mut all_cases = cases(server, hostile);
        all_cases.extend(write_cases(server, hostile, normal));
        for case in all_cases {
            setup.take_statements();
            let started = Instant::now();
            let response = case.request.timeout(CLIENT_WAIT).send().await;
            let response = match response {
                Ok(response) => response,
                Err(e) => {
                    problems.push(format!(
                        "{}: no answer ({e}) after {:?}",
                        case.name,
                        started.elapsed()
                    ));
                    continue;
                }
            };
            let (status, content_type, body) = parts(response).await;
            let elapsed = started.elapsed();
            let statements = setup.take_statements();
            let codes = common::error_codes(&body);
            let mut wrong = Vec::new();
            if statements.len() > case.expect.statements {
                wrong.push(format!(
                    "ran {} statements (at most {}): {}",
                    statements.len(),
                    case.expect.statements,
                    statements
                        .iter()
                        .map(|s| s.chars().take(80).collect::<String>())
                        .collect::<Vec<_>>()
                        .join(" | ")
                ));
            }
            match case.expect.status {
                Some(expected) if status != expected => {
                    wrong.push(format!("status {status}, expected {expected}"))
                }
                None if status.is_server_error() => wrong.push(format!("status {status}")),
                _ => {}
            }
            match case.expect.codes {
                Some(expected)
                    if codes.is_empty()
                        || !codes.iter().all(|c| expected.contains(&c.as_str())) =>
                {
                    wrong.push(format!("codes {codes:?}, expected one of {expected:?}"))
                }
                None if codes
                    .iter()
                    .any(|c| c == "<none>" || c == "INTERNAL_SERVER_ERROR") =>
                {
                    wrong.push(format!("codes {codes:?}"))
                }
                _ => {}
            }
            if !content_type.contains("json") {
                wrong.push(format!("content type {content_type:?}"));
            }
            if !wrong.is_empty() {
                let mut text = body.to_string();
                text.truncate(400);
                problems.push(format!("{}: {} — {text}", case.name, wrong.join("; ")));
            }
            assert_no_internals(&case.name, &body);
            eprintln!(
                "{}: {}: {status} {codes:?}, {} statements, in {elapsed:?}",
                t.kind,
                case.name,
                statements.len()
            );
        }
        // 10 MB, announced by Content-Length and streamed without one: 413, coded, before the
        // body is read (so before any statement).
        for chunked in [false, true] {
            setup.take_statements();
            let (status, content_type, body) =
                raw_post(&server.base, hostile, 10 << 20, chunked).await;
            let statements = setup.take_statements();
            eprintln!(
                "{}: 10 MB body (chunked {chunked}): {status} {body}",
                t.kind
            );
            if status != 413
                || common::error_codes(&body) != ["BAD_USER_INPUT"]
                || !content_type.contains("json")
                || !statements.is_empty()
            {
                problems.push(format!(
                    "10 MB body (chunked {chunked}): {status} {content_type} {body}, {} statements",
                    statements.len()
                ));
            }
        }
        // Invalid UTF-8 percent-encoded in a GET query string: decoded lossily (U+FFFD), as
        // URL decoders do; it must still be a normal answer or a coded client error.
        let response = server
            .client
            .get(format!(
                "{}?query=%7B%20dialogue(id%3A%20%22%FF%FE%22)%20%7B%20id%20%7D%20%7D",
                server.url("/graphql")
            ))
            .bearer_auth(hostile)
            .send()
            .await
            .unwrap();
        let (status, _, body) = parts(response).await;
        assert!(
            status == StatusCode::OK && body == json!({ "data": { "dialogue": null } })
                || status == StatusCode::BAD_REQUEST && !common::error_codes(&body).is_empty(),
            "{}: GET with invalid UTF-8: {status} {body}",
            t.kind
        );
        stop.store(true, Ordering::SeqCst);
        let (ok, failures) = bystander.await.unwrap();
        assert!(
            problems.is_empty(),
            "{}: hostile requests not handled:\n{}",
            t.kind,
            problems.join("\n")
        );
        assert!(
            failures.is_empty(),
            "{}: normal queries failed meanwhile: {failures:?}",
            t.kind
        );
        assert!(ok >= 5, "{}: only {ok} normal queries got through", t.kind);
        // Nothing the hostile writes tried was stored: tenant a holds what its fixtures hold.
        let (status, body) = server
            .query(
                normal,
                "{ dialogues { totalCount } endpoints(filter: { or: [{ id: { in: [\"h-e\", \"h-0\", \"h-ivr\"] } }, { name: { startsWith: \"n\" } }] }) { totalCount } }",
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["data"]["dialogues"]["totalCount"], 5,
            "{}: {body}",
            t.kind
        );
        assert_eq!(
            body["data"]["endpoints"]["totalCount"], 0,
            "{}: {body}",
            t.kind
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_bytes_never_cause_internal_errors() {
    for setup in setup().await {
        let Setup {
            t,
            server,
            bystander_server,
            hostile,
            normal,
            ..
        } = &setup;
        let (stop, bystander) = bystander(bystander_server, normal.clone());
        let mut problems = Vec::new();
        let references = nul_cases(server, hostile, "d1\u{1}");
        for ((name, request), (_, reference)) in nul_cases(server, hostile, "d1\u{0}")
            .into_iter()
            .zip(references)
        {
            let (status, _, body) = parts(request.send().await.unwrap()).await;
            let (ref_status, _, reference) = parts(reference.send().await.unwrap()).await;
            let codes = common::error_codes(&body);
            eprintln!(
                "{}: {name}: {status} {codes:?} {body} (reference {reference})",
                t.kind
            );
            assert_no_internals(&name, &body);
            let coded_client_error = status.is_client_error()
                || status == StatusCode::OK && {
                    !codes.is_empty()
                        && codes.iter().all(|c| {
                            ["BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"].contains(&c.as_str())
                        })
                };
            let reference_answered =
                ref_status == StatusCode::OK && reference.get("errors").is_none();
            // Answered as the reference is, exactly (e.g. a cursor just past d1 gives the page
            // after d1; `notIn` the NUL id counts every dialogue); or refused, coded.
            let alike = status == StatusCode::OK && reference_answered && body == reference;
            if !(alike || coded_client_error && !codes.is_empty()) {
                problems.push(format!(
                    "{name}: {status}: {body}; reference {ref_status}: {reference}"
                ));
            }
        }
        stop.store(true, Ordering::SeqCst);
        let (ok, failures) = bystander.await.unwrap();
        assert!(
            problems.is_empty(),
            "{}: NUL bytes not handled:\n{}",
            t.kind,
            problems.join("\n")
        );
        assert!(failures.is_empty(), "{failures:?}");
        assert!(ok >= 1);
    }
}

#[tokio::test]
async fn hostile_requests_without_a_key_are_401_before_any_work() {
    // Nothing hostile gets parsed for a caller without a key.
    for setup in setup().await {
        let Setup { t, server, .. } = &setup;
        for body in [
            json!({ "query": deep_query(1000) }),
            json!({ "query": fragment_bomb(30) }),
            json!({ "query": format!("{{ {} }}", aliases(10_000, "__typename")) }),
            json!({ "query": "mutation($d: [DialogueInput!]!) { ingestDialogues(dialogues: $d) { inserted } }",
                    "variables": { "d": (0..1000).map(|i| json!({ "id": format!("h-{i}") })).collect::<Vec<_>>() } }),
        ] {
            setup.take_statements();
            let response = server.post(body).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{}", t.kind);
            // Refused before any work: not even a key to look up, so no statement at all.
            let statements = std::mem::take(&mut *setup.statements.lock().unwrap());
            assert_eq!(statements, Vec::<String>::new(), "{}", t.kind);
        }
        // Even with a JSON body that is not valid, 401 first would also be fine; either way coded.
        let response = server
            .client
            .post(server.url("/graphql"))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body("{")
            .send()
            .await
            .unwrap();
        let (status, _, body) = parts(response).await;
        assert!(status.is_client_error(), "{status}");
        assert!(!common::error_codes(&body).is_empty(), "{body}");
    }
}
