//! What the cost model knows of the schema: each field's return type, whether it is a list or
//! paged, a known length, and whether it ranks (read once from the SDL).

use async_graphql::parser::types::{
    BaseType, FieldDefinition, OperationType, Type, TypeKind, TypeSystemDefinition,
};
use std::collections::HashMap;

/// What the cost model needs to know about one field of an object or interface type.
#[derive(Debug, Clone)]
pub(super) struct FieldInfo {
    /// The named return type, without list and non-null wrappers.
    pub(super) ty: String,
    /// Whether the return type is a list (at any level).
    pub(super) list: bool,
    /// Whether the field takes a `first` argument.
    pub(super) paged: bool,
    /// A per-field multiplier overriding `unpaged_list_cap`.
    pub(super) cap: Option<u64>,
    /// The field ranks many rows or calls a model (`with_ranking`): counted apart.
    pub(super) ranking: bool,
}

/// Field return types of the schema, built once from its SDL.
#[derive(Debug, Clone)]
pub struct TypeInfo {
    types: HashMap<String, HashMap<String, FieldInfo>>,
    query: String,
    mutation: String,
    subscription: String,
}

impl TypeInfo {
    /// Parses the SDL (async_graphql::parser::parse_schema) and records, for every
    /// object/interface type, each field's named return type, whether it is a list, and whether
    /// it takes a `first` argument. Root types: Query, Mutation, Subscription (read
    /// `schema { ... }` if present; otherwise those defaults).
    pub fn from_sdl(sdl: &str) -> anyhow::Result<TypeInfo> {
        let doc = async_graphql::parser::parse_schema(sdl)?;
        let mut info = TypeInfo {
            types: HashMap::new(),
            query: "Query".to_owned(),
            mutation: "Mutation".to_owned(),
            subscription: "Subscription".to_owned(),
        };
        for definition in &doc.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    let schema = &schema.node;
                    if let Some(name) = &schema.query {
                        info.query = name.node.to_string();
                    }
                    if let Some(name) = &schema.mutation {
                        info.mutation = name.node.to_string();
                    }
                    if let Some(name) = &schema.subscription {
                        info.subscription = name.node.to_string();
                    }
                }
                TypeSystemDefinition::Type(ty) => {
                    let fields = match &ty.node.kind {
                        TypeKind::Object(object) => &object.fields,
                        TypeKind::Interface(interface) => &interface.fields,
                        _ => continue,
                    };
                    // `extend type` adds to the fields already recorded.
                    let entry = info.types.entry(ty.node.name.node.to_string()).or_default();
                    for field in fields {
                        entry.insert(field.node.name.node.to_string(), field_info(&field.node));
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        Ok(info)
    }

    /// Overrides the multiplier of an unpaged list field, e.g. ("TalentGroup", "members", 50).
    /// A field the SDL does not have is ignored (with a warning in the log).
    #[must_use]
    pub fn with_list_cap(mut self, type_name: &str, field: &str, cap: u64) -> TypeInfo {
        match self
            .types
            .get_mut(type_name)
            .and_then(|fields| fields.get_mut(field))
        {
            Some(info) => info.cap = Some(cap),
            None => tracing::warn!(
                type_name,
                field,
                "list cap for a field the schema does not have"
            ),
        }
        self
    }

    /// Marks a field that ranks many rows or calls a model (`discoverFeed`, `searchTalents`):
    /// each time it would run counts towards `Analysis::ranking_fields`.
    #[must_use]
    pub fn with_ranking(mut self, type_name: &str, field: &str) -> TypeInfo {
        match self
            .types
            .get_mut(type_name)
            .and_then(|fields| fields.get_mut(field))
        {
            Some(info) => info.ranking = true,
            None => tracing::warn!(
                type_name,
                field,
                "ranking mark for a field the schema does not have"
            ),
        }
        self
    }

    pub(super) fn field(&self, type_name: &str, field: &str) -> Option<&FieldInfo> {
        self.types.get(type_name)?.get(field)
    }

    pub(super) fn root(&self, ty: OperationType) -> &str {
        match ty {
            OperationType::Query => &self.query,
            OperationType::Mutation => &self.mutation,
            OperationType::Subscription => &self.subscription,
        }
    }
}

fn field_info(field: &FieldDefinition) -> FieldInfo {
    let mut ty: &Type = &field.ty.node;
    let mut list = false;
    let name = loop {
        match &ty.base {
            BaseType::Named(name) => break name,
            BaseType::List(inner) => {
                list = true;
                ty = inner;
            }
        }
    };
    FieldInfo {
        ty: name.to_string(),
        list,
        paged: field
            .arguments
            .iter()
            .any(|arg| arg.node.name.node == "first"),
        cap: None,
        ranking: false,
    }
}
