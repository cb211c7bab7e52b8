//! Limits on the shape of a query document that depth and complexity do not catch: how many
//! root fields one request may ask for, and how many aliases it may use (10,000 aliases of a
//! cheap field are cheap each, and expensive together); and, before anything recurses over the
//! request, how deeply its document and variables nest and how large its fragments expand.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::ValidationResult;
use async_graphql::{
    Name, Pos, Request, ServerError, ServerResult, Value as ConstValue, Variables,
};

use super::DEFAULT_PAGE_SIZE;
use insights_core::error::ErrorCode;

#[derive(Debug, Clone, Copy)]
pub struct ShapeLimits {
    pub max_root_fields: usize,
    pub max_aliases: usize,
    /// Whether `__schema` and `__type` may be asked for.
    pub introspection: bool,
}

impl ExtensionFactory for ShapeLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[derive(Default)]
struct Counts {
    aliases: usize,
    /// Work done walking, so a hostile document cannot make the walk itself expensive.
    visited: usize,
}

fn walk<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    counts: &mut Counts,
    stack: &mut HashSet<&'a str>,
) {
    for item in &set.items {
        counts.visited += 1;
        if counts.visited > 100_000 {
            return;
        }
        match &item.node {
            Selection::Field(field) => {
                if field.node.alias.is_some() {
                    counts.aliases += 1;
                }
                walk(doc, &field.node.selection_set.node, counts, stack);
            }
            Selection::InlineFragment(fragment) => {
                walk(doc, &fragment.node.selection_set.node, counts, stack)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if let Some(fragment) = doc.fragments.get(&spread.node.fragment_name.node) {
                    if stack.insert(name) {
                        walk(doc, &fragment.node.selection_set.node, counts, stack);
                        stack.remove(name);
                    }
                }
            }
        }
    }
}

fn root_fields(doc: &ExecutableDocument, set: &SelectionSet, stack: &mut HashSet<String>) -> usize {
    let mut n = 0;
    for item in &set.items {
        n += match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(fragment) => {
                root_fields(doc, &fragment.node.selection_set.node, stack)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.to_string();
                match doc.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) if stack.insert(name.clone()) => {
                        let inner = root_fields(doc, &fragment.node.selection_set.node, stack);
                        stack.remove(&name);
                        inner
                    }
                    _ => 0,
                }
            }
        };
    }
    n
}

/// Deepest nesting of brackets in a document, and of lists and objects in variables. The parser,
/// the validator and input coercion all recurse once per level: a request nested thousands of
/// levels deep would overflow the stack and abort the process. Legitimate requests stay far
/// below: selections nest at most `max_depth` (16), filters 16 levels (two brackets each).
pub const MAX_NESTING: usize = 64;

/// Most fields an operation may hold once its fragments are expanded (a document of a few
/// hundred bytes can spread fragments into billions of fields).
pub const MAX_EXPANDED_FIELDS: usize = 100_000;

/// How deeply a GraphQL document nests brackets: in all, and within argument values (inside
/// parentheses), ignoring strings and comments. One pass, no recursion.
fn text_nesting(text: &str) -> (usize, usize) {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut deepest_value, mut i) = (0usize, 0usize, 0usize, 0usize);
    // The depth at which the outermost open parenthesis opened.
    let mut arguments_at: Option<usize> = None;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            open @ (b'{' | b'[' | b'(') => {
                if open == b'(' && arguments_at.is_none() {
                    arguments_at = Some(depth);
                }
                depth += 1;
                deepest = deepest.max(depth);
                if let Some(at) = arguments_at {
                    deepest_value = deepest_value.max(depth - at - 1);
                }
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                if arguments_at == Some(depth) {
                    arguments_at = None;
                }
            }
            _ => {}
        }
        i += 1;
    }
    (deepest, deepest_value)
}

