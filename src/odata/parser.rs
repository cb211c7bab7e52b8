//! OData 4.0 URL syntax (`$filter`, `$orderby`, `$select`, `$expand`, entity keys) parsed into the
//! query core's own values: a `$filter` becomes the same [`Filter`] tree a GraphQL filter
//! becomes, so both mean the same rows by the one translation to SQL in `query::filter`.
//!
//! A small recursive-descent parser over a token list, written here: `cargo search odata` could
//! not reach the registry's search from this build machine and the local package lists name no
//! Rust OData parser, so a crate that fits was not found (worth another look later). Hostile input is bounded before and during parsing: an option longer than
//! [`MAX_OPTION_LEN`] bytes is refused unread, nesting deeper than [`MAX_DEPTH`] is refused with
//! its position (the recursion depth is bounded by it, never by the input), and the query core
//! bounds the number of conditions. Every error names the option and a 1-based character
//! position in it.
use chrono::{DateTime, NaiveDate};
use entity::{Direction, EndpointRole, Outcome};

use insights_core::query::{DialogueField, Filter, Kind, Op, Operand, Slot, DIALOGUE_FIELDS};

/// Longest value of one query option, in bytes.
pub const MAX_OPTION_LEN: usize = 16_384;
/// Deepest nesting of parentheses and `not` in a `$filter`.
pub const MAX_DEPTH: usize = 32;

/// Why an option cannot be answered: it is malformed (400) or asks for something this service
/// does not implement (501). The message names the option and, for syntax, the position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Invalid(String),
    Unsupported(String),
}

impl ParseError {
    pub fn message(&self) -> &str {
        match self {
            ParseError::Invalid(m) | ParseError::Unsupported(m) => m,
        }
    }
}

/// The EDM type of a property, as `$metadata` declares it and `$filter` reads literals for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    /// `Edm.String`: an identifier or a name.
    Text,
    /// `Edm.Date`.
    Date,
    /// `Edm.DateTimeOffset`.
    Instant,
    /// `Edm.Double`.
    Double,
    /// `Edm.Int32`.
    Int,
    /// `Edm.Int32`: 1 Inbound, 2 Outbound.
    Direction,
    /// `Edm.String`: `Accepted`, `Abandoned`, `IvrDrop`.
    Outcome,
    /// `Edm.String`: `True`, `False` (or null).
    TriBool,
    /// `Edm.String`: `Ivr`, `Queue`, `Customer`, `Agent`.
    Role,
}

impl PropType {
    pub fn edm(self) -> &'static str {
        match self {
            PropType::Text | PropType::Outcome | PropType::TriBool | PropType::Role => "Edm.String",
            PropType::Date => "Edm.Date",
            PropType::Instant => "Edm.DateTimeOffset",
            PropType::Double => "Edm.Double",
            PropType::Int | PropType::Direction => "Edm.Int32",
        }
    }
}

/// A structural property of an entity type, in the vendor's spelling.
#[derive(Debug, Clone, Copy)]
pub struct Prop {
    pub name: &'static str,
    pub ty: PropType,
    pub nullable: bool,
    /// Names (not ids) take `startswith`, `endswith` and `contains`.
    pub searchable: bool,
}

const fn prop(name: &'static str, ty: PropType, nullable: bool) -> Prop {
    Prop {
        name,
        ty,
        nullable,
        searchable: false,
    }
}

impl PropType {
    /// The EDM type of a field of the query core's `kind` (the vendor's booleans are
    /// `'True'`/`'False'` strings).
    pub const fn of(kind: Kind) -> PropType {
        match kind {
            Kind::Id | Kind::Name => PropType::Text,
            Kind::Int => PropType::Int,
            Kind::Float => PropType::Double,
            Kind::Bool => PropType::TriBool,
            Kind::Date => PropType::Date,
            Kind::Instant => PropType::Instant,
            Kind::Direction => PropType::Direction,
            Kind::Outcome => PropType::Outcome,
            Kind::Role => PropType::Role,
        }
    }
}

