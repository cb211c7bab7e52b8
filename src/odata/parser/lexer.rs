//! The tokens of OData's URL expression syntax, with their positions for error messages.
use super::*;

/// OData's canonical functions this service does not implement (501 rather than 400).
pub(super) const KNOWN_FUNCTIONS: &[&str] = &[
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
pub(super) enum Tok {
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
    pub(super) fn describe(&self) -> String {
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
pub(super) type Spanned = (Tok, usize);

pub(super) struct Lexer<'a> {
    pub(super) option: &'a str,
    pub(super) chars: Vec<char>,
    pub(super) at: usize,
}

impl<'a> Lexer<'a> {
    pub(super) fn error(&self, at: usize, message: impl std::fmt::Display) -> ParseError {
        ParseError::Invalid(format!(
            "`{}` at position {}: {message}",
            self.option,
            at + 1
        ))
    }

    pub(super) fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    pub(super) fn tokens(mut self) -> Result<Vec<Spanned>, ParseError> {
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
    pub(super) fn string(&mut self) -> Result<Tok, ParseError> {
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

    pub(super) fn number_or_date(&mut self) -> Result<Tok, ParseError> {
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
    pub(super) fn date_or_time(&mut self) -> Result<Tok, ParseError> {
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

pub(super) fn lex(option: &str, text: &str) -> Result<Vec<Spanned>, ParseError> {
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