/// The deepest nesting of lists and objects in the variables (without recursing).
fn variables_nesting(variables: &Variables) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&ConstValue, usize)> = variables.values().map(|v| (v, 1)).collect();
    while let Some((value, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        match value {
            ConstValue::List(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            ConstValue::Object(fields) => stack.extend(fields.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    deepest
}

/// How many fields `set` holds with every fragment spread expanded; each fragment is sized
/// once. Spreads nested past [`MAX_NESTING`] count as too many.
fn expanded_fields(
    doc: &ExecutableDocument,
    set: &SelectionSet,
    depth: usize,
    sizes: &mut HashMap<Name, usize>,
    visiting: &mut HashSet<Name>,
) -> usize {
    if depth > MAX_NESTING {
        return usize::MAX;
    }
    let mut n = 0usize;
    for item in &set.items {
        let size = match &item.node {
            Selection::Field(field) => 1usize.saturating_add(expanded_fields(
                doc,
                &field.node.selection_set.node,
                depth + 1,
                sizes,
                visiting,
            )),
            Selection::InlineFragment(fragment) => expanded_fields(
                doc,
                &fragment.node.selection_set.node,
                depth + 1,
                sizes,
                visiting,
            ),
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                if let Some(size) = sizes.get(name) {
                    *size
                } else if let Some(fragment) = doc.fragments.get(name) {
                    // A cycle is the validator's to report; it adds nothing here.
                    if !visiting.insert(name.clone()) {
                        0
                    } else {
                        let size = expanded_fields(
                            doc,
                            &fragment.node.selection_set.node,
                            depth + 1,
                            sizes,
                            visiting,
                        );
                        visiting.remove(name);
                        sizes.insert(name.clone(), size);
                        size
                    }
                } else {
                    0
                }
            }
        };
        n = n.saturating_add(size);
    }
    n
}

/// Whether a root selection set asks for `__schema` or `__type` (directly or in fragments).
fn selects_introspection<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    stack: &mut Vec<&'a str>,
) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => matches!(field.node.name.node.as_str(), "__schema" | "__type"),
        Selection::InlineFragment(fragment) => {
            selects_introspection(doc, &fragment.node.selection_set.node, stack)
        }
        Selection::FragmentSpread(spread) => {
            let name = spread.node.fragment_name.node.as_str();
            match doc.fragments.get(&spread.node.fragment_name.node) {
                Some(fragment) if !stack.contains(&name) => {
                    stack.push(name);
                    let found =
                        selects_introspection(doc, &fragment.node.selection_set.node, stack);
                    stack.pop();
                    found
                }
                _ => false,
            }
        }
    })
}

fn bad_input(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", ErrorCode::BadUserInput.as_str());
    error
}

fn too_complex(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", ErrorCode::QueryTooComplex.as_str());
    error
}

