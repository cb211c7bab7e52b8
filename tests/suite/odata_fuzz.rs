//! A seeded, bounded fuzz of the OData `$filter` parser (API.md §8, issue 12): filters built from
//! the grammar's tokens, mutated, deeply nested, and random bytes. The parser must never panic,
//! never build a tree deeper than its nesting limit allows, and every error must name the option
//! and a position inside it. Then a few hundred of the same filters over HTTP: each answers 200,
//! 400 or 501 (with OData's error body) and the server keeps answering.
//!
//! Deterministic: the seed is fixed (set `ODATA_FUZZ_SEED` to try others, `ODATA_FUZZ_CASES` for
//! more cases); a failure prints the seed, the case number and the filter.
use crate::common;

use common::Server;
use insights::app::config::ServeConfig;
use insights::odata::parser::{
    parse_filter, ParseError, Prop, PropType, DIALOGUE_PROPS, ENDPOINT_PROPS, MAX_DEPTH,
    MAX_OPTION_LEN,
};
use insights_core::query::{DialogueField, Filter};
use reqwest::StatusCode;
use serde_json::Value;

const DEFAULT_SEED: u64 = 0x0da7_a12f_2026_1130;

/// xorshift64*: small, deterministic, good enough to pick tokens.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const OPERATORS: &[&str] = &[
    "eq", "ne", "gt", "ge", "lt", "le", "EQ", "has", "add", "mod", "like", "=",
];
const FUNCTIONS: &[&str] = &[
    "startswith",
    "endswith",
    "contains",
    "startsWith",
    "CONTAINS",
    "tolower",
    "length",
    "substring",
    "any",
    "nosuch",
    "cast",
];
const LITERALS: &[&str] = &[
    "'x'",
    "''",
    "'it''s'",
    "'''",
    "'Accepted'",
    "'Abandoned'",
    "'IvrDrop'",
    "'True'",
    "'false'",
    "'Queue'",
    "'agent'",
    "'%_\\'",
    "'ünïcødé 😀'",
    "'a\u{0}b'",
    "'\u{202e}rtl'",
    "null",
    "true",
    "false",
    "1",
    "2",
    "0",
    "-1",
    "1.5",
    "-0.0",
    "1e3",
    "1e400",
    "2147483648",
    "99999999999999999999",
    "2026-03-02",
    "2026-13-45",
    "2026-03-02T10:00:00Z",
    "2026-03-02T10:00:00.123+01:00",
    "2026-03-02T10:00 01:00",
    "2026-03-02T10:00:00-14:00",
    "2026-03-02T25:61:00Z",
    "2026-03-02T10:00:00+1:00",
    "2026-03-02T10:00:00",
    "-2026-03-02",
    "1-2-3",
    "0x10",
    "INF",
    "NaN",
];
const NOISE: &[&str] = &[
    "(", ")", ",", "/", "*", "=", "'", "$", "@", "-", "+", ".", " ", "  ", "\t", "\n", "%", "%20",
    "&", "?", "#", ";", "\\", "\"", "\u{0}", "é", "😀", "\u{feff}", "\u{3000}", "and", "or", "not",
    "in", "()", "$it", "@p",
];

/// Property names as a client may spell them: the real ones in any case, navigation
/// properties, paths, unknown names.
fn property(rng: &mut Rng, props: &[Prop]) -> String {
    let name = rng.pick(props).name;
    match rng.below(10) {
        0 => name.to_ascii_uppercase(),
        1 => name.to_ascii_lowercase(),
        2 => rng
            .pick(&[
                "queue", "agent", "ivr/name", "queue/id", "nope", "_x", "$filter", "id$",
            ])
            .to_string(),
        _ => name.to_string(),
    }
}

