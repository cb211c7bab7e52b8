//! `$filter`: the expression parser, into the query core's filter tree.
use super::*;

pub(super) struct Parser<'a, F> {
    pub(super) option: &'static str,
    pub(super) toks: Vec<Spanned>,
    pub(super) at: usize,
    pub(super) props: &'a [Prop],
    pub(super) fields: &'a [Option<F>],
    pub(super) depth: usize,
}

impl<F: Copy> Parser<'_, F> {
    pub(super) fn peek(&self) -> &Tok {
        &self.toks[self.at.min(self.toks.len() - 1)].0
    }

    pub(super) fn position(&self) -> usize {
        self.toks[self.at.min(self.toks.len() - 1)].1
    }

    pub(super) fn next(&mut self) -> Spanned {
        let t = self.toks[self.at.min(self.toks.len() - 1)].clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        t
    }

    pub(super) fn invalid_at(
        &self,
        position: usize,
        message: impl std::fmt::Display,
    ) -> ParseError {
        ParseError::Invalid(format!(
            "`{}` at position {position}: {message}",
            self.option
        ))
    }

    pub(super) fn unsupported_at(
        &self,
        position: usize,
        message: impl std::fmt::Display,
    ) -> ParseError {
        ParseError::Unsupported(format!(
            "`{}` at position {position}: {message} is not supported",
            self.option
        ))
    }

    pub(super) fn expected(&self, what: &str) -> ParseError {
        self.invalid_at(
            self.position(),
            format!("expected {what}, found {}", self.peek().describe()),
        )
    }

    pub(super) fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == word)
    }

    pub(super) fn eat_keyword(&mut self, word: &str) -> bool {
        let found = self.keyword(word);
        if found {
            self.next();
        }
        found
    }

    pub(super) fn expect(&mut self, tok: Tok, what: &str) -> Result<(), ParseError> {
        if *self.peek() == tok {
            self.next();
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    pub(super) fn deeper(&mut self) -> Result<(), ParseError> {
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
    pub(super) fn or_expr(&mut self) -> Result<Filter<F>, ParseError> {
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
    pub(super) fn and_expr(&mut self) -> Result<Filter<F>, ParseError> {
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
    pub(super) fn unary(&mut self) -> Result<Filter<F>, ParseError> {
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
    pub(super) fn comparison(&mut self) -> Result<Filter<F>, ParseError> {
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
    pub(super) fn boolean_comparison(&mut self, value: Filter<F>) -> Result<Filter<F>, ParseError> {
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

    pub(super) fn property(
        &mut self,
        name: &str,
        position: usize,
    ) -> Result<(usize, F), ParseError> {
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

    pub(super) fn predicate(&mut self, index: usize, field: F) -> Result<Filter<F>, ParseError> {
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
    pub(super) fn operand(
        &self,
        prop: Prop,
        literal: Tok,
        position: usize,
    ) -> Result<Operand, ParseError> {
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
    pub(super) fn function(
        &mut self,
        name: &str,
        position: usize,
    ) -> Result<Filter<F>, ParseError> {
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