#[async_trait::async_trait]
impl Extension for ShapeLimits {
    /// Checks what the parser, the validator and input coercion would otherwise recurse over
    /// without bound, before they run. The document is parsed here once, and kept for them.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let (nesting, value_nesting) = text_nesting(&request.query);
        if value_nesting > MAX_NESTING {
            return Err(bad_input(format!(
                "an argument value nests lists and objects more than {MAX_NESTING} levels deep"
            )));
        }
        if nesting > MAX_NESTING {
            return Err(too_complex(format!(
                "the document nests more than {MAX_NESTING} levels deep"
            )));
        }
        let nesting = variables_nesting(&request.variables);
        if nesting > MAX_NESTING {
            return Err(bad_input(format!(
                "the variables nest {nesting} levels deep; at most {MAX_NESTING} are allowed"
            )));
        }
        // A document that does not parse is left to the parse step, which reports it.
        if let Ok(doc) = request.parsed_query() {
            let mut sizes = HashMap::new();
            for (_, operation) in doc.operations.iter() {
                let fields = expanded_fields(
                    doc,
                    &operation.node.selection_set.node,
                    0,
                    &mut sizes,
                    &mut HashSet::new(),
                );
                if fields > MAX_EXPANDED_FIELDS {
                    return Err(too_complex(format!(
                        "the operation expands to more than {MAX_EXPANDED_FIELDS} fields \
                         (fragments spread too often or nested too deep)"
                    )));
                }
            }
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        for (_, operation) in doc.operations.iter() {
            // With introspection off, async-graphql answers `__schema` with a silent null.
            if !self.introspection
                && selects_introspection(&doc, &operation.node.selection_set.node, &mut Vec::new())
            {
                let mut error = ServerError::new(
                    "introspection is disabled on this server (`__schema` and `__type`)",
                    None,
                );
                error
                    .extensions
                    .get_or_insert_with(Default::default)
                    .set("code", ErrorCode::GraphqlValidationFailed.as_str());
                return Err(error);
            }
            let roots = root_fields(
                &doc,
                &operation.node.selection_set.node,
                &mut HashSet::new(),
            );
            if roots > self.max_root_fields {
                return Err(too_complex(format!(
                    "the operation asks for {roots} root fields; at most {} are allowed",
                    self.max_root_fields
                )));
            }
            let mut counts = Counts::default();
            walk(
                &doc,
                &operation.node.selection_set.node,
                &mut counts,
                &mut HashSet::new(),
            );
            if counts.aliases > self.max_aliases {
                return Err(too_complex(format!(
                    "the operation uses {} aliases; at most {} are allowed",
                    counts.aliases, self.max_aliases
                )));
            }
        }
        Ok(doc)
    }
}

/// The depth and complexity limits, checked against the figures async-graphql's validator
/// computes (its `ValidationResult`), so the errors can say how far over the limit a query is.
///
/// A page size above the maximum is a BAD_USER_INPUT error however large it is (API.md §3):
/// the complexity check, which counts page sizes, must not turn `first: 1000000000` into
/// QUERY_TOO_COMPLEX. When an operation is too complex and asks for such a page, the client
/// is told about the page size instead.
///
/// A connection without `first`/`last` costs the configured default page size: the validator
/// runs inside [`DEFAULT_PAGE_SIZE`]'s scope, which `page_complexity` reads.
#[derive(Debug, Clone, Copy)]
pub struct Costs {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub default_page_size: usize,
    pub max_page_size: usize,
}

impl ExtensionFactory for Costs {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostsExtension {
            limits: *self,
            oversized: Mutex::new(None),
            biggest_page: Mutex::new(None),
        })
    }
}

/// Made for each request: remembers the request's first oversized page argument, and its
/// largest page, to say where a too complex query spends.
struct CostsExtension {
    limits: Costs,
    oversized: Mutex<Option<(String, i64)>>,
    biggest_page: Mutex<Option<BiggestPage>>,
}

/// The connection field asking for the most items (an explicit `first`/`last`, or the default).
struct BiggestPage {
    field: String,
    size: usize,
    pos: Pos,
}

/// The first `first`/`last` argument (literal or variable) above `max` anywhere in `doc`.
fn oversized_page(
    doc: &ExecutableDocument,
    variables: &Variables,
    max: usize,
) -> Option<(String, i64)> {
    let mut sets: Vec<&SelectionSet> = doc
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set.node)
        .chain(doc.fragments.values().map(|f| &f.node.selection_set.node))
        .collect();
    while let Some(set) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    for (name, value) in &field.node.arguments {
                        if !matches!(name.node.as_str(), "first" | "last") {
                            continue;
                        }
                        let value = value
                            .node
                            .clone()
                            .into_const_with(|var| variables.get(&var).cloned().ok_or(()));
                        if let Ok(ConstValue::Number(n)) = value {
                            if let Some(n) = n.as_i64().filter(|n| *n > max as i64) {
                                return Some((name.node.to_string(), n));
                            }
                        }
                    }
                    sets.push(&field.node.selection_set.node);
                }
                Selection::InlineFragment(fragment) => sets.push(&fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    None
}