/// A literal of the property's type (or `null`), as a well-formed filter has it.
fn literal_for(rng: &mut Rng, ty: PropType) -> &'static str {
    if rng.chance(15) {
        return "null";
    }
    let pool: &[&'static str] = match ty {
        PropType::Text => &["'x'", "'it''s'", "'q-sales'", "''", "'d1'", "'ünï 😀'"],
        PropType::Date => &["2026-03-02", "2026-12-31", "1970-01-01"],
        PropType::Instant => &[
            "2026-03-02T10:00:00Z",
            "2026-03-02T10:00:00.123+01:00",
            "2026-03-02T10:00-05:30",
            "2026-03-02T10:00:00 01:00",
        ],
        PropType::Double => &["1.5", "10", "0", "-3", "1e3"],
        PropType::Int => &["101", "5", "-1", "0"],
        PropType::Direction => &["1", "2"],
        PropType::Outcome => &["'Accepted'", "'Abandoned'", "'IvrDrop'"],
        PropType::TriBool => &["'True'", "'False'", "'true'"],
        PropType::Role => &["'Queue'", "'Agent'", "'Ivr'", "'Customer'"],
    };
    pool[rng.below(pool.len())]
}

/// A literal of the property's type, never `null`.
fn value_for(rng: &mut Rng, ty: PropType) -> &'static str {
    loop {
        let literal = literal_for(rng, ty);
        if literal != "null" {
            return literal;
        }
    }
}

/// A comparison that is well-formed for the property picked.
fn well_formed(rng: &mut Rng, props: &[Prop]) -> String {
    let prop = *rng.pick(props);
    let name = if rng.chance(20) {
        prop.name.to_ascii_uppercase()
    } else {
        prop.name.to_string()
    };
    if prop.searchable && rng.chance(40) {
        let text = *rng.pick(&["'A'", "'ann'", "'%'", "'_'", "'O''B'"]);
        return format!(
            "{}({name},{text})",
            rng.pick(&["startswith", "endswith", "contains"])
        );
    }
    let equality_only = matches!(
        prop.ty,
        PropType::Outcome | PropType::TriBool | PropType::Role
    );
    if rng.chance(20) {
        let n = 1 + rng.below(4);
        let items: Vec<&str> = (0..n).map(|_| value_for(rng, prop.ty)).collect();
        return format!("{name} in ({})", items.join(","));
    }
    let op = if equality_only {
        *rng.pick(&["eq", "ne"])
    } else {
        *rng.pick(&["eq", "ne", "gt", "ge", "lt", "le"])
    };
    let literal = if matches!(op, "eq" | "ne") {
        literal_for(rng, prop.ty)
    } else {
        value_for(rng, prop.ty)
    };
    format!("{name} {op} {literal}")
}

/// A filter from OData's grammar (valid more often than not), `depth` levels of nesting deep
/// at most.
fn expression(rng: &mut Rng, props: &[Prop], depth: usize) -> String {
    if depth > 0 && rng.chance(35) {
        let inner = expression(rng, props, depth - 1);
        return match rng.below(6) {
            0 => format!("not {inner}"),
            1 => format!("not ({inner})"),
            2 => format!("({inner}) eq {}", rng.pick(&["true", "false", "null", "1"])),
            _ => format!("({inner})"),
        };
    }
    if depth > 0 && rng.chance(30) {
        let left = expression(rng, props, depth - 1);
        let right = expression(rng, props, depth - 1);
        let joiner = rng.pick(&["and", "or", "AND", "or not", "and and"]);
        return format!("{left} {joiner} {right}");
    }
    if rng.chance(75) {
        return well_formed(rng, props);
    }
    let p = property(rng, props);
    match rng.below(8) {
        0 => format!("{}({p},{})", rng.pick(FUNCTIONS), rng.pick(LITERALS)),
        1 => {
            let n = rng.below(5);
            let items: Vec<&str> = (0..n).map(|_| *rng.pick(LITERALS)).collect();
            format!("{p} in ({})", items.join(","))
        }
        _ => format!("{p} {} {}", rng.pick(OPERATORS), rng.pick(LITERALS)),
    }
}