/// The Dialogue's properties: the query core's catalogue of dialogue fields (`query::fields`),
/// in its order, so index for index with `DialogueField::ALL`.
pub const DIALOGUE_PROPS: [Prop; DialogueField::ALL.len()] = {
    let mut props = [prop("", PropType::Text, false); DialogueField::ALL.len()];
    let mut i = 0;
    while i < props.len() {
        let def = &DIALOGUE_FIELDS[i];
        props[i] = Prop {
            name: def.odata,
            ty: PropType::of(def.kind),
            nullable: def.nullable,
            searchable: matches!(def.kind, Kind::Name),
        };
        i += 1;
    }
    props
};

/// The Endpoint's properties.
pub const ENDPOINT_PROPS: [Prop; 5] = [
    prop("id", PropType::Text, false),
    Prop {
        name: "name",
        ty: PropType::Text,
        nullable: true,
        searchable: true,
    },
    prop("Role", PropType::Role, false),
    prop("slaThresholdInSec", PropType::Double, true),
    prop("quickDropThresholdInSec", PropType::Double, true),
];

/// The navigation properties from Dialogue to Endpoint.
pub const NAVIGATION: [(&str, Slot); 4] = [
    ("ivr", Slot::Ivr),
    ("queue", Slot::Queue),
    ("customer", Slot::Customer),
    ("agent", Slot::Agent),
];

/// The index of the property named `name` (case-insensitive, as the vendor matches them).
pub fn find_prop(props: &[Prop], name: &str) -> Option<usize> {
    props.iter().position(|p| p.name.eq_ignore_ascii_case(name))
}

/// OData's canonical functions this service does not implement (501 rather than 400).
const KNOWN_FUNCTIONS: &[&str] = &[
    "length",
    "indexof",
    "substring",
    "tolower",
    "toupper",
    "trim",
    "concat",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "fractionalseconds",
    "date",
    "time",
    "totaloffsetminutes",
    "now",
    "mindatetime",
    "maxdatetime",
    "round",
    "floor",
    "ceiling",
    "cast",
    "isof",
    "matchespattern",
    "any",
    "all",
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Number(String),
    Date(NaiveDate),
    DateTime(i64),
    Open,
    Close,
    Comma,
    Slash,
    Star,
    Eq,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(_) => "a string".into(),
            Tok::Number(n) => format!("the number {n}"),
            Tok::Date(_) => "a date".into(),
            Tok::DateTime(_) => "a date-time".into(),
            Tok::Open => "`(`".into(),
            Tok::Close => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Slash => "`/`".into(),
            Tok::Star => "`*`".into(),
            Tok::Eq => "`=`".into(),
            Tok::End => "the end".into(),
        }
    }
}

/// A token and its 1-based character position.
type Spanned = (Tok, usize);

struct Lexer<'a> {
    option: &'a str,
    chars: Vec<char>,
    at: usize,
}