/// The field with the largest page in `doc`: connections are the fields that take `first`
/// and `last`, and ask for the default page without them.
fn biggest_page(
    doc: &ExecutableDocument,
    variables: &Variables,
    registry: &Registry,
    default_page_size: usize,
) -> Option<BiggestPage> {
    let mut biggest: Option<BiggestPage> = None;
    let mut sets: Vec<(&str, &SelectionSet)> = doc
        .operations
        .iter()
        .map(|(_, op)| (registry.query_type.as_str(), &op.node.selection_set.node))
        .chain(doc.fragments.values().map(|f| {
            (
                f.node.type_condition.node.on.node.as_str(),
                &f.node.selection_set.node,
            )
        }))
        .collect();
    while let Some((parent, set)) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    let Some(meta) = registry
                        .types
                        .get(parent)
                        .and_then(|t| t.field_by_name(name))
                    else {
                        continue;
                    };
                    if meta.args.contains_key("first") && meta.args.contains_key("last") {
                        let size = ["first", "last"]
                            .iter()
                            .find_map(|arg| {
                                let value = field.node.get_argument(arg)?.node.clone();
                                let value = value
                                    .into_const_with(|var| variables.get(&var).cloned().ok_or(()))
                                    .ok()?;
                                match value {
                                    ConstValue::Number(n) => n.as_u64(),
                                    _ => None,
                                }
                            })
                            .map_or(default_page_size, |n| {
                                usize::try_from(n).unwrap_or(usize::MAX)
                            });
                        if biggest.as_ref().is_none_or(|b| size > b.size) {
                            biggest = Some(BiggestPage {
                                field: name.to_string(),
                                size,
                                pos: field.pos,
                            });
                        }
                    }
                    sets.push((
                        MetaTypeName::concrete_typename(&meta.ty),
                        &field.node.selection_set.node,
                    ));
                }
                Selection::InlineFragment(fragment) => sets.push((
                    fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(parent, |c| c.node.on.node.as_str()),
                    &fragment.node.selection_set.node,
                )),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    biggest
}

#[async_trait::async_trait]
impl Extension for CostsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        *self.oversized.lock().expect("costs lock") =
            oversized_page(&doc, variables, self.limits.max_page_size);
        *self.biggest_page.lock().expect("costs lock") = biggest_page(
            &doc,
            variables,
            &ctx.schema_env.registry,
            self.limits.default_page_size,
        );
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let limits = self.limits;
        let result = DEFAULT_PAGE_SIZE
            .scope(limits.default_page_size, next.run(ctx))
            .await?;
        if result.complexity > limits.max_complexity {
            if let Some((name, n)) = self.oversized.lock().expect("costs lock").take() {
                return Err(vec![bad_input(format!(
                    "`{name}` is {n}; at most {} items can be asked for at once: page with the cursors",
                    limits.max_page_size
                ))]);
            }
            let biggest = self.biggest_page.lock().expect("costs lock").take();
            let place = biggest.as_ref().map_or(String::new(), |b| {
                format!(
                    " (the largest page: {} items of `{}` at line {}, column {})",
                    b.size, b.field, b.pos.line, b.pos.column
                )
            });
            let mut error = too_complex(format!(
                "the query is too complex: it costs {}, more than the limit of {}{place}: ask \
                 for smaller pages or fewer fields",
                result.complexity, limits.max_complexity
            ));
            if let Some(biggest) = biggest {
                error.locations.push(biggest.pos);
            }
            return Err(vec![error]);
        }
        if result.depth > limits.max_depth {
            return Err(vec![too_complex(format!(
                "the query is nested too deep: {} levels, more than the limit of {}",
                result.depth, limits.max_depth
            ))]);
        }
        Ok(result)
    }
}