/// One fuzz case: grammar, token soup, a mutated grammar string, deep nesting, or random bytes.
fn case(rng: &mut Rng, props: &[Prop]) -> String {
    match rng.below(10) {
        0..=2 => {
            let depth = rng.below(6);
            expression(rng, props, depth)
        }
        3 | 4 => {
            let n = 1 + rng.below(12);
            (0..n)
                .map(|_| match rng.below(5) {
                    0 => rng.pick(OPERATORS).to_string(),
                    1 => rng.pick(LITERALS).to_string(),
                    2 => rng.pick(NOISE).to_string(),
                    3 => rng.pick(FUNCTIONS).to_string(),
                    _ => property(rng, props),
                })
                .collect::<Vec<_>>()
                .join(if rng.chance(70) { " " } else { "" })
        }
        5..=7 => {
            let depth = rng.below(4);
            let mut chars: Vec<char> = expression(rng, props, depth).chars().collect();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(chars.len() + 1);
                match rng.below(4) {
                    0 if !chars.is_empty() => {
                        let end = (at + 1 + rng.below(4)).min(chars.len());
                        chars = [&chars[..at.min(end)], &chars[end..]].concat();
                    }
                    1 => {
                        let noise: Vec<char> = rng.pick(NOISE).chars().collect();
                        chars = [&chars[..at], &noise[..], &chars[at..]].concat();
                    }
                    2 => chars.insert(
                        at,
                        char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('?'),
                    ),
                    _ => {
                        let literal: Vec<char> = rng.pick(LITERALS).chars().collect();
                        chars = [&chars[..at], &literal[..], &chars[at..]].concat();
                    }
                }
            }
            chars.into_iter().collect()
        }
        8 => {
            // Nesting around and past the limit, balanced or not.
            let open = rng.below(3 * MAX_DEPTH);
            let close = if rng.chance(70) {
                open
            } else {
                rng.below(3 * MAX_DEPTH)
            };
            let nots = if rng.chance(50) {
                rng.below(3 * MAX_DEPTH)
            } else {
                0
            };
            let inner = expression(rng, props, 1);
            format!(
                "{}{}{inner}{}",
                "not ".repeat(nots),
                "(".repeat(open),
                ")".repeat(close)
            )
        }
        _ => {
            let n = rng.below(64);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }
}

fn tree_depth<F>(filter: &Filter<F>) -> usize {
    match filter {
        Filter::All(items) | Filter::Any(items) => {
            1 + items.iter().map(tree_depth).max().unwrap_or(0)
        }
        Filter::Not(inner) => 1 + tree_depth(inner),
        Filter::Is(..) => 1,
        Filter::Related(_, inner) => 1 + tree_depth(inner),
    }
}

/// An error's message is "`$filter` at position N: ..." with N inside the text (or just past
/// its end); the one exception is a filter refused unread for its length, which says so.
fn check_error(error: &ParseError, text: &str) -> Result<(), String> {
    let message = error.message();
    let chars = text.chars().count();
    if text.len() > MAX_OPTION_LEN {
        return if message.starts_with("`$filter` is ") && message.contains("bytes long") {
            Ok(())
        } else {
            Err(format!("a long filter is refused with {message:?}"))
        };
    }
    let rest = message
        .strip_prefix("`$filter` at position ")
        .ok_or_else(|| format!("the error names no option and position: {message:?}"))?;
    let (number, tail) = rest
        .split_once(": ")
        .ok_or_else(|| format!("no `: ` after the position: {message:?}"))?;
    let position: usize = number
        .parse()
        .map_err(|_| format!("the position is not a number: {message:?}"))?;
    if position == 0 || position > chars + 1 {
        return Err(format!(
            "position {position} is outside a filter of {chars} characters: {message:?}"
        ));
    }
    if tail.trim().is_empty() {
        return Err(format!("the error says nothing: {message:?}"));
    }
    Ok(())
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| {
            let v = v.trim();
            v.strip_prefix("0x")
                .map_or_else(|| v.parse().ok(), |h| u64::from_str_radix(h, 16).ok())
        })
        .unwrap_or(default)
}