impl<'a> Lexer<'a> {
    fn error(&self, at: usize, message: impl std::fmt::Display) -> ParseError {
        ParseError::Invalid(format!(
            "`{}` at position {}: {message}",
            self.option,
            at + 1
        ))
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn tokens(mut self) -> Result<Vec<Spanned>, ParseError> {
        let mut out = Vec::new();
        loop {
            while self.peek(0).is_some_and(char::is_whitespace) {
                self.at += 1;
            }
            let start = self.at;
            let Some(c) = self.peek(0) else {
                out.push((Tok::End, start + 1));
                return Ok(out);
            };
            let tok = match c {
                '(' => {
                    self.at += 1;
                    Tok::Open
                }
                ')' => {
                    self.at += 1;
                    Tok::Close
                }
                ',' => {
                    self.at += 1;
                    Tok::Comma
                }
                '/' => {
                    self.at += 1;
                    Tok::Slash
                }
                '*' => {
                    self.at += 1;
                    Tok::Star
                }
                '=' => {
                    self.at += 1;
                    Tok::Eq
                }
                '\'' => self.string()?,
                c if c.is_ascii_digit()
                    || (c == '-' && self.peek(1).is_some_and(|d| d.is_ascii_digit())) =>
                {
                    self.number_or_date()?
                }
                c if c.is_alphabetic() || c == '_' || c == '$' || c == '@' => {
                    while self.peek(0).is_some_and(|c| {
                        c.is_alphanumeric() || c == '_' || c == '$' || c == '@' || c == '.'
                    }) {
                        self.at += 1;
                    }
                    Tok::Ident(self.chars[start..self.at].iter().collect())
                }
                other => return Err(self.error(start, format!("unexpected character `{other}`"))),
            };
            out.push((tok, start + 1));
        }
    }

    /// `'...'` with `''` standing for one quote.
    fn string(&mut self) -> Result<Tok, ParseError> {
        let start = self.at;
        self.at += 1;
        let mut text = String::new();
        loop {
            match self.peek(0) {
                None => {
                    return Err(self.error(start, "the string is not closed (a `'` is missing)"))
                }
                Some('\'') if self.peek(1) == Some('\'') => {
                    text.push('\'');
                    self.at += 2;
                }
                Some('\'') => {
                    self.at += 1;
                    return Ok(Tok::Str(text));
                }
                // No stored value holds it (PostgreSQL refuses it in text): refused here with its
                // position, the same on every database.
                Some('\0') => {
                    return Err(self.error(self.at, "a string cannot hold the character NUL (%00)"))
                }
                Some(c) => {
                    text.push(c);
                    self.at += 1;
                }
            }
        }
    }

    fn number_or_date(&mut self) -> Result<Tok, ParseError> {
        let start = self.at;
        let digits = |l: &Self, from: usize, n: usize| {
            (from..from + n).all(|i| l.chars.get(i).is_some_and(|c| c.is_ascii_digit()))
        };
        if digits(self, start, 4) && self.chars.get(start + 4) == Some(&'-') {
            return self.date_or_time();
        }
        if self.peek(0) == Some('-') {
            self.at += 1;
        }
        while self
            .peek(0)
            .is_some_and(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E')
            || (matches!(self.peek(0), Some('+') | Some('-'))
                && matches!(self.chars.get(self.at - 1), Some('e') | Some('E')))
        {
            self.at += 1;
        }
        let text: String = self.chars[start..self.at].iter().collect();
        if text.parse::<f64>().map_or(true, |f| !f.is_finite()) {
            return Err(self.error(start, format!("`{text}` is not a number")));
        }
        Ok(Tok::Number(text))
    }

    /// `2026-03-02` or `2026-03-02T10:00:00.123+01:00` (`Z` or any offset; a space where the
    /// `+` was, as form-encoding turns an unescaped `+` into one).
    fn date_or_time(&mut self) -> Result<Tok, ParseError> {
        let start = self.at;
        let mut end = start;
        while self
            .chars
            .get(end)
            .is_some_and(|c| c.is_ascii_digit() || *c == '-')
        {
            end += 1;
        }
        let date: String = self.chars[start..end].iter().collect();
        if !matches!(self.chars.get(end), Some('T') | Some('t')) {
            self.at = end;
            return NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                .map(Tok::Date)
                .map_err(|_| self.error(start, format!("`{date}` is not a date (YYYY-MM-DD)")));
        }
        end += 1;
        let time_start = end;
        while self
            .chars
            .get(end)
            .is_some_and(|c| c.is_ascii_digit() || *c == ':' || *c == '.')
        {
            end += 1;
        }
        let mut time: String = self.chars[time_start..end].iter().collect();
        if time.matches(':').count() == 1 {
            time.push_str(":00");
        }
        let offset: String = match self.chars.get(end) {
            Some('Z') | Some('z') => {
                end += 1;
                "Z".into()
            }
            Some(sign @ ('+' | '-' | ' ')) => {
                let digits: String = self.chars[end + 1..(end + 6).min(self.chars.len())]
                    .iter()
                    .collect();
                let well_formed = digits.len() == 5
                    && digits.as_bytes()[2] == b':'
                    && digits
                        .chars()
                        .enumerate()
                        .all(|(i, c)| i == 2 || c.is_ascii_digit());
                if well_formed {
                    end += 6;
                    format!("{}{digits}", if *sign == '-' { '-' } else { '+' })
                } else if *sign == ' ' {
                    return Err(self.error(start, "a date-time needs an offset (`Z` or `+01:00`)"));
                } else {
                    return Err(self.error(end, "the offset is not `+hh:mm` or `-hh:mm`"));
                }
            }
            _ => return Err(self.error(start, "a date-time needs an offset (`Z` or `+01:00`)")),
        };
        self.at = end;
        let text = format!("{date}T{time}{offset}");
        DateTime::parse_from_rfc3339(&text)
            .map(|t| Tok::DateTime(t.timestamp_millis()))
            .map_err(|_| self.error(start, format!("`{text}` is not a date-time")))
    }
}

fn lex(option: &str, text: &str) -> Result<Vec<Spanned>, ParseError> {
    if text.len() > MAX_OPTION_LEN {
        return Err(ParseError::Invalid(format!(
            "`{option}` is {} bytes long; at most {MAX_OPTION_LEN} are accepted",
            text.len()
        )));
    }
    Lexer {
        option,
        chars: text.chars().collect(),
        at: 0,
    }
    .tokens()
}

struct Parser<'a, F> {
    option: &'static str,
    toks: Vec<Spanned>,
    at: usize,
    props: &'a [Prop],
    fields: &'a [Option<F>],
    depth: usize,
}

impl<F: Copy> Parser<'_, F> {
    fn peek(&self) -> &Tok {
        &self.toks[self.at.min(self.toks.len() - 1)].0
    }