/// A string literal where the schema expects an enum (`outcome: { eq: "ABANDONED" }`) is a
/// validation error in GraphQL ("Values of Correct Type"), though async-graphql's validator
/// lets it through and coerces it. Checked here over the parsed document against the schema's
/// registry: arguments, the fields of input objects, lists, and the default values of
/// variables. Variables themselves are JSON, which has no enums: there a string is right.
#[derive(Debug, Clone, Copy)]
pub struct EnumLiterals;

impl ExtensionFactory for EnumLiterals {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(EnumLiteralsExtension {
            errors: Mutex::new(Vec::new()),
        })
    }
}

/// Made for each request: the errors found while parsing, reported with validation's.
struct EnumLiteralsExtension {
    errors: Mutex<Vec<ServerError>>,
}

/// Most string-for-enum errors one request collects.
const MAX_ENUM_ERRORS: usize = 50;

struct EnumCheck<'a> {
    registry: &'a Registry,
    errors: Vec<ServerError>,
}

impl EnumCheck<'_> {
    /// Checks `value`, of GraphQL type `ty` (such as `[Outcome!]!`), at `path` (such as
    /// `filter.outcome.eq`) within `context` (such as "argument `filter` of `Query.dialogues`").
    fn value(
        &mut self,
        value: &ConstValue,
        ty: &str,
        path: &dyn Fn() -> String,
        context: &dyn Fn() -> String,
        pos: Pos,
    ) {
        if self.errors.len() >= MAX_ENUM_ERRORS {
            return;
        }
        match MetaTypeName::create(ty) {
            MetaTypeName::NonNull(inner) => self.value(value, inner, path, context, pos),
            MetaTypeName::List(inner) => match value {
                ConstValue::List(items) => {
                    for item in items {
                        self.value(item, inner, path, context, pos);
                    }
                }
                // A single value where a list is expected stands for a list of one.
                other => self.value(other, inner, path, context, pos),
            },
            MetaTypeName::Named(name) => match (self.registry.types.get(name), value) {
                (Some(MetaType::Enum { .. }), ConstValue::String(text)) => {
                    let path = path();
                    let place = if path.contains('.') {
                        format!("`{path}` in {}", context())
                    } else {
                        context()
                    };
                    let mut error = ServerError::new(
                        format!(
                            "{place} expects a value of the enum `{name}`, not the string {}: \
                             write enum values without quotes",
                            ConstValue::String(text.clone())
                        ),
                        Some(pos),
                    );
                    error
                        .extensions
                        .get_or_insert_with(Default::default)
                        .set("code", ErrorCode::GraphqlValidationFailed.as_str());
                    self.errors.push(error);
                }
                (Some(MetaType::InputObject { input_fields, .. }), ConstValue::Object(fields)) => {
                    for (key, item) in fields {
                        if let Some(field) = input_fields.get(key.as_str()) {
                            let nested = || format!("{}.{key}", path());
                            self.value(item, &field.ty, &nested, context, pos);
                        }
                    }
                }
                _ => {}
            },
        }
    }

    /// Checks the arguments in `set`, whose fields belong to the type named `parent`.
    fn selections(&mut self, set: &SelectionSet, parent: &str) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    let Some(meta) = self
                        .registry
                        .types
                        .get(parent)
                        .and_then(|t| t.field_by_name(name))
                    else {
                        // Unknown fields are the validator's to report.
                        continue;
                    };
                    for (arg, value) in &field.node.arguments {
                        if let Some(input) = meta.args.get(arg.node.as_str()) {
                            let path = || arg.node.to_string();
                            let context =
                                || format!("argument `{}` of `{parent}.{name}`", arg.node);
                            // Variables are JSON, where strings stand for enums.
                            let literal = value
                                .node
                                .clone()
                                .into_const_with(|_| Ok::<_, ()>(ConstValue::Null))
                                .unwrap_or_default();
                            self.value(&literal, &input.ty, &path, &context, value.pos);
                        }
                    }
                    self.selections(
                        &field.node.selection_set.node,
                        MetaTypeName::concrete_typename(&meta.ty),
                    );
                }
                Selection::InlineFragment(fragment) => self.selections(
                    &fragment.node.selection_set.node,
                    fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(parent, |c| c.node.on.node.as_str()),
                ),
                // Each fragment is checked once, from its definition.
                Selection::FragmentSpread(_) => {}
            }
        }
    }

    fn document(&mut self, doc: &ExecutableDocument) {
        for (_, operation) in doc.operations.iter() {
            let operation = &operation.node;
            for definition in &operation.variable_definitions {
                let definition = &definition.node;
                if let Some(default) = &definition.default_value {
                    let path = || format!("${}", definition.name.node);
                    let context = || format!("the default value of `${}`", definition.name.node);
                    self.value(
                        &default.node,
                        &definition.var_type.node.to_string(),
                        &path,
                        &context,
                        default.pos,
                    );
                }
            }
            let root = match operation.ty {
                OperationType::Query => Some(self.registry.query_type.as_str()),
                OperationType::Mutation => self.registry.mutation_type.as_deref(),
                OperationType::Subscription => self.registry.subscription_type.as_deref(),
            };
            if let Some(root) = root {
                self.selections(&operation.selection_set.node, root);
            }
        }
        for fragment in doc.fragments.values() {
            self.selections(
                &fragment.node.selection_set.node,
                fragment.node.type_condition.node.on.node.as_str(),
            );
        }
    }
}