/// Parses `text` on a set's properties; panics with the case on a broken property.
fn parse_and_check(seed: u64, number: usize, text: &str, props: &[Prop], tally: &mut [usize; 3]) {
    let outcome = std::panic::catch_unwind(|| {
        if props.len() == DIALOGUE_PROPS.len() {
            let fields: Vec<Option<DialogueField>> =
                DialogueField::ALL.iter().copied().map(Some).collect();
            parse_filter(text, props, &fields).map(|f| tree_depth(&f))
        } else {
            // As the handler maps them: thresholds are not filterable.
            let fields = [Some(0u8), Some(1), Some(2), None, None];
            parse_filter(text, props, &fields).map(|f| tree_depth(&f))
        }
    });
    let shown: String = text.chars().take(300).collect();
    let result = outcome.unwrap_or_else(|_| {
        panic!("seed {seed:#x}, case {number}: the parser panicked on {shown:?}")
    });
    // Each level of nesting (a parenthesis or a `not`) adds at most an `or`, an `and` and a
    // negated boolean comparison to the tree; the top level an `or` and an `and`.
    let bound = 3 * (MAX_DEPTH + 1) + 3;
    match result {
        Ok(depth) => {
            assert!(
                depth <= bound,
                "seed {seed:#x}, case {number}: a tree {depth} deep (bound {bound}) from {shown:?}"
            );
            tally[0] += 1;
        }
        Err(e) => {
            if let Err(why) = check_error(&e, text) {
                panic!("seed {seed:#x}, case {number}: {why} (filter {shown:?})");
            }
            tally[if matches!(e, ParseError::Invalid(_)) {
                1
            } else {
                2
            }] += 1;
        }
    }
}

