//! `$metadata`: the CSDL XML of the entity model.
use std::fmt::Write as _;

use super::intervals;
use super::parser::{Prop, DIALOGUE_PROPS, ENDPOINT_PROPS, NAVIGATION};

/// `$metadata`: the CSDL (OData 4.0) of the three entity types, their sets and the navigation
/// properties from Dialogue and QueueInterval to Endpoint.
pub fn metadata() -> String {
    let property = |p: &Prop| {
        format!(
            r#"        <Property Name="{}" Type="{}" Nullable="{}"/>
"#,
            p.name,
            p.ty.edm(),
            p.nullable
        )
    };
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="Insights" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="Dialogue">
        <Key><PropertyRef Name="id"/></Key>
"#,
    );
    for p in &DIALOGUE_PROPS {
        xml.push_str(&property(p));
    }
    for (name, _) in NAVIGATION {
        let _ = writeln!(
            xml,
            r#"        <NavigationProperty Name="{name}" Type="Insights.Endpoint" Nullable="true"/>"#
        );
    }
    xml.push_str(
        r#"      </EntityType>
      <EntityType Name="Endpoint">
        <Key><PropertyRef Name="id"/></Key>
"#,
    );
    for p in &ENDPOINT_PROPS {
        xml.push_str(&property(p));
    }
    xml.push_str(
        r#"      </EntityType>
      <EntityType Name="QueueInterval">
        <Key><PropertyRef Name="intervalStart"/><PropertyRef Name="queueId"/></Key>
"#,
    );
    for p in &intervals::PROPS {
        xml.push_str(&property(p));
    }
    xml.push_str(
        r#"        <NavigationProperty Name="queue" Type="Insights.Endpoint" Nullable="false"/>
      </EntityType>
      <EntityContainer Name="Container">
        <EntitySet Name="Dialogues" EntityType="Insights.Dialogue">
"#,
    );
    for (name, _) in NAVIGATION {
        let _ = writeln!(
            xml,
            r#"          <NavigationPropertyBinding Path="{name}" Target="Endpoints"/>"#
        );
    }
    xml.push_str(
        r#"        </EntitySet>
        <EntitySet Name="Endpoints" EntityType="Insights.Endpoint"/>
        <EntitySet Name="QueueIntervals" EntityType="Insights.QueueInterval">
          <NavigationPropertyBinding Path="queue" Target="Endpoints"/>
        </EntitySet>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
"#,
    );
    xml
}

#[cfg(test)]
mod tests {
    use super::super::parser::{find_prop, PropType};
    use super::*;

    #[test]
    pub(super) fn the_metadata_declares_the_vendor_names_and_types() {
        let xml = metadata();
        assert!(xml.contains(r#"<Property Name="startDate" Type="Edm.Date" Nullable="false"/>"#));
        assert!(xml.contains(r#"<Property Name="InSLA" Type="Edm.String" Nullable="true"/>"#));
        assert!(xml.contains(r#"<NavigationProperty Name="agent" Type="Insights.Endpoint""#));
        assert_eq!(find_prop(&DIALOGUE_PROPS, "OUTCOME"), Some(15));
        assert_eq!(PropType::Direction.edm(), "Edm.Int32");
    }
}