/// The string-for-enum errors of `doc` (at most [`MAX_ENUM_ERRORS`]).
fn enum_literal_errors(doc: &ExecutableDocument, registry: &Registry) -> Vec<ServerError> {
    let mut check = EnumCheck {
        registry,
        errors: Vec::new(),
    };
    check.document(doc);
    check.errors
}

#[async_trait::async_trait]
impl Extension for EnumLiteralsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        *self.errors.lock().expect("enum literals lock") =
            enum_literal_errors(&doc, &ctx.schema_env.registry);
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let ours = std::mem::take(&mut *self.errors.lock().expect("enum literals lock"));
        match next.run(ctx).await {
            Ok(result) if ours.is_empty() => Ok(result),
            Ok(_) => Err(ours),
            Err(mut errors) => {
                errors.extend(ours);
                Err(errors)
            }
        }
    }
}

/// Puts the keys of `data` in the order the request selected its fields (GraphQL spec,
/// "Serialized Map Ordering"). async-graphql 7.2 resolves a query's fields concurrently and
/// inserts each one as it completes, so a slow `totalCount` can end up after `nodes`.
#[derive(Debug, Clone, Copy)]
pub struct ResponseOrder;

impl ExtensionFactory for ResponseOrder {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ResponseOrderExtension {
            doc: Mutex::new(None),
        })
    }
}

/// Made for each request: the document, kept from parsing until the response is ordered.
struct ResponseOrderExtension {
    doc: Mutex<Option<ExecutableDocument>>,
}

/// The response keys of a selection, in order, each with the keys of its own selection.
#[derive(Default)]
struct KeyOrder(Vec<(Name, KeyOrder)>);

