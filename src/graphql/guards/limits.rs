//! Limits on the shape of a query document that depth and complexity do not catch: how many
//! root fields one request may ask for, and how many aliases it may use (10,000 aliases of a
//! cheap field are cheap each, and expensive together), and whether it may introspect; and,
//! before anything recurses over the request, how deeply its document and variables nest and how
//! large its fragments expand.
use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, ServerError, Value as ConstValue, Variables};

use crate::graphql::Guards;
use insights_core::error::ErrorCode;

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

/// Stack of each thread that executes requests. Coercing a filter into its input type recurses
/// once per level with a large frame (about 80 KB per `or` level in a debug build, far less in
/// release); [`MAX_NESTING`] bounds the levels, and this bounds what they may take, with room
/// for the rest of the request. The default 2 MiB was not enough for a debug build.
pub const WORKER_STACK_BYTES: usize = 8 << 20;

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

pub(super) fn bad_input(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", ErrorCode::BadUserInput.as_str());
    error
}

pub(super) fn too_complex(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", ErrorCode::QueryTooComplex.as_str());
    error
}

/// What the parser, the validator and input coercion would otherwise recurse over without
/// bound, checked on the text before any of them runs.
pub(super) fn nesting(query: &str, variables: &Variables) -> Result<(), ServerError> {
    let (nesting, value_nesting) = text_nesting(query);
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
    let nesting = variables_nesting(variables);
    if nesting > MAX_NESTING {
        return Err(bad_input(format!(
            "the variables nest {nesting} levels deep; at most {MAX_NESTING} are allowed"
        )));
    }
    Ok(())
}

/// How large each operation of `doc` grows once its fragments are expanded.
pub(super) fn expansion(doc: &ExecutableDocument) -> Result<(), ServerError> {
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
    Ok(())
}

/// The introspection switch, and the root fields and aliases of each operation of `doc`.
pub(super) fn operations(doc: &ExecutableDocument, guards: &Guards) -> Result<(), ServerError> {
    for (_, operation) in doc.operations.iter() {
        // With introspection off, async-graphql answers `__schema` with a silent null.
        if !guards.introspection
            && selects_introspection(doc, &operation.node.selection_set.node, &mut Vec::new())
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
        let roots = root_fields(doc, &operation.node.selection_set.node, &mut HashSet::new());
        if roots > guards.max_root_fields {
            return Err(too_complex(format!(
                "the operation asks for {roots} root fields; at most {} are allowed",
                guards.max_root_fields
            )));
        }
        let mut counts = Counts::default();
        walk(
            doc,
            &operation.node.selection_set.node,
            &mut counts,
            &mut HashSet::new(),
        );
        if counts.aliases > guards.max_aliases {
            return Err(too_complex(format!(
                "the operation uses {} aliases; at most {} are allowed",
                counts.aliases, guards.max_aliases
            )));
        }
    }
    Ok(())
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