    fn position(&self) -> usize {
        self.toks[self.at.min(self.toks.len() - 1)].1
    }

    fn next(&mut self) -> Spanned {
        let t = self.toks[self.at.min(self.toks.len() - 1)].clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn invalid_at(&self, position: usize, message: impl std::fmt::Display) -> ParseError {
        ParseError::Invalid(format!(
            "`{}` at position {position}: {message}",
            self.option
        ))
    }

    fn unsupported_at(&self, position: usize, message: impl std::fmt::Display) -> ParseError {
        ParseError::Unsupported(format!(
            "`{}` at position {position}: {message} is not supported",
            self.option
        ))
    }

    fn expected(&self, what: &str) -> ParseError {
        self.invalid_at(
            self.position(),
            format!("expected {what}, found {}", self.peek().describe()),
        )
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == word)
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        let found = self.keyword(word);
        if found {
            self.next();
        }
        found
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), ParseError> {
        if *self.peek() == tok {
            self.next();
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn deeper(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.invalid_at(
                self.position(),
                format!("the filter nests more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    // boolOr := boolAnd ("or" boolAnd)*
    fn or_expr(&mut self) -> Result<Filter<F>, ParseError> {
        let mut items = vec![self.and_expr()?];
        while self.eat_keyword("or") {
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Filter::Any(items)
        })
    }

    // boolAnd := unary ("and" unary)*
    fn and_expr(&mut self) -> Result<Filter<F>, ParseError> {
        let mut items = vec![self.unary()?];
        while self.eat_keyword("and") {
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Filter::All(items)
        })
    }

    // unary := "not" unary | comparison
    fn unary(&mut self) -> Result<Filter<F>, ParseError> {
        if self.eat_keyword("not") {
            self.deeper()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.comparison()
    }

    // comparison := "(" boolOr ")" | function [("eq"|"ne") bool] | property op literal
    //              | property "in" "(" literal ("," literal)* ")"
    fn comparison(&mut self) -> Result<Filter<F>, ParseError> {
        let position = self.position();
        match self.next().0 {
            Tok::Open => {
                self.deeper()?;
                let inner = self.or_expr()?;
                self.expect(Tok::Close, "`)`")?;
                self.depth -= 1;
                self.boolean_comparison(inner)
            }
            Tok::Ident(name) if *self.peek() == Tok::Open => {
                let call = self.function(&name, position)?;
                self.boolean_comparison(call)
            }
            Tok::Ident(name) => {
                let (index, field) = self.property(&name, position)?;
                self.predicate(index, field)
            }
            other => Err(self.invalid_at(
                position,
                format!(
                    "expected a property, a function or `(`, found {}",
                    other.describe()
                ),
            )),
        }
    }

    /// `<boolean> eq true`, `<boolean> ne false`, ...: the boolean itself or its complement.
    fn boolean_comparison(&mut self, value: Filter<F>) -> Result<Filter<F>, ParseError> {
        let negate = if self.eat_keyword("eq") {
            false
        } else if self.eat_keyword("ne") {
            true
        } else {
            return Ok(value);
        };
        let position = self.position();
        let wanted = match self.next().0 {
            Tok::Ident(b) if b == "true" => true,
            Tok::Ident(b) if b == "false" => false,
            other => {
                return Err(self.invalid_at(
                    position,
                    format!("expected true or false, found {}", other.describe()),
                ))
            }
        };
        Ok(if wanted != negate {
            value
        } else {
            Filter::Not(Box::new(value))
        })
    }

    fn property(&mut self, name: &str, position: usize) -> Result<(usize, F), ParseError> {
        let Some(index) = find_prop(self.props, name) else {
            if ["true", "false", "null"].contains(&name) {
                return Err(self.invalid_at(
                    position,
                    format!("expected a property on the left of a comparison, found `{name}`"),
                ));
            }
            if NAVIGATION.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                return Err(self.unsupported_at(position, format!("filtering on `{name}`")));
            }
            return Err(self.invalid_at(position, format!("there is no property `{name}`")));
        };
        if *self.peek() == Tok::Slash {
            return Err(self.unsupported_at(position, "a property path"));
        }
        match self.fields[index] {
            Some(field) => Ok((index, field)),
            None => Err(self.unsupported_at(
                position,
                format!("filtering on `{}`", self.props[index].name),
            )),
        }
    }

    fn predicate(&mut self, index: usize, field: F) -> Result<Filter<F>, ParseError> {
        let position = self.position();
        let op = match self.next().0 {
            Tok::Ident(op) => op,
            other => {
                return Err(self.invalid_at(
                    position,
                    format!(
                        "expected an operator (eq, ne, gt, ge, lt, le, in), found {}",
                        other.describe()
                    ),
                ))
            }
        };
        let prop = self.props[index];
        if op == "in" {
            self.expect(Tok::Open, "`(` opening the list of `in`")?;
            let mut values = Vec::new();
            loop {
                let position = self.position();
                let literal = self.next().0;
                if literal == Tok::Ident("null".into()) {
                    return Err(
                        self.invalid_at(position, "null cannot be in an `in` list: use `eq null`")
                    );
                }
                values.push(self.operand(prop, literal, position)?);
                if *self.peek() == Tok::Comma {
                    self.next();
                    continue;
                }
                self.expect(Tok::Close, "`,` or `)` in the list of `in`")?;
                break;
            }
            return Ok(Filter::Is(field, Op::In(values)));
        }
        let ordered = matches!(op.as_str(), "gt" | "ge" | "lt" | "le");
        if !ordered && op != "eq" && op != "ne" {
            if matches!(
                op.as_str(),
                "has" | "add" | "sub" | "mul" | "div" | "divby" | "mod"
            ) {
                return Err(self.unsupported_at(position, format!("the operator `{op}`")));
            }
            return Err(self.invalid_at(
                position,
                format!("expected an operator (eq, ne, gt, ge, lt, le, in), found `{op}`"),
            ));
        }
        if ordered
            && matches!(
                prop.ty,
                PropType::Outcome | PropType::TriBool | PropType::Role
            )
        {
            return Err(self.invalid_at(
                position,
                format!("`{}` is compared with eq, ne and in only", prop.name),
            ));
        }
        let value_position = self.position();
        let literal = self.next().0;
        let operand = self.operand(prop, literal, value_position)?;
        if operand == Operand::Null && ordered {
            return Err(self.invalid_at(value_position, "null is compared with eq and ne only"));
        }
        Ok(Filter::Is(
            field,
            match op.as_str() {
                "eq" => Op::Eq(operand),
                "ne" => Op::Ne(operand),
                "gt" => Op::Gt(operand),
                "ge" => Op::Gte(operand),
                "lt" => Op::Lt(operand),
                _ => Op::Lte(operand),
            },
        ))
    }

    /// The literal as the core's operand for a property of `prop`'s type.
    fn operand(&self, prop: Prop, literal: Tok, position: usize) -> Result<Operand, ParseError> {
        if literal == Tok::Ident("null".into()) {
            return Ok(Operand::Null);
        }
        let operand = match (prop.ty, &literal) {
            (PropType::Text, Tok::Str(s)) => Some(Operand::Text(s.clone())),
            (PropType::Date, Tok::Date(d)) => Some(Operand::Date(*d)),
            (PropType::Instant, Tok::DateTime(ms)) => Some(Operand::Instant(*ms)),
            (PropType::Double, Tok::Number(n)) => n.parse::<f64>().ok().map(Operand::Float),
            (PropType::Int, Tok::Number(n)) => {
                n.parse::<i32>().ok().map(|i| Operand::Int(i64::from(i)))
            }
            (PropType::Direction, Tok::Number(n)) => n
                .parse::<i64>()
                .ok()
                .and_then(Direction::from_code)
                .map(Operand::Direction),
            (PropType::Direction, Tok::Str(s)) => Direction::parse(s).map(Operand::Direction),
            (PropType::Outcome, Tok::Str(s)) => Outcome::parse(s).map(Operand::Outcome),
            (PropType::TriBool, Tok::Str(s)) => match s.to_ascii_lowercase().as_str() {
                "true" => Some(Operand::Bool(true)),
                "false" => Some(Operand::Bool(false)),
                _ => None,
            },
            (PropType::TriBool, Tok::Ident(b)) if b == "true" || b == "false" => {
                Some(Operand::Bool(b == "true"))
            }
            (PropType::Role, Tok::Str(s)) => EndpointRole::parse(s).map(Operand::Role),
            _ => None,
        };
        operand.ok_or_else(|| {
            let wanted = match prop.ty {
                PropType::Text => "a string in single quotes",
                PropType::Date => "a date (2026-03-02)",
                PropType::Instant => "a date-time with an offset (2026-03-02T10:00:00+01:00)",
                PropType::Double => "a number",
                PropType::Int => "an integer",
                PropType::Direction => "1 (Inbound) or 2 (Outbound)",
                PropType::Outcome => "'Accepted', 'Abandoned' or 'IvrDrop'",
                PropType::TriBool => "'True' or 'False'",
                PropType::Role => "'Ivr', 'Queue', 'Customer' or 'Agent'",
            };
            self.invalid_at(
                position,
                format!(
                    "`{}` is compared with {wanted}, not with {}",
                    prop.name,
                    literal.describe()
                ),
            )
        })
    }

    /// `startswith(name,'L')`, `endswith(...)`, `contains(...)`.
    fn function(&mut self, name: &str, position: usize) -> Result<Filter<F>, ParseError> {
        let lower = name.to_ascii_lowercase();
        if !matches!(lower.as_str(), "startswith" | "endswith" | "contains") {
            if KNOWN_FUNCTIONS.contains(&lower.as_str()) {
                return Err(self.unsupported_at(position, format!("the function `{name}`")));
            }
            return Err(self.invalid_at(position, format!("there is no function `{name}`")));
        }
        self.expect(Tok::Open, "`(`")?;
        let prop_position = self.position();
        let (index, field) = match self.next().0 {
            Tok::Ident(p) => self.property(&p, prop_position)?,
            other => {
                return Err(self.invalid_at(
                    prop_position,
                    format!(
                        "`{name}` takes a property first, found {}",
                        other.describe()
                    ),
                ))
            }
        };
        let prop = self.props[index];
        if !prop.searchable {
            return Err(self.unsupported_at(
                prop_position,
                format!("`{name}` on `{}` (only on names)", prop.name),
            ));
        }
        self.expect(Tok::Comma, "`,`")?;
        let text_position = self.position();
        let text = match self.next().0 {
            Tok::Str(s) => s,
            other => {
                return Err(self.invalid_at(
                    text_position,
                    format!("`{name}` takes a string second, found {}", other.describe()),
                ))
            }
        };
        self.expect(Tok::Close, "`)`")?;
        Ok(Filter::Is(
            field,
            match lower.as_str() {
                "startswith" => Op::StartsWith(text),
                "endswith" => Op::EndsWith(text),
                _ => Op::Contains(text),
            },
        ))
    }
}

/// A `$filter` on an entity set whose properties are `props`, each filterable one mapped to the
/// core's field in `fields` (index for index; `None` for properties the core does not filter).
pub fn parse_filter<F: Copy>(
    text: &str,
    props: &[Prop],
    fields: &[Option<F>],
) -> Result<Filter<F>, ParseError> {
    let toks = lex("$filter", text)?;
    let mut parser = Parser {
        option: "$filter",
        toks,
        at: 0,
        props,
        fields,
        depth: 0,
    };
    if *parser.peek() == Tok::End {
        return Err(parser.expected("a condition"));
    }
    let filter = parser.or_expr()?;
    if *parser.peek() != Tok::End {
        return Err(parser.expected("`and`, `or` or the end"));
    }
    Ok(filter)
}

/// A comma-separated list of property names in one of the options `$orderby`, `$select`,
/// `$expand`, with what follows each name (for `$orderby`: `asc`/`desc`).
fn names(
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

#[cfg(test)]
mod tests {
    use super::*;
    use insights_core::query::DialogueField as D;

    fn dialogue(text: &str) -> Result<Filter<D>, ParseError> {
        let fields: Vec<Option<D>> = D::ALL.iter().copied().map(Some).collect();
        parse_filter(text, &DIALOGUE_PROPS, &fields)
    }

    fn is(field: D, op: Op) -> Filter<D> {
        Filter::Is(field, op)
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let a = is(D::OrderNumber, Op::Eq(Operand::Int(1)));
        let b = is(D::OrderNumber, Op::Eq(Operand::Int(2)));
        let c = is(D::OrderNumber, Op::Eq(Operand::Int(3)));
        assert_eq!(
            dialogue("not orderNumber eq 1 and orderNumber eq 2 or orderNumber eq 3").unwrap(),
            Filter::Any(vec![
                Filter::All(vec![Filter::Not(Box::new(a.clone())), b.clone()]),
                c.clone()
            ])
        );
        assert_eq!(
            dialogue("not (orderNumber eq 1 or orderNumber eq 2) and orderNumber eq 3").unwrap(),
            Filter::All(vec![Filter::Not(Box::new(Filter::Any(vec![a, b]))), c])
        );
    }

    #[test]
    fn literals_and_case_insensitive_names() {
        assert_eq!(
            dialogue("QUEUEID eq 'it''s'").unwrap(),
            is(D::QueueId, Op::Eq(Operand::Text("it's".into())))
        );
        assert_eq!(
            dialogue("starttimestamp ge 2026-03-02T10:00:00+01:00").unwrap(),
            is(
                D::StartTimestamp,
                Op::Gte(Operand::Instant(1_772_442_000_000))
            )
        );
        // A `+` form-decoded into a space is still an offset.
        assert_eq!(
            dialogue("startTimestamp ge 2026-03-02T10:00:00 01:00").unwrap(),
            dialogue("startTimestamp ge 2026-03-02T09:00:00Z").unwrap()
        );
        assert_eq!(
            dialogue("outcome in ('Accepted','IvrDrop') and InSLA eq 'True' and direction eq 2 and agentId eq null").unwrap(),
            Filter::All(vec![
                is(D::Outcome, Op::In(vec![Operand::Outcome(Outcome::Accepted), Operand::Outcome(Outcome::IvrDrop)])),
                is(D::InSla, Op::Eq(Operand::Bool(true))),
                is(D::Direction, Op::Eq(Operand::Direction(Direction::Outbound))),
                is(D::AgentId, Op::Eq(Operand::Null)),
            ])
        );
    }

    #[test]
    fn errors_name_the_option_and_position() {
        let e = dialogue("orderNumber eq 1 and (queueId eq 'x'").unwrap_err();
        assert_eq!(
            e,
            ParseError::Invalid("`$filter` at position 37: expected `)`, found the end".into())
        );
        let e = dialogue("orderNumber eq 'x'").unwrap_err();
        assert!(
            e.message().starts_with("`$filter` at position 16:"),
            "{e:?}"
        );
        assert!(matches!(
            dialogue("tolower(id) eq 'x'"),
            Err(ParseError::Unsupported(_))
        ));
        assert!(matches!(
            dialogue("nosuch(id)"),
            Err(ParseError::Invalid(_))
        ));
    }

    #[test]
    fn a_nul_in_a_string_is_refused_with_its_position() {
        assert_eq!(
            dialogue("id eq 'a\u{0}b'").unwrap_err(),
            ParseError::Invalid(
                "`$filter` at position 9: a string cannot hold the character NUL (%00)".into()
            )
        );
    }

    #[test]
    fn hostile_nesting_is_refused_not_overflowed() {
        let deep = format!("{}orderNumber eq 1{}", "(".repeat(5_000), ")".repeat(5_000));
        assert!(matches!(dialogue(&deep), Err(ParseError::Invalid(_))));
        let nots = format!("{}orderNumber eq 1", "not ".repeat(3_000));
        assert!(matches!(dialogue(&nots), Err(ParseError::Invalid(_))));
        let deep = format!("{}orderNumber eq 1{}", "(".repeat(20), ")".repeat(20));
        assert!(dialogue(&deep).is_ok());
    }

    #[test]
    fn the_dialogue_properties_are_the_cores_fields_index_for_index() {
        assert_eq!(DIALOGUE_PROPS.len(), D::ALL.len());
        for (prop, field) in DIALOGUE_PROPS.iter().zip(D::ALL) {
            assert_eq!(prop.name, field.odata_name());
            assert_eq!(
                find_prop(&DIALOGUE_PROPS, prop.name).map(|i| D::ALL[i]),
                Some(field)
            );
        }
        // The vendor's spellings and types, as before the catalogue.
        let names: Vec<&str> = DIALOGUE_PROPS.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "id",
                "startDate",
                "startTimestamp",
                "queueEnterTimestamp",
                "acceptTimestamp",
                "endTimestamp",
                "ivrDurationInSec",
                "queueDurationInSec",
                "initialTalkDurationInSec",
                "sessionDurationInSec",
                "ivrId",
                "queueId",
                "customerId",
                "agentId",
                "direction",
                "Outcome",
                "InSLA",
                "QuickDrop",
                "orderNumber"
            ]
        );
        let nullable: Vec<&str> = DIALOGUE_PROPS
            .iter()
            .filter(|p| p.nullable)
            .map(|p| p.name)
            .collect();
        assert_eq!(
            nullable,
            [
                "queueEnterTimestamp",
                "acceptTimestamp",
                "endTimestamp",
                "ivrDurationInSec",
                "queueDurationInSec",
                "initialTalkDurationInSec",
                "sessionDurationInSec",
                "ivrId",
                "queueId",
                "customerId",
                "agentId",
                "InSLA",
                "QuickDrop"
            ]
        );
        assert!(DIALOGUE_PROPS.iter().all(|p| !p.searchable));
        assert_eq!(DIALOGUE_PROPS[14].ty, PropType::Direction);
        assert_eq!(DIALOGUE_PROPS[16].ty, PropType::TriBool);
        assert_eq!(DIALOGUE_PROPS[18].ty, PropType::Int);
    }

    #[test]
    fn keys_orders_selects_and_expands() {
        assert_eq!(parse_key("'a''b'").unwrap(), "a'b");
        assert_eq!(parse_key("id='d1'").unwrap(), "d1");
        assert!(parse_key("1").is_err());
        assert_eq!(
            parse_orderby("StartTimestamp desc, id", &DIALOGUE_PROPS).unwrap(),
            vec![(2, true, 1), (0, false, 22)]
        );
        assert!(parse_orderby("id sideways", &DIALOGUE_PROPS).is_err());
        assert_eq!(
            parse_select("Outcome,ID", &DIALOGUE_PROPS).unwrap(),
            vec![0, 15]
        );
        assert_eq!(
            parse_expand("Queue,agent").unwrap(),
            vec![Slot::Queue, Slot::Agent]
        );
        assert!(matches!(
            parse_expand("queue($select=name)"),
            Err(ParseError::Unsupported(_))
        ));
    }
}