impl KeyOrder {
    /// The order of the fields of `sets`, merged (CollectFields: fragments are expanded in
    /// place, and a response key stays where it first appears).
    fn of(doc: &ExecutableDocument, sets: &[&SelectionSet]) -> Self {
        fn collect<'a>(
            doc: &'a ExecutableDocument,
            set: &'a SelectionSet,
            keys: &mut Vec<(&'a Name, Vec<&'a SelectionSet>)>,
            visiting: &mut Vec<&'a Name>,
        ) {
            for item in &set.items {
                match &item.node {
                    Selection::Field(field) => {
                        let key = field.node.response_key();
                        let inner = &field.node.selection_set.node;
                        match keys.iter_mut().find(|(k, _)| *k == &key.node) {
                            Some((_, sets)) => sets.push(inner),
                            None => keys.push((&key.node, vec![inner])),
                        }
                    }
                    Selection::InlineFragment(fragment) => {
                        collect(doc, &fragment.node.selection_set.node, keys, visiting)
                    }
                    Selection::FragmentSpread(spread) => {
                        let name = &spread.node.fragment_name.node;
                        if let Some(fragment) = doc.fragments.get(name) {
                            if !visiting.contains(&name) {
                                visiting.push(name);
                                collect(doc, &fragment.node.selection_set.node, keys, visiting);
                                visiting.pop();
                            }
                        }
                    }
                }
            }
        }
        let mut keys = Vec::new();
        for set in sets {
            collect(doc, set, &mut keys, &mut Vec::new());
        }
        KeyOrder(
            keys.into_iter()
                .map(|(key, sets)| {
                    let inner = if sets.iter().all(|s| s.items.is_empty()) {
                        KeyOrder::default()
                    } else {
                        KeyOrder::of(doc, &sets)
                    };
                    (key.clone(), inner)
                })
                .collect(),
        )
    }

    fn apply(&self, value: &mut ConstValue) {
        if self.0.is_empty() {
            return;
        }
        match value {
            ConstValue::Object(fields) if !self.0.is_empty() => {
                // Most objects (a page's rows, which are resolved in one pass) are in order
                // already: then only what they hold needs a look.
                let in_order = fields.len() == self.0.len()
                    && fields
                        .keys()
                        .zip(&self.0)
                        .all(|(key, (wanted, _))| key == wanted);
                if in_order {
                    for ((_, inner), item) in self.0.iter().zip(fields.values_mut()) {
                        inner.apply(item);
                    }
                    return;
                }
                let mut ordered = async_graphql::indexmap::IndexMap::with_capacity(fields.len());
                for (key, inner) in &self.0 {
                    if let Some(mut item) = fields.shift_remove(key) {
                        inner.apply(&mut item);
                        ordered.insert(key.clone(), item);
                    }
                }
                // Anything the selection does not name keeps its place after the rest.
                ordered.extend(fields.drain(..));
                *fields = ordered;
            }
            ConstValue::List(items) => items.iter_mut().for_each(|item| self.apply(item)),
            _ => {}
        }
    }
}

#[async_trait::async_trait]
impl Extension for ResponseOrderExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        *self.doc.lock().expect("response order lock") = Some(doc.clone());
        Ok(doc)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        let mut response = next.run(ctx, operation_name).await;
        let doc = self.doc.lock().expect("response order lock").take();
        if let Some(doc) = doc {
            let operation = doc
                .operations
                .iter()
                .find(|(name, _)| {
                    operation_name.is_none() || name.map(Name::as_str) == operation_name
                })
                .map(|(_, operation)| &operation.node.selection_set.node);
            if let Some(set) = operation {
                KeyOrder::of(&doc, &[set]).apply(&mut response.data);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::text_nesting;

    #[test]
    fn nesting_counts_brackets_outside_strings_and_comments() {
        assert_eq!(text_nesting("{ a { b } }"), (2, 0));
        assert_eq!(text_nesting("{ a(f: { x: [1, [2]] }) { b } }"), (5, 3));
        assert_eq!(text_nesting(r#"{ a(s: "{{{[[[((") }"#), (2, 0));
        assert_eq!(text_nesting(r#"{ a(s: "\"{{{") }"#), (2, 0));
        assert_eq!(
            text_nesting("{ a(s: \"\"\"{{{ \\\"\"\" [[[\"\"\") }"),
            (2, 0)
        );
        assert_eq!(text_nesting("# {{{{{{\n{ a }"), (1, 0));
        let deep = format!("{{ a(f: {}1{}) }}", "[".repeat(100), "]".repeat(100));
        assert!(text_nesting(&deep).1 > 64);
        let deep = format!("{}{}", "{ a ".repeat(100), "}".repeat(100));
        assert!(text_nesting(&deep).0 > 64);
    }
}
