//! The entity model as `$metadata` declares it and the options read it: properties, their
//! EDM types, navigation properties.
use super::*;

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

pub(super) const fn prop(name: &'static str, ty: PropType, nullable: bool) -> Prop {
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
