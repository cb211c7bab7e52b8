//! Puts the keys of `data` in the order the request selected its fields (GraphQL spec,
//! "Serialized Map Ordering"). async-graphql 7.2 resolves a query's fields concurrently and
//! inserts each one as it completes, so a slow `totalCount` can end up after `nodes`.
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Value as ConstValue};

/// Orders `data`, the answer of the operation `operation_name` of `doc` (the first one when
/// no name is given, as the library picks it).
pub(super) fn order(doc: &ExecutableDocument, operation_name: Option<&str>, data: &mut ConstValue) {
    if matches!(data, ConstValue::Null) {
        return;
    }
    let operation = doc
        .operations
        .iter()
        .find(|(name, _)| operation_name.is_none() || name.map(Name::as_str) == operation_name)
        .map(|(_, operation)| &operation.node.selection_set.node);
    if let Some(set) = operation {
        KeyOrder::of(doc, &[set]).apply(data);
    }
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