#[test]
fn the_filter_parser_survives_twenty_thousand_generated_filters() {
    let seed = env_number("ODATA_FUZZ_SEED", DEFAULT_SEED);
    let cases = env_number("ODATA_FUZZ_CASES", 20_000) as usize;
    // A small stack: a recursion the nesting limit did not bound would overflow it.
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            let mut rng = Rng::new(seed);
            let mut tally = [0usize; 3];
            for number in 0..cases {
                let props: &[Prop] = if rng.chance(75) {
                    &DIALOGUE_PROPS
                } else {
                    &ENDPOINT_PROPS
                };
                let text = case(&mut rng, props);
                parse_and_check(seed, number, &text, props, &mut tally);
            }
            // Past the length limit, and a little under it.
            let long = format!("id in ({})", vec!["'x'"; MAX_OPTION_LEN / 4 + 10].join(","));
            parse_and_check(seed, cases, &long, &DIALOGUE_PROPS, &mut tally);
            let deep = format!("{}id eq 'x'{}", "(".repeat(4_000), ")".repeat(4_000));
            parse_and_check(seed, cases + 1, &deep, &DIALOGUE_PROPS, &mut tally);
            tally
        })
        .expect("fuzz thread");
    let [ok, invalid, unsupported] = handle.join().expect("the fuzz thread did not panic");
    eprintln!(
        "seed {seed:#x}: {} filters: {ok} parsed, {invalid} refused (400), {unsupported} unsupported (501)",
        cases + 2
    );
    // The generator reaches every outcome, so a parser that refused everything would fail here.
    let cases = cases + 2;
    assert!(ok * 10 >= cases, "only {ok} of {cases} parsed");
    assert!(invalid * 10 >= cases, "only {invalid} of {cases} refused");
    assert!(
        unsupported * 100 >= cases,
        "only {unsupported} of {cases} unsupported"
    );
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_filters_over_http_answer_200_400_or_501_and_the_server_stays_healthy() {
    let seed = env_number("ODATA_FUZZ_SEED", DEFAULT_SEED) ^ 0x5eed;
    for t in common::databases().await {
        common::load(
            &t.db,
            "default",
            "read_endpoints.ndjson",
            "read_dialogues.ndjson",
        )
        .await;
        let server = Server::start(
            &t.db,
            ServeConfig {
                no_auth: true,
                rate_limit: 1_000_000,
                ..ServeConfig::default()
            },
        )
        .await;
        let mut rng = Rng::new(seed);
        let mut tally = std::collections::BTreeMap::new();
        // A few by hand first: what a database may refuse (NUL, lone surrogates are not
        // possible in Rust strings), the largest numbers, extreme instants.
        let fixed = [
            ("Dialogues", "id eq 'a\u{0}b'"),
            ("Endpoints", "contains(name,'\u{0}')"),
            ("Dialogues", "orderNumber gt 2147483647"),
            ("Dialogues", "queueDurationInSec gt 1e308"),
            ("Dialogues", "startTimestamp ge 9999-12-31T23:59:59Z"),
            ("Dialogues", "startTimestamp ge 0001-01-01T00:00:00+14:00"),
            ("Dialogues", "startDate ge 0001-01-01"),
        ];
        for number in 0..300 + fixed.len() {
            let (set, props): (&str, &[Prop]) = match rng.below(4) {
                0 => ("Endpoints", &ENDPOINT_PROPS),
                1 => ("Dialogues/$count", &DIALOGUE_PROPS),
                _ => ("Dialogues", &DIALOGUE_PROPS),
            };
            let generated = case(&mut rng, props);
            let (set, text) = match fixed.get(number) {
                Some((set, text)) => (*set, text.to_string()),
                None => (set, generated),
            };
            let path = format!("/odata/{set}?$filter={}", encode(&text));
            let response = server
                .client
                .get(server.url(&path))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{}: case {number}: {text:?}: {e}", t.kind));
            let status = response.status();
            let header = response
                .headers()
                .get("OData-Version")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = response.text().await.unwrap();
            let shown: String = text.chars().take(200).collect();
            assert_eq!(header.as_deref(), Some("4.0"), "{}: {shown:?}", t.kind);
            *tally.entry(status.as_u16()).or_insert(0) += 1;
            match status {
                StatusCode::OK => {
                    if set.ends_with("$count") {
                        assert!(body.parse::<u64>().is_ok(), "{}: {shown:?}: {body}", t.kind);
                    } else {
                        let json: Value = serde_json::from_str(&body)
                            .unwrap_or_else(|e| panic!("{}: {shown:?}: {e}: {body}", t.kind));
                        assert!(json["value"].is_array(), "{}: {shown:?}: {body}", t.kind);
                    }
                }
                StatusCode::BAD_REQUEST | StatusCode::NOT_IMPLEMENTED => {
                    let json: Value = serde_json::from_str(&body)
                        .unwrap_or_else(|e| panic!("{}: {shown:?}: {e}: {body}", t.kind));
                    let code = if status == StatusCode::BAD_REQUEST {
                        "BadRequest"
                    } else {
                        "NotImplemented"
                    };
                    assert_eq!(json["error"]["code"], code, "{}: {shown:?}: {body}", t.kind);
                    let message = json["error"]["message"].as_str().unwrap_or("");
                    assert!(
                        message.contains("$filter"),
                        "{}: case {number} {shown:?}: the error does not name the option: {body}",
                        t.kind
                    );
                }
                other => panic!(
                    "{}: seed {seed:#x}, case {number}: {other} for {shown:?}: {body}",
                    t.kind
                ),
            }
        }
        eprintln!(
            "{}: statuses of {} filters ({} by hand, 300 random): {tally:?}",
            t.kind,
            300 + fixed.len(),
            fixed.len()
        );
        assert!(
            tally.contains_key(&200) && tally.contains_key(&400),
            "{tally:?}"
        );
        // Still healthy and still right.
        let health = server
            .client
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let body: Value = server
            .client
            .get(server.url("/odata/Dialogues?$filter=id%20eq%20'd1'&$select=id"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            body["value"],
            serde_json::json!([{ "id": "d1" }]),
            "{}",
            t.kind
        );
    }
}
