//! The other system query options: `$orderby`, `$select`, `$expand`, `$top`/`$skip`, keys.
use super::*;

/// A comma-separated list of property names in one of the options `$orderby`, `$select`,
/// `$expand`, with what follows each name (for `$orderby`: `asc`/`desc`).
pub(super) fn names(
    option: &'static str,
    text: &str,
) -> Result<Vec<(String, Vec<String>, usize)>, ParseError> {
    let toks = lex(option, text)?;
    let mut parser: Parser<'_, ()> = Parser {
        option,
        toks,
        at: 0,
        props: &[],
        fields: &[],
        depth: 0,
    };
    let mut out = Vec::new();
    loop {
        let position = parser.position();
        let name = match parser.next().0 {
            Tok::Ident(n) => n,
            Tok::Star => "*".into(),
            other => {
                return Err(parser.invalid_at(
                    position,
                    format!("expected a property name, found {}", other.describe()),
                ))
            }
        };
        let mut words = Vec::new();
        while let Tok::Ident(word) = parser.peek().clone() {
            parser.next();
            words.push(word);
        }
        match parser.peek() {
            Tok::Slash => return Err(parser.unsupported_at(parser.position(), "a property path")),
            Tok::Open => {
                return Err(parser.unsupported_at(parser.position(), "an option in parentheses"))
            }
            _ => {}
        }
        out.push((name, words, position));
        match parser.next().0 {
            Tok::Comma => continue,
            Tok::End => return Ok(out),
            other => {
                return Err(parser.invalid_at(
                    parser.toks[parser.at.saturating_sub(1)].1,
                    format!("expected `,` or the end, found {}", other.describe()),
                ))
            }
        }
    }
}

/// `$orderby`: keys as (index of the property, descending), each property at most once.
pub fn parse_orderby(text: &str, props: &[Prop]) -> Result<Vec<(usize, bool, usize)>, ParseError> {
    let mut keys: Vec<(usize, bool, usize)> = Vec::new();
    for (name, words, position) in names("$orderby", text)? {
        let at = |m: String| ParseError::Invalid(format!("`$orderby` at position {position}: {m}"));
        let index =
            find_prop(props, &name).ok_or_else(|| at(format!("there is no property `{name}`")))?;
        let descending = match words.as_slice() {
            [] => false,
            [w] if w.eq_ignore_ascii_case("asc") => false,
            [w] if w.eq_ignore_ascii_case("desc") => true,
            _ => {
                return Err(at(format!(
                    "expected asc or desc after `{name}`, found `{}`",
                    words.join(" ")
                )))
            }
        };
        if keys.iter().any(|(i, _, _)| *i == index) {
            return Err(at(format!("`{}` is named twice", props[index].name)));
        }
        keys.push((index, descending, position));
    }
    Ok(keys)
}

/// `$select`: the properties' indexes (all for `*`).
pub fn parse_select(text: &str, props: &[Prop]) -> Result<Vec<usize>, ParseError> {
    let mut out = Vec::new();
    for (name, words, position) in names("$select", text)? {
        if !words.is_empty() {
            return Err(ParseError::Invalid(format!(
                "`$select` at position {position}: expected `,` after `{name}`"
            )));
        }
        if name == "*" {
            return Ok((0..props.len()).collect());
        }
        let index = find_prop(props, &name).ok_or_else(|| {
            ParseError::Invalid(format!(
                "`$select` at position {position}: there is no property `{name}`"
            ))
        })?;
        if !out.contains(&index) {
            out.push(index);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// `$expand`: the navigation properties (all four for `*`).
pub fn parse_expand(text: &str) -> Result<Vec<Slot>, ParseError> {
    let mut out = Vec::new();
    for (name, words, position) in names("$expand", text)? {
        if !words.is_empty() {
            return Err(ParseError::Invalid(format!(
                "`$expand` at position {position}: expected `,` after `{name}`"
            )));
        }
        if name == "*" {
            return Ok(Slot::ALL.to_vec());
        }
        let slot = NAVIGATION
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                ParseError::Invalid(format!(
                    "`$expand` at position {position}: there is no navigation property `{name}` (ivr, queue, customer, agent)"
                ))
            })?;
        if !out.contains(&slot) {
            out.push(slot);
        }
    }
    Ok(out)
}

/// `$top`, `$skip`: a non-negative integer.
pub fn parse_count_option(option: &'static str, text: &str) -> Result<u64, ParseError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.len() > 18 || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Invalid(format!(
            "`{option}` at position 1: expected a non-negative integer, found `{}`",
            text.chars().take(40).collect::<String>()
        )));
    }
    Ok(trimmed.parse().expect("digits"))
}

/// An entity key in a path segment, `('d1')` or `(id='d1')`, without its parentheses' outside.
pub fn parse_key(text: &str) -> Result<String, ParseError> {
    let toks = lex("key", text)?;
    let mut parser: Parser<'_, ()> = Parser {
        option: "key",
        toks,
        at: 0,
        props: &[],
        fields: &[],
        depth: 0,
    };
    if let Tok::Ident(name) = parser.peek().clone() {
        if !name.eq_ignore_ascii_case("id") {
            return Err(
                parser.invalid_at(parser.position(), format!("the key is `id`, not `{name}`"))
            );
        }
        parser.next();
        parser.expect(Tok::Eq, "`=`")?;
    }
    let key = match parser.next().0 {
        Tok::Str(s) => s,
        _ => return Err(parser.invalid_at(1, "the key is a string in single quotes: ('id')")),
    };
    if *parser.peek() != Tok::End {
        return Err(parser.expected("`)`"));
    }
    Ok(key)
}

/// The key of a `QueueInterval` in a path segment, without its parentheses:
/// `intervalStart=2026-03-02T10:00:00Z,queueId='q-1'` (either order, names in any case).
pub fn parse_interval_key(text: &str) -> Result<(i64, String), ParseError> {
    let toks = lex("key", text)?;
    let mut parser: Parser<'_, ()> = Parser {
        option: "key",
        toks,
        at: 0,
        props: &[],
        fields: &[],
        depth: 0,
    };
    let shape = "the key is (intervalStart=<date-time with offset>,queueId='<id>')";
    let (mut start, mut queue) = (None, None);
    loop {
        let position = parser.position();
        let name = match parser.next().0 {
            Tok::Ident(name) => name,
            _ => return Err(parser.invalid_at(position, shape)),
        };
        parser.expect(Tok::Eq, "`=`")?;
        let value_position = parser.position();
        match (name.to_ascii_lowercase().as_str(), parser.next().0) {
            ("intervalstart", Tok::DateTime(ms)) if start.is_none() => start = Some(ms),
            ("queueid", Tok::Str(id)) if queue.is_none() => queue = Some(id),
            _ => return Err(parser.invalid_at(value_position, shape)),
        }
        match parser.next().0 {
            Tok::Comma => continue,
            Tok::End => break,
            _ => return Err(parser.expected("`,` or `)`")),
        }
    }
    start
        .zip(queue)
        .ok_or_else(|| ParseError::Invalid(format!("`key` at position 1: {shape}")))
}
